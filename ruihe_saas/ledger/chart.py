"""The chart of accounts every tenant starts from: a Chinese property company's accounts,
with the ``role`` automatic postings look them up by. Finance may add more accounts."""

from __future__ import annotations

from ruihe_saas.ledger.models import AccountType

A, L, E, I, X = (  # noqa: E741
    AccountType.ASSET,
    AccountType.LIABILITY,
    AccountType.EQUITY,
    AccountType.INCOME,
    AccountType.EXPENSE,
)

# (code, name, type, role)
TEMPLATE: list[tuple[str, str, AccountType, str]] = [
    ("1001", "库存现金", A, "cash"),
    ("1002", "银行存款", A, "bank"),
    ("1012", "Stripe 待清算", A, "stripe_clearing"),
    ("1122", "应收物业费", A, "receivable"),
    ("1221", "内部往来", A, "inter_entity"),
    ("2203", "预收物业费", L, "prepaid"),
    ("2241", "改造基金", L, "improvement_fund"),
    ("3104", "留存收益", E, "retained_earnings"),
    ("5001", "物业服务收入", I, "property_income"),
    ("5002", "代管服务收入", I, "caretaking_income"),
    ("5051", "公共收益", I, "public_revenue"),
    ("5101", "食堂收入", I, "canteen_income"),
    ("5301", "其他收入", I, "other_income"),
    ("6401", "人工", X, "wages"),
    ("6402", "保洁", X, "cleaning"),
    ("6403", "绿化", X, "greening"),
    ("6404", "维修", X, "repairs"),
    ("6405", "能耗", X, "energy"),
    ("6406", "楼栋长激励", X, "building_leader_incentives"),
    ("6603", "支付手续费", X, "payment_fees"),
]
