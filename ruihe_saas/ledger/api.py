"""The ledger: reports, period close, accounts and manual entries — JSON API.

Reports (``view_ledger``; an estate admin sees their estates only, never the collective
economy), each also as a file with ``?format=csv|xlsx`` (Chinese headers):

- ``GET /reports/trial-balance?from=&to=&estate_id=``;
- ``GET /reports/income-statement?from=&to=&estate_id=`` — no estate: consolidated, a
  column per entity and the eliminated inter-entity amounts; totals ``income``,
  ``expenses``, ``net_income``;
- ``GET /reports/balance-sheet?as_of=&estate_id=``;
- ``GET /reports/receivables?estate_id=``: arrears and prepaid credit per estate against
  the ledger's 应收 and 预收, now;
- ``GET /reports/improvement-fund?estate_id=&from=&to=`` and
  ``GET /reports/public-revenue?estate_id=&from=&to=`` (收支公示), for one estate.

``estate_id``: an estate id, ``collective`` (社区集体经济) or none (every entity).

Periods: ``GET /periods?estate_id=``; ``POST /periods/<YYYY-MM>/close`` ``{"estate_id"}``
(``close_periods``) → 201; ``POST /periods/<YYYY-MM>/reopen`` ``{"estate_id", "reason"}``
(``reopen_periods``, owner). Accounts: ``GET|POST /accounts``, ``PATCH /accounts/<id>``
(``{"active"}``; ``manage_accounts``). Journal entries: ``GET /journal-entries`` (filters),
``GET /journal-entries/<id>``, ``POST /journal-entries`` (manual; ``post_entries``),
``POST /journal-entries/<id>/reverse`` ``{"reason"}``.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from ruihe_saas.auth.permissions import Permission
from ruihe_saas.ledger import accounts, closing, entries, exports
from ruihe_saas.ledger.models import PeriodClose
from ruihe_saas.ledger.schemas import (
    AccountListArgs,
    AccountPatchSchema,
    AccountSchema,
    AccountStatementSchema,
    BalanceSheetSchema,
    EntryArgs,
    EntryInSchema,
    EntryOutSchema,
    EntryReverseSchema,
    EntrySummarySchema,
    EstateReportArgs,
    IncomeStatementSchema,
    PeriodCloseInSchema,
    PeriodCloseSchema,
    PeriodListArgs,
    PeriodReopenSchema,
    ReceivablesArgs,
    ReceivablesSchema,
    ReportAsOfArgs,
    ReportRangeArgs,
    TrialBalanceSchema,
)
from ruihe_saas.tenancy.blueprints import require_permission, tenant_api_blueprint
from ruihe_saas.web.api import errors
from ruihe_saas.web.pagination import page_schema, paginate

blp = tenant_api_blueprint("ledger_api", __name__, "", description="Ledger and finance reports")


def _files(schema):
    """Document the report's JSON and its CSV and XLSX forms (``?format=``)."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return blp.doc(
        responses={
            "200": {
                "description": "OK (JSON), or the file with `format=csv|xlsx`.",
                "content": {
                    "application/json": {"schema": schema},
                    exports.CSV_MIMETYPE: binary,
                    exports.XLSX_MIMETYPE: binary,
                },
            }
        }
    )


def _respond(args: dict, data: dict, tables, name: str):
    fmt = args.get("format")
    if fmt in exports.FORMATS:
        return exports.download(tables(data), name, fmt)
    return data


# --- reports -------------------------------------------------------------------------------


@blp.get("/reports/trial-balance")
@_files(TrialBalanceSchema)
@blp.arguments(ReportRangeArgs, location="query")
@blp.response(200, TrialBalanceSchema)
@errors(blp, 422)
@require_permission(Permission.VIEW_LEDGER)
def trial_balance(args):
    """Trial balance (试算平衡表): per account, the opening balance, the period's debits and
    credits and the closing balance (debit-positive)."""
    data = exports.trial_balance_data(exports.report_query(args))
    return _respond(args, data, exports.trial_balance_tables, "trial-balance")


@blp.get("/reports/income-statement")
@_files(IncomeStatementSchema)
@blp.arguments(ReportRangeArgs, location="query")
@blp.response(200, IncomeStatementSchema)
@errors(blp, 422)
@require_permission(Permission.VIEW_LEDGER)
def income_statement(args):
    """Income statement (收支表); without ``estate_id`` consolidated: a column per entity, the
    inter-entity amounts eliminated, and the totals ``income``, ``expenses``, ``net_income``."""
    data = exports.income_statement_data(exports.report_query(args))
    return _respond(args, data, exports.income_statement_tables, "income-statement")


@blp.get("/reports/receivables")
@_files(ReceivablesSchema)
@blp.arguments(ReceivablesArgs, location="query")
@blp.response(200, ReceivablesSchema)
@errors(blp, 422)
@require_permission(Permission.VIEW_LEDGER)
def receivables(args):
    """Arrears reconciled to the ledger (应收预收对账): per estate, the outstanding bills (in
    arrears, not yet due) and the payments' prepaid credit next to the ledger's 应收 and 预收
    balances, with the differences (0 when the books agree). A snapshot of now."""
    data = exports.receivables_data(args)
    return _respond(args, data, exports.receivables_tables, "receivables")


@blp.get("/reports/balance-sheet")
@_files(BalanceSheetSchema)
@blp.arguments(ReportAsOfArgs, location="query")
@blp.response(200, BalanceSheetSchema)
@errors(blp, 422)
@require_permission(Permission.VIEW_LEDGER)
def balance_sheet(args):
    """Balance sheet (资产负债表) at ``as_of``; consolidated without 内部往来."""
    data = exports.balance_sheet_data(exports.as_of_query(args))
    return _respond(args, data, exports.balance_sheet_tables, "balance-sheet")


@blp.get("/reports/improvement-fund")
@_files(AccountStatementSchema)
@blp.arguments(EstateReportArgs, location="query")
@blp.response(200, AccountStatementSchema)
@errors(blp, 422)
@require_permission(Permission.VIEW_LEDGER)
def improvement_fund(args):
    """The estate's improvement fund (改造基金): in from the monthly closes' surplus, out to
    improvement projects; per month and entry by entry."""
    query = exports.report_query(args, need_estate=True)
    data = exports.statement_data("improvement_fund", query)
    return _respond(args, data, exports.statement_tables, "improvement-fund")


@blp.get("/reports/public-revenue")
@_files(AccountStatementSchema)
@blp.arguments(EstateReportArgs, location="query")
@blp.response(200, AccountStatementSchema)
@errors(blp, 422)
@require_permission(Permission.VIEW_LEDGER)
def public_revenue(args):
    """The estate's public revenue (公共收益收支公示), to post in the estate."""
    query = exports.report_query(args, need_estate=True)
    data = exports.statement_data("public_revenue", query)
    return _respond(args, data, exports.statement_tables, "public-revenue")


# --- periods -------------------------------------------------------------------------------


def _period(value: str) -> str:
    closing.month_span(value)
    return value


@blp.get("/periods")
@blp.arguments(PeriodListArgs, location="query")
@blp.response(200, page_schema(PeriodCloseSchema))
@errors(blp, 422)
@require_permission(Permission.VIEW_LEDGER)
def list_periods(args):
    """Closed months (and reopened ones, with their reason), newest first."""
    statement = select(PeriodClose).order_by(PeriodClose.period.desc(), PeriodClose.closed_at)
    entity = exports.entity_of(args.get("estate_id"))
    if entity is None:
        statement = statement.where(PeriodClose.estate_id.is_(None))
    elif entity is not exports.ALL:
        statement = statement.where(PeriodClose.estate_id == entity)
    return paginate(statement, args["page"], args["per_page"])


@blp.post("/periods/<string:period>/close")
@blp.arguments(PeriodCloseInSchema)
@blp.response(201, PeriodCloseSchema)
@errors(blp, 400, 409, 422)
@require_permission(Permission.CLOSE_PERIODS)
def close_period(data, period: str):
    """Close the entity's month (``estate_id`` null: the collective economy): the surplus is
    shared by the estate's charging model and the month is locked. 409 if already closed,
    422 if the month has not ended."""
    return closing.close_period(data["estate_id"], _period(period))


@blp.post("/periods/<string:period>/reopen")
@blp.arguments(PeriodReopenSchema)
@blp.response(200, PeriodCloseSchema)
@errors(blp, 400, 409, 422)
@require_permission(Permission.REOPEN_PERIODS)
def reopen_period(data, period: str):
    """Reopen a closed month with a reason (owner): the closing entry is reversed."""
    return closing.reopen_period(data["estate_id"], _period(period), data["reason"])


# --- accounts ------------------------------------------------------------------------------


@blp.get("/accounts")
@blp.arguments(AccountListArgs, location="query")
@blp.response(200, AccountSchema(many=True))
@require_permission(Permission.VIEW_LEDGER)
def list_accounts(args):
    """The chart of accounts, by code."""
    items = accounts.list_accounts()
    if args["active"] is not None:
        items = [a for a in items if a.active == args["active"]]
    return items


@blp.post("/accounts")
@blp.arguments(AccountSchema)
@blp.response(201, AccountSchema)
@errors(blp, 400, 422)
@require_permission(Permission.MANAGE_ACCOUNTS)
def add_account(data):
    """Add an account: code of 4–10 digits whose first fits the type (1 asset, 2 liability,
    3 equity, 5 income, 6 expense), name, type."""
    return accounts.add_account(data["code"], data["name"], data["type"])


@blp.patch("/accounts/<uuid:account_id>")
@blp.arguments(AccountPatchSchema)
@blp.response(200, AccountSchema)
@errors(blp, 400, 409, 422)
@require_permission(Permission.MANAGE_ACCOUNTS)
def patch_account(data, account_id: uuid.UUID):
    """Deactivate (no new postings) or reactivate an account; template accounts that
    automatic postings use cannot be deactivated (409)."""
    return accounts.set_active(account_id, data["active"])


# --- journal entries -----------------------------------------------------------------------


def entry_json(view: entries.EntryView) -> dict:
    entry = view.entry
    return {
        "id": entry.id,
        "number": entry.number,
        "entry_date": entry.entry_date,
        "memo": entry.memo,
        "source": entry.source.value,
        "reference": entry.reference,
        "reverses_id": entry.reverses_id,
        "pair_id": entry.pair_id,
        "reversed_by": view.reversed_by,
        "debits": view.debits,
        "credits": view.credits,
        "lines": [
            {
                "id": line.id,
                "estate_id": line.estate_id,
                "account_id": line.account_id,
                "account_code": account.code,
                "account_name": account.name,
                "debit": line.debit,
                "credit": line.credit,
                "household_id": line.household_id,
                "memo": line.memo,
            }
            for line, account in view.lines
        ],
    }


@blp.get("/journal-entries")
@blp.arguments(EntryArgs, location="query")
@blp.response(200, page_schema(EntrySummarySchema))
@errors(blp, 422)
@require_permission(Permission.VIEW_LEDGER)
def list_journal_entries(args):
    """Journal entries newest first; filters ``from``, ``to``, ``estate_id`` (or
    ``collective``), ``source``, ``account_id``, ``reference`` (contains)."""
    start = exports.filter_day(args.get("first"), "from")
    end = exports.filter_day(args.get("last"), "to")
    entity = exports.entity_of(args.get("estate_id"))
    return entries.list_entries(
        args["page"],
        args["per_page"],
        start=start,
        end=end,
        estate_id=None
        if entity is exports.ALL
        else (entries.COLLECTIVE if entity is None else entity),
        source=args.get("source"),
        account_id=args.get("account_id"),
        reference=args.get("reference"),
    )


@blp.get("/journal-entries/<uuid:entry_id>")
@blp.response(200, EntryOutSchema)
@require_permission(Permission.VIEW_LEDGER)
def get_journal_entry(entry_id: uuid.UUID):
    """An entry with its lines (an estate admin: the lines of their estates)."""
    return entry_json(entries.get_entry(entry_id))


@blp.post("/journal-entries")
@blp.arguments(EntryInSchema)
@blp.response(201, EntryOutSchema)
@errors(blp, 400, 422)
@require_permission(Permission.POST_ENTRIES)
def post_journal_entry(data):
    """Post a manual entry of one entity (``estate_id``; null: the collective economy):
    ``entry_date`` (up to today, in an open month), ``reference``, ``memo`` and at least two
    balanced ``lines`` of ``account_id`` with ``debit`` or ``credit``. Accounts kept by
    automatic postings (应收, 预收, Stripe 待清算, 内部往来) are refused."""
    entry = entries.post_manual(
        entry_date=data["entry_date"],
        estate_id=data["estate_id"],
        lines=data["lines"],
        memo=data["memo"],
        reference=data["reference"],
    )
    return entry_json(entries.get_entry(entry.id))


@blp.post("/journal-entries/<uuid:entry_id>/reverse")
@blp.arguments(EntryReverseSchema)
@blp.response(201, EntryOutSchema)
@errors(blp, 400, 409, 422)
@require_permission(Permission.POST_ENTRIES)
def reverse_journal_entry(data, entry_id: uuid.UUID):
    """Post the one reversal of a manual entry (409 if reversed already or not manual)."""
    entry = entries.reverse(entry_id, data["reason"], data["entry_date"])
    return entry_json(entries.get_entry(entry.id))
