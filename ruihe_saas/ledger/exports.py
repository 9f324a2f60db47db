"""The finance reports as data for the API, the pages and the CSV/XLSX files.

``ReportQuery`` resolves the filters every report shares (``from``, ``to``, ``as_of``,
``estate_id``: an estate id, ``collective`` for the collective economy, or none: every
entity — consolidated); ``*_data`` turn a report of ``ledger.reports`` into plain dicts
(money as ``Decimal``) and ``*_tables`` into the ``Table``s of ``arrears.exports`` (CSV UTF-8
with a BOM, XLSX by openpyxl, Chinese headers; the writers are reused from there).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ruihe_saas.arrears.exports import CSV_MIMETYPE, XLSX_MIMETYPE, Table, file_response
from ruihe_saas.errors import NotFound, ValidationFailed
from ruihe_saas.estates.models import Estate
from ruihe_saas.extensions import db
from ruihe_saas.handover.services import local_today
from ruihe_saas.ledger import reconciliation, reports
from ruihe_saas.ledger.models import AccountType
from ruihe_saas.ledger.reports import ALL
from ruihe_saas.tenancy.context import current_estate_scope
from ruihe_saas.tenancy.lookup import get_owned

__all__ = ["CSV_MIMETYPE", "XLSX_MIMETYPE", "FORMATS", "file_response"]

ZERO = Decimal("0.00")
COLLECTIVE = "collective"
COLLECTIVE_NAME = "社区集体经济"
FORMATS = ("csv", "xlsx")
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)
MAX_DAYS = 366 * 10
TYPE_LABELS = {
    AccountType.ASSET: "资产",
    AccountType.LIABILITY: "负债",
    AccountType.EQUITY: "权益",
    AccountType.INCOME: "收入",
    AccountType.EXPENSE: "费用",
}


def _invalid(fields: dict) -> ValidationFailed:
    return ValidationFailed(_l("The report has invalid filters."), fields=fields)


def filter_day(value, name: str) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise _invalid({name: [_l("Use a date like 2024-07-31.")]}) from None
    if not isinstance(value, date) or not EARLIEST <= value <= LATEST:
        raise _invalid({name: [_l("Use a date between 2000 and 2100.")]})
    return value


def entity_of(value):
    """``ALL`` (none given), None (the collective economy) or an estate id; an unknown or
    out-of-scope estate, or the collective economy for an estate admin: 404."""
    if value in (None, ""):
        return ALL
    if isinstance(value, uuid.UUID):
        estate_id = value
    elif value == COLLECTIVE:
        if current_estate_scope() is not None:
            raise NotFound(_l("Estate not found."))
        return None
    else:
        try:
            estate_id = uuid.UUID(str(value))
        except ValueError:
            raise _invalid({"estate_id": [_l("Use an estate id or “collective”.")]}) from None
    if get_owned(Estate, estate_id) is None:
        raise NotFound(_l("Estate not found."))
    return estate_id


def estates() -> list[Estate]:
    """The estates in scope, by code."""
    return list(db.session.scalars(select(Estate).order_by(Estate.code)))


def entity_names() -> dict:
    names: dict = {estate.id: estate.name for estate in estates()}
    names[None] = COLLECTIVE_NAME
    return names


@dataclass
class ReportQuery:
    start: date
    end: date
    entity: object  # ALL, None (collective) or an estate id

    @property
    def estate_param(self) -> str | None:
        if self.entity is ALL:
            return None
        return COLLECTIVE if self.entity is None else str(self.entity)

    @property
    def label(self) -> str:
        if self.entity is ALL:
            return "合并"
        return entity_names().get(self.entity, "")


def report_query(args: dict, *, need_estate: bool = False) -> ReportQuery:
    """``from`` (default: 1 January of ``to``'s year), ``to`` (default: today), ``estate_id``."""
    end = filter_day(args.get("last", args.get("to")), "to") or local_today()
    start = filter_day(args.get("first", args.get("from")), "from") or date(end.year, 1, 1)
    if start > end:
        raise _invalid({"from": [_l("The start is after the end.")]})
    if (end - start).days > MAX_DAYS:
        raise _invalid({"from": [_l("At most 10 years at once.")]})
    entity = entity_of(args.get("estate_id"))
    if need_estate and (entity is ALL or entity is None):
        raise _invalid({"estate_id": [_l("Choose an estate.")]})
    return ReportQuery(start, end, entity)


def as_of_query(args: dict) -> ReportQuery:
    as_of = filter_day(args.get("as_of"), "as_of") or local_today()
    return ReportQuery(as_of, as_of, entity_of(args.get("estate_id")))


def _account(account) -> dict:
    return {
        "account_id": account.id,
        "code": account.code,
        "name": account.name,
        "type": account.type.value,
    }


# --- trial balance -------------------------------------------------------------------------


def trial_balance_data(query: ReportQuery) -> dict:
    report = reports.trial_balance(query.start, query.end, query.entity)
    return {
        "from": query.start,
        "to": query.end,
        "estate_id": query.estate_param,
        "entity": query.label,
        "rows": [
            {
                **_account(row.account),
                "opening": row.opening,
                "debits": row.debits,
                "credits": row.credits,
                "closing": row.closing,
            }
            for row in report.rows
        ],
        "debits": report.debits,
        "credits": report.credits,
        "closing": report.closing,
    }


def trial_balance_tables(data: dict) -> list[Table]:
    def rows():
        for row in data["rows"]:
            yield [
                row["code"],
                row["name"],
                TYPE_LABELS[AccountType(row["type"])],
                row["opening"],
                row["debits"],
                row["credits"],
                row["closing"],
            ]
        yield ["", "合计", "", "", data["debits"], data["credits"], data["closing"]]

    headers = ["科目编码", "科目名称", "类别", "期初余额(借正)", "本期借方", "本期贷方",
               "期末余额(借正)"]  # fmt: skip
    return [Table(f"试算平衡表 {data['entity']}", headers, rows)]


# --- income statement ----------------------------------------------------------------------


def income_statement_data(query: ReportQuery) -> dict:
    report = reports.income_statement(query.start, query.end, query.entity)
    names = entity_names()
    consolidated = query.entity is ALL and current_estate_scope() is None
    if not consolidated:  # an estate admin's estates: their counterparts are not in view
        for item in (*report.income, *report.expenses):
            item.elimination = ZERO

    def line(item) -> dict:
        return {
            **_account(item.account),
            "by_entity": [item.by_entity.get(e, ZERO) for e in report.entities],
            "elimination": item.elimination,
            "total": item.total,
        }

    return {
        "from": query.start,
        "to": query.end,
        "estate_id": query.estate_param,
        "entity": query.label,
        "consolidated": consolidated,
        "entities": [
            {
                "estate_id": e,
                "name": names.get(e, ""),
                "income": report.total_income(e),
                "expenses": report.total_expenses(e),
                "net_income": report.net_income(e),
            }
            for e in report.entities
        ],
        "income_lines": [line(item) for item in report.income],
        "expense_lines": [line(item) for item in report.expenses],
        "income_eliminations": sum((i.elimination for i in report.income), ZERO),
        "expense_eliminations": sum((i.elimination for i in report.expenses), ZERO),
        "eliminations": report.eliminations,
        "income": report.total_income(),
        "expenses": report.total_expenses(),
        "net_income": report.net_income(),
    }


def income_statement_tables(data: dict) -> list[Table]:
    entity_headers = [e["name"] for e in data["entities"]]

    def section(title, lines, totals_key, elimination):
        yield [title, "", *["" for _ in entity_headers], "", ""]
        for item in lines:
            yield [item["code"], item["name"], *item["by_entity"], item["elimination"],
                   item["total"]]  # fmt: skip
        yield ["", f"{title}合计", *[e[totals_key] for e in data["entities"]], elimination,
               data[totals_key]]  # fmt: skip

    def rows():
        yield from section("收入", data["income_lines"], "income", data["income_eliminations"])
        yield from section("支出", data["expense_lines"], "expenses", data["expense_eliminations"])
        yield ["", "净收益", *[e["net_income"] for e in data["entities"]], data["eliminations"],
               data["net_income"]]  # fmt: skip

    headers = ["科目编码", "科目名称", *entity_headers, "抵销", "合并" if data["consolidated"]
               else "合计"]  # fmt: skip
    return [Table(f"收支表 {data['entity']}", headers, rows)]


# --- balance sheet -------------------------------------------------------------------------


def balance_sheet_data(query: ReportQuery) -> dict:
    sheet = reports.balance_sheet(query.end, query.entity)

    def side(items: dict) -> list[dict]:
        ordered = sorted(items.items(), key=lambda pair: pair[0].code)
        return [{**_account(account), "balance": balance} for account, balance in ordered]

    return {
        "as_of": query.end,
        "estate_id": query.estate_param,
        "entity": query.label,
        "assets": side(sheet.assets),
        "liabilities": side(sheet.liabilities),
        "equity": side(sheet.equity),
        "current_earnings": sheet.current_earnings,
        "total_assets": sheet.total_assets,
        "total_liabilities": sum(sheet.liabilities.values(), ZERO),
        "total_equity": sum(sheet.equity.values(), ZERO) + sheet.current_earnings,
        "total_liabilities_and_equity": sheet.total_liabilities_and_equity,
    }


def balance_sheet_tables(data: dict) -> list[Table]:
    def rows():
        for key, title in (("assets", "资产"), ("liabilities", "负债"), ("equity", "权益")):
            for item in data[key]:
                yield [title, item["code"], item["name"], item["balance"]]
            if key == "equity":
                yield [title, "", "本期损益(未结转)", data["current_earnings"]]
        yield ["", "", "资产合计", data["total_assets"]]
        yield ["", "", "负债和权益合计", data["total_liabilities_and_equity"]]

    return [
        Table(
            f"资产负债表 {data['entity']} {data['as_of'].isoformat()}",
            ["类别", "科目编码", "科目名称", "余额"],
            rows,
        )
    ]


# --- improvement fund and public revenue ---------------------------------------------------


def statement_data(kind: str, query: ReportQuery) -> dict:
    build = reports.improvement_fund if kind == "improvement_fund" else reports.public_revenue
    statement = build(query.entity, query.start, query.end)
    return {
        "kind": kind,
        "from": query.start,
        "to": query.end,
        "estate_id": query.estate_param,
        "entity": query.label,
        "account": _account(statement.account) if statement.account else None,
        "opening": statement.opening,
        "total_in": statement.total_in,
        "total_out": statement.total_out,
        "closing": statement.closing,
        "months": [
            {"period": period, "amount_in": values[0], "amount_out": values[1]}
            for period, values in sorted(statement.by_month.items())
        ],
        "movements": [
            {
                "entry_date": m.entry_date,
                "number": m.number,
                "memo": m.memo,
                "amount_in": m.amount_in,
                "amount_out": m.amount_out,
            }
            for m in statement.movements
        ],
    }


def statement_tables(data: dict) -> list[Table]:
    fund = data["kind"] == "improvement_fund"
    title = "改造基金收支表" if fund else "公共收益收支公示"
    in_header, out_header = ("转入(结余)", "支出(改造项目)") if fund else ("收入", "支出")

    def rows():
        balance = data["opening"]
        yield [data["from"], "", "期初余额", "", "", balance]
        for m in data["movements"]:
            balance = balance + m["amount_in"] - m["amount_out"]
            yield [m["entry_date"], m["number"], m["memo"], m["amount_in"], m["amount_out"],
                   balance]  # fmt: skip
        yield [data["to"], "", "期末余额", data["total_in"], data["total_out"], data["closing"]]

    def month_rows():
        for month in data["months"]:
            yield [month["period"], month["amount_in"], month["amount_out"]]

    return [
        Table(
            f"{title} {data['entity']}",
            ["日期", "凭证号", "摘要", in_header, out_header, "余额"],
            rows,
        ),  # fmt: skip
        Table("按月汇总", ["月份", in_header, out_header], month_rows),
    ]


# --- receivables reconciled to the ledger --------------------------------------------------

RECEIVABLE_FIELDS = ("arrears", "not_due", "outstanding", "receivable", "receivable_difference")
PREPAID_FIELDS = ("prepaid_credit", "prepaid", "prepaid_difference")


def receivables_data(args: dict) -> dict:
    """Per estate: the outstanding bills (in arrears, not yet due) and the prepaid credit
    against the ledger's 应收 and 预收, now (``estate_id``: one estate, or every estate)."""
    entity = entity_of(args.get("estate_id"))
    rows = reconciliation.receivables(entity)
    fields = RECEIVABLE_FIELDS + PREPAID_FIELDS
    estates = [
        {
            "estate_id": row.estate.id,
            "code": row.estate.code,
            "name": row.estate.name,
            **{name: getattr(row, name) for name in fields},
        }
        for row in rows
    ]
    query = ReportQuery(local_today(), local_today(), entity)
    return {
        "as_of": query.end,
        "estate_id": query.estate_param,
        "entity": "全部小区" if entity is ALL else query.label,
        "estates": estates,
        "totals": {name: sum((e[name] for e in estates), ZERO) for name in fields},
        "reconciled": reconciliation.is_reconciled(rows),
    }


def receivables_tables(data: dict) -> list[Table]:
    fields = RECEIVABLE_FIELDS + PREPAID_FIELDS

    def rows():
        for estate in data["estates"]:
            yield [estate["code"], estate["name"], *(estate[name] for name in fields)]
        yield ["", "合计", *(data["totals"][name] for name in fields)]

    headers = ["小区编码", "小区", "逾期欠费", "未到期应收", "账单未收合计", "账面应收", "应收差额"]
    headers += ["预收款(记录)", "账面预收", "预收差额"]
    return [Table(f"应收预收对账 {data['as_of'].isoformat()}", headers, rows)]


def download(tables: list[Table], name: str, fmt: str):
    """The file response (``fmt`` csv or xlsx) named ``name``."""
    if fmt not in FORMATS:
        raise _invalid({"format": [_l("Use csv or xlsx.")]})
    return file_response(tables, name, fmt)
