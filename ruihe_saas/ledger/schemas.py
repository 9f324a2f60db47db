"""Marshmallow schemas of the ledger API: report filters and reports, periods, accounts,
journal entries. Money travels as decimal strings ("1234.50"). Filters are loaded as plain
strings and checked by the services (``exports.report_query``, ``entries``), which answer
422 with field messages."""

from __future__ import annotations

import marshmallow as ma

from ruihe_saas.ledger.models import AccountType, EntrySource
from ruihe_saas.web.pagination import PageArgs

DAY = {"type": "string", "format": "date", "example": "2024-07-31"}
ENTITY = {
    "description": "An estate id, `collective` (the collective economy, 社区集体经济), or none: "
    "every entity (consolidated; an estate admin: their estates).",
}


def money(description: str = "", **kwargs) -> ma.fields.Decimal:
    metadata = {"type": "string", "format": "decimal", "example": "1234.50"}
    if description:
        metadata["description"] = description
    return ma.fields.Decimal(as_string=True, places=2, metadata=metadata, **kwargs)


def _text(limit: int, **metadata) -> ma.fields.String:
    return ma.fields.String(
        load_default=None, validate=ma.validate.Length(max=limit), metadata=metadata
    )


FORMAT = ma.fields.String(
    load_default=None,
    validate=ma.validate.OneOf(["json", "csv", "xlsx"]),
    metadata={"description": "json (default), csv (UTF-8 with BOM) or xlsx."},
)


# --- report filters ------------------------------------------------------------------------


class ReportRangeArgs(ma.Schema):
    first = _text(20, **DAY, description="Default: 1 January of `to`'s year.")
    first.data_key = "from"
    last = _text(20, **DAY, description="Default: today.")
    last.data_key = "to"
    estate_id = _text(40, **ENTITY)
    format = FORMAT


class ReportAsOfArgs(ma.Schema):
    as_of = _text(20, **DAY, description="Default: today.")
    estate_id = _text(40, **ENTITY)
    format = FORMAT


class ReceivablesArgs(ma.Schema):
    estate_id = _text(40, description="An estate id, or none: every estate in scope.")
    format = FORMAT


class EstateReportArgs(ReportRangeArgs):
    estate_id = ma.fields.String(
        required=True, validate=ma.validate.Length(max=40), metadata={"description": "An estate"}
    )


# --- reports -------------------------------------------------------------------------------


class AccountRefSchema(ma.Schema):
    account_id = ma.fields.UUID()
    code = ma.fields.String()
    name = ma.fields.String()
    type = ma.fields.String()


class TrialRowSchema(AccountRefSchema):
    opening = money("Debit-positive balance before `from`.")
    debits = money()
    credits = money()
    closing = money("Debit-positive balance at `to`.")


class TrialBalanceSchema(ma.Schema):
    first = ma.fields.Date(data_key="from", attribute="from")
    last = ma.fields.Date(data_key="to", attribute="to")
    estate_id = ma.fields.String(allow_none=True)
    entity = ma.fields.String()
    rows = ma.fields.List(ma.fields.Nested(TrialRowSchema))
    debits = money()
    credits = money()
    closing = money("0 when the books balance.")


class StatementLineSchema(AccountRefSchema):
    by_entity = ma.fields.List(money(), metadata={"description": "In the order of `entities`."})
    elimination = money("Inter-entity amount eliminated (consolidated only).")
    total = money("Sum of the entities less the elimination.")


class EntityTotalsSchema(ma.Schema):
    estate_id = ma.fields.UUID(allow_none=True, metadata={"description": "null: collective."})
    name = ma.fields.String()
    income = money()
    expenses = money()
    net_income = money()


class IncomeStatementSchema(ma.Schema):
    first = ma.fields.Date(data_key="from", attribute="from")
    last = ma.fields.Date(data_key="to", attribute="to")
    estate_id = ma.fields.String(allow_none=True)
    entity = ma.fields.String()
    consolidated = ma.fields.Boolean()
    entities = ma.fields.List(ma.fields.Nested(EntityTotalsSchema))
    income_lines = ma.fields.List(ma.fields.Nested(StatementLineSchema))
    expense_lines = ma.fields.List(ma.fields.Nested(StatementLineSchema))
    income_eliminations = money()
    expense_eliminations = money()
    eliminations = money("Income eliminations less expense eliminations.")
    income = money("Total income (consolidated: after eliminations).")
    expenses = money("Total expenses (consolidated: after eliminations).")
    net_income = money()


class AccountBalanceSchema(AccountRefSchema):
    balance = money("Normal side positive.")


class BalanceSheetSchema(ma.Schema):
    as_of = ma.fields.Date()
    estate_id = ma.fields.String(allow_none=True)
    entity = ma.fields.String()
    assets = ma.fields.List(ma.fields.Nested(AccountBalanceSchema))
    liabilities = ma.fields.List(ma.fields.Nested(AccountBalanceSchema))
    equity = ma.fields.List(ma.fields.Nested(AccountBalanceSchema))
    current_earnings = money("Income less expenses not yet closed into equity.")
    total_assets = money()
    total_liabilities = money()
    total_equity = money()
    total_liabilities_and_equity = money()


class StatementMonthSchema(ma.Schema):
    period = ma.fields.String()
    amount_in = money()
    amount_out = money()


class StatementMovementSchema(ma.Schema):
    entry_date = ma.fields.Date()
    number = ma.fields.String()
    memo = ma.fields.String()
    amount_in = money()
    amount_out = money()


class AccountStatementSchema(ma.Schema):
    first = ma.fields.Date(data_key="from", attribute="from")
    last = ma.fields.Date(data_key="to", attribute="to")
    estate_id = ma.fields.String(allow_none=True)
    entity = ma.fields.String()
    account = ma.fields.Nested(AccountRefSchema, allow_none=True)
    opening = money()
    total_in = money()
    total_out = money()
    closing = money()
    months = ma.fields.List(ma.fields.Nested(StatementMonthSchema))
    movements = ma.fields.List(ma.fields.Nested(StatementMovementSchema))


# --- periods -------------------------------------------------------------------------------


class PeriodCloseInSchema(ma.Schema):
    estate_id = ma.fields.UUID(
        load_default=None, allow_none=True, metadata={"description": "null: the collective."}
    )


class PeriodReopenSchema(PeriodCloseInSchema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))


class PeriodListArgs(PageArgs):
    estate_id = _text(40, **ENTITY)


class PeriodCloseSchema(ma.Schema):
    id = ma.fields.UUID()
    estate_id = ma.fields.UUID(allow_none=True)
    period = ma.fields.String()
    income = money()
    expenses = money()
    surplus = money()
    entry_id = ma.fields.UUID(allow_none=True)
    closed_at = ma.fields.DateTime()
    closed_by = ma.fields.UUID(allow_none=True)
    reopened_at = ma.fields.DateTime(allow_none=True)
    reopened_by = ma.fields.UUID(allow_none=True)
    reopen_reason = ma.fields.String()


# --- accounts ------------------------------------------------------------------------------


class AccountSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    code = ma.fields.String(required=True, metadata={"example": "6409"})
    name = ma.fields.String(required=True, metadata={"example": "安保"})
    type = ma.fields.String(
        required=True, metadata={"enum": [t.value for t in AccountType], "example": "expense"}
    )
    role = ma.fields.String(dump_only=True, allow_none=True)
    active = ma.fields.Boolean(dump_only=True)


class AccountListArgs(ma.Schema):
    active = ma.fields.Boolean(load_default=None)


class AccountPatchSchema(ma.Schema):
    active = ma.fields.Boolean(required=True)


# --- journal entries -----------------------------------------------------------------------


class EntryLineInSchema(ma.Schema):
    account_id = ma.fields.Raw(required=True, metadata={"type": "string", "format": "uuid"})
    debit = ma.fields.Raw(load_default=None, metadata={"type": "string", "format": "decimal"})
    credit = ma.fields.Raw(load_default=None, metadata={"type": "string", "format": "decimal"})
    memo = ma.fields.String(load_default="")


class EntryInSchema(ma.Schema):
    entry_date = ma.fields.Raw(required=True, metadata=DAY)
    estate_id = ma.fields.Raw(
        load_default=None,
        metadata={"type": "string", "format": "uuid", "description": "null: the collective."},
    )
    lines = ma.fields.List(ma.fields.Nested(EntryLineInSchema), required=True)
    memo = ma.fields.String(load_default="")
    reference = ma.fields.String(required=True, metadata={"example": "FP-2024-0712"})


class EntryReverseSchema(ma.Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    entry_date = ma.fields.Raw(load_default=None, metadata=DAY)


class EntryArgs(PageArgs):
    first = _text(20, **DAY)
    first.data_key = "from"
    last = _text(20, **DAY)
    last.data_key = "to"
    estate_id = _text(40, **ENTITY)
    source = ma.fields.String(
        load_default=None, validate=ma.validate.OneOf([s.value for s in EntrySource])
    )
    account_id = ma.fields.UUID(load_default=None)
    reference = _text(100)


class EntryLineOutSchema(ma.Schema):
    id = ma.fields.UUID()
    estate_id = ma.fields.UUID(allow_none=True)
    account_id = ma.fields.UUID()
    account_code = ma.fields.String()
    account_name = ma.fields.String()
    debit = money()
    credit = money()
    household_id = ma.fields.UUID(allow_none=True)
    memo = ma.fields.String()


class EntrySummarySchema(ma.Schema):
    id = ma.fields.UUID()
    number = ma.fields.String()
    entry_date = ma.fields.Date()
    memo = ma.fields.String()
    source = ma.fields.String()
    reference = ma.fields.String()
    reverses_id = ma.fields.UUID(allow_none=True)
    pair_id = ma.fields.UUID(allow_none=True)


class EntryOutSchema(EntrySummarySchema):
    reversed_by = ma.fields.UUID(allow_none=True)
    lines = ma.fields.List(ma.fields.Nested(EntryLineOutSchema))
    debits = money()
    credits = money()


class EstateReceivablesSchema(ma.Schema):
    estate_id = ma.fields.UUID()
    code = ma.fields.String()
    name = ma.fields.String()
    arrears = money("Outstanding on bills past their due date (the arrears aging's total).")
    not_due = money("Outstanding on bills not yet due.")
    outstanding = money("arrears + not_due: what the bills say is owed.")
    receivable = money("The ledger's 应收物业费 balance for the estate.")
    receivable_difference = money("receivable − outstanding (0 when the books agree).")
    prepaid_credit = money("Prepaid credit the payments hold (unallocated).")
    prepaid = money("The ledger's 预收物业费 balance for the estate.")
    prepaid_difference = money("prepaid − prepaid_credit (0 when the books agree).")


class ReceivablesTotalsSchema(ma.Schema):
    arrears = money()
    not_due = money()
    outstanding = money()
    receivable = money()
    receivable_difference = money()
    prepaid_credit = money()
    prepaid = money()
    prepaid_difference = money()


class ReceivablesSchema(ma.Schema):
    as_of = ma.fields.Date(metadata={"description": "Today: a snapshot of now."})
    estate_id = ma.fields.String(allow_none=True)
    entity = ma.fields.String()
    estates = ma.fields.List(ma.fields.Nested(EstateReceivablesSchema))
    totals = ma.fields.Nested(ReceivablesTotalsSchema)
    reconciled = ma.fields.Boolean(metadata={"description": "Every difference is 0."})
