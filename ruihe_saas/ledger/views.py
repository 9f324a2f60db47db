"""Finance pages (财务): the dashboard (income by estate and month, collection-rate trend
per estate — charts drawn by the vendored ECharts from JSON in the page), the reports
(trial balance, income statement with a column per entity and the eliminations, balance
sheet, improvement fund statement, public revenue statement 收支公示) with date-range and
entity filters, print-friendly and downloadable (``?format=csv|xlsx``), manual expense and
income entries, improvement spending, journal entries with reversal, the chart of accounts
with an add-account form, and the monthly close (close per entity; reopen with a reason,
owner).

Endpoints other pages link to: ``ledger.dashboard`` (nav), ``ledger.report`` (``name``),
``ledger.periods``, ``ledger.entries``. Bad filters answer 422 with the message shown above
the page computed with the defaults.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import extract, func, select
from wtforms import SelectChoice

from ruihe_saas.arrears import collection
from ruihe_saas.auth.permissions import Permission
from ruihe_saas.billing.periods import Period
from ruihe_saas.errors import DomainError, NotFound, ValidationFailed
from ruihe_saas.extensions import db
from ruihe_saas.handover.services import local_today
from ruihe_saas.ledger import accounts, closing, entries, exports
from ruihe_saas.ledger.forms import (
    TYPE_LABELS,
    AccountForm,
    EntryForm,
    ImprovementForm,
    PlainForm,
    ReopenForm,
    ReverseForm,
)
from ruihe_saas.ledger.models import (
    Account,
    AccountType,
    EntrySource,
    JournalEntry,
    JournalLine,
    PeriodClose,
)
from ruihe_saas.tenancy.blueprints import require_permission, tenant_html_blueprint
from ruihe_saas.tenancy.context import current_estate_scope
from ruihe_saas.web.forms import apply_field_errors
from ruihe_saas.web.pagination import requested_page

bp = tenant_html_blueprint("ledger", __name__, "/finance")

ZERO = Decimal("0.00")
ENTRIES_PER_PAGE = 50
REPORTS = {
    "trial-balance": _l("Trial balance"),
    "income-statement": _l("Income statement"),
    "balance-sheet": _l("Balance sheet"),
    "improvement-fund": _l("Improvement fund statement"),
    "public-revenue": _l("Public revenue statement"),
    "receivables": _l("Receivables reconciliation"),
}
EVERYTHING = {  # the entity filter's "all" choice
    None: _l("All entities (consolidated)"),
    "receivables": _l("All estates"),
}
SOURCE_LABELS = {
    EntrySource.BILLING: _l("Billing"),
    EntrySource.VOID: _l("Credit"),
    EntrySource.PAYMENT: _l("Payment"),
    EntrySource.PREPAID_APPLIED: _l("Prepaid credit applied"),
    EntrySource.REFUND: _l("Refund"),
    EntrySource.GATEWAY: _l("Online gateway"),
    EntrySource.MANUAL: _l("Manual"),
    EntrySource.CLOSE: _l("Period close"),
    EntrySource.REVERSAL: _l("Reversal"),
}


@bp.context_processor
def _template_helpers():
    def money(value) -> str:
        return "—" if value is None else f"{Decimal(value):,.2f}"

    def pct(value) -> str:
        return "—" if value is None else f"{value:.2f}%"

    return {
        "money": money,
        "pct": pct,
        "report_titles": REPORTS,
        "whole_tenant": current_estate_scope() is None,  # not limited to some estates
        "source_labels": {key.value: label for key, label in SOURCE_LABELS.items()},
        "type_labels": {key.value: label for key, label in TYPE_LABELS.items()},
    }


def _errors_of(error: DomainError) -> dict:
    return {
        name: list(messages) for name, messages in (error.fields or {"_": [error.message]}).items()
    }


def _entity_choices(*, collective: bool = True, everything: str | None = None) -> list:
    choices = [("", everything)] if everything else []
    if collective and current_estate_scope() is None:
        choices.append((exports.COLLECTIVE, _("Collective economy")))
    choices += [(str(estate.id), estate.name) for estate in exports.estates()]
    return choices


def _names() -> dict:
    names = exports.entity_names()
    names[None] = _("Collective economy")
    return names


# --- dashboard -----------------------------------------------------------------------------


def income_by_estate_month(first: Period, last: Period) -> dict:
    """Income (credit − debit on income accounts, inter-entity entries left out) per entity
    and month, in one GROUP BY."""
    start = date(first.year, first.month, 1)
    end = closing.month_span(str(last))[1]
    year = extract("year", JournalLine.entry_date)
    month = extract("month", JournalLine.entry_date)
    rows = db.session.execute(
        select(JournalLine.estate_id, year, month, func.sum(JournalLine.credit - JournalLine.debit))
        .join(Account, Account.id == JournalLine.account_id)
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .where(
            JournalLine.entry_date.between(start, end),
            Account.type == AccountType.INCOME,
            JournalEntry.pair_id.is_(None),
        )
        .group_by(JournalLine.estate_id, year, month)
    ).all()
    result: dict = {}
    for estate_id, y, m, amount in rows:
        key = f"{int(y):04d}-{int(m):02d}"
        result.setdefault(estate_id, {})[key] = Decimal(amount or 0).quantize(Decimal("0.01"))
    return result


def _month_arg(name: str, errors: dict) -> str | None:
    raw = (request.args.get(name) or "").strip()[:20]
    if not raw:
        return None
    try:
        return str(collection.parse_period(raw, name))
    except ValidationFailed as error:
        errors.update(_errors_of(error))
        return None


@bp.get("/")
@require_permission(Permission.VIEW_LEDGER)
def dashboard():
    """Income by estate and month (stacked bars) and the collection rate per estate (lines)
    over ``from``…``to`` (months; default the last 12), with the consolidated totals."""
    errors: dict = {}
    first, last = _month_arg("from", errors), _month_arg("to", errors)
    try:
        periods = collection.period_range(first, last)
    except ValidationFailed as error:
        errors.update(_errors_of(error))
        periods = collection.period_range(None, None)
    months = [str(p) for p in periods]
    names = _names()
    by_entity = income_by_estate_month(periods[0], periods[-1])
    estates = exports.estates()
    entity_order = [estate.id for estate in estates]
    if None in by_entity:
        entity_order.append(None)
    income_series = [
        {
            "name": names.get(entity, ""),
            "data": [str(by_entity.get(entity, {}).get(m, ZERO)) for m in months],
        }
        for entity in entity_order
    ]
    rates = collection.collection_table(months[0], months[-1])
    rate_series = [
        {
            "name": line.estate.name,
            "data": [None if c.rate is None else str(c.rate) for c in line.cells],
        }
        for line in rates.estates
    ]
    start = date(periods[0].year, periods[0].month, 1)
    end = closing.month_span(months[-1])[1]
    totals = exports.income_statement_data(exports.ReportQuery(start, end, exports.ALL))
    chart = {
        "months": months,
        "income": income_series,
        "rates": rate_series,
        "labels": {
            "income": _("Income by estate and month"),
            "rates": _("Collection rate by estate"),
        },
    }
    return render_template(
        "ledger/dashboard.html",
        months=months,
        income_series=income_series,
        rate_series=rate_series,
        chart=chart,
        totals=totals,
        start=start,
        end=end,
        errors=errors,
    ), (422 if errors else 200)


# --- reports -------------------------------------------------------------------------------


def _report_data(name: str, args: dict):
    if name == "trial-balance":
        return exports.trial_balance_data(exports.report_query(args))
    if name == "income-statement":
        return exports.income_statement_data(exports.report_query(args))
    if name == "balance-sheet":
        return exports.balance_sheet_data(exports.as_of_query(args))
    if name == "receivables":
        return exports.receivables_data(args)
    kind = "improvement_fund" if name == "improvement-fund" else "public_revenue"
    return exports.statement_data(kind, exports.report_query(args, need_estate=True))


TABLES = {
    "trial-balance": exports.trial_balance_tables,
    "income-statement": exports.income_statement_tables,
    "balance-sheet": exports.balance_sheet_tables,
    "improvement-fund": exports.statement_tables,
    "public-revenue": exports.statement_tables,
    "receivables": exports.receivables_tables,
}


@bp.get("/reports/<name>")
@require_permission(Permission.VIEW_LEDGER)
def report(name: str):
    """One report on screen (printable), or ``?format=csv|xlsx`` as a file."""
    if name not in REPORTS:
        abort(404)
    args = {key: (value or "").strip()[:40] for key, value in request.args.items()}
    needs_estate = name in ("improvement-fund", "public-revenue")
    estates = exports.estates()
    if needs_estate and not args.get("estate_id") and estates:
        args["estate_id"] = str(estates[0].id)
    errors: dict = {}
    fmt = args.pop("format", "")
    try:
        data = _report_data(name, args)
    except ValidationFailed as error:
        errors = _errors_of(error)
        fallback = {"estate_id": args.get("estate_id")} if "estate_id" not in errors else {}
        if needs_estate and not fallback.get("estate_id"):
            fallback = {"estate_id": str(estates[0].id)} if estates else {}
        try:
            data = _report_data(name, fallback)
        except ValidationFailed:
            data = None
        fmt = ""
    if fmt in exports.FORMATS and data is not None:
        return exports.download(TABLES[name](data), name, fmt)
    if fmt and fmt not in exports.FORMATS:
        errors["format"] = [_("Use csv or xlsx.")]
    kept = ("from", "to", "as_of", "estate_id")
    query = {k: v[:40] for k, v in request.args.items() if k in kept}
    return render_template(
        f"ledger/{name.replace('-', '_')}.html",
        name=name,
        data=data,
        errors=errors,
        args=args,
        query=query,
        entity_choices=_entity_choices(
            collective=not needs_estate and name != "receivables",
            everything=None if needs_estate else EVERYTHING.get(name, EVERYTHING[None]),
        ),
        tenant=g.tenant,
        today=local_today(),
    ), (422 if errors else 200)


# --- manual entries ------------------------------------------------------------------------


def _account_choices(kind: AccountType) -> list:
    return [
        (str(a.id), f"{a.code} {a.name}")
        for a in accounts.list_accounts(active_only=True, types=[kind])
        if a.role not in entries.AUTOMATIC_ROLES
    ]


def _render_entry_form(kind: str, form: EntryForm, status: int = 200):
    account_type = AccountType.EXPENSE if kind == "expense" else AccountType.INCOME
    form.estate.choices = [SelectChoice(v, label) for v, label in _entity_choices()]
    form.account.choices = [SelectChoice(v, label) for v, label in _account_choices(account_type)]
    return render_template("ledger/entry_form.html", form=form, kind=kind), status


@bp.route("/entries/new/<kind>", methods=["GET", "POST"])
@require_permission(Permission.POST_ENTRIES)
def new_entry(kind: str):
    """An expense (wages, cleaning, greening, repairs, energy …) or income (public revenue,
    canteen takings …) of an estate or the collective economy, paid from or into cash/bank."""
    if kind not in ("expense", "income"):
        abort(404)
    if request.method == "GET":
        form = EntryForm(formdata=None, data={"entry_date": local_today(), "pay_from": "bank"})
        if request.args.get("estate_id"):
            form.estate.data = request.args["estate_id"][:40]
        return _render_entry_form(kind, form)
    form = EntryForm()
    if form.validate_on_submit():
        record = entries.record_expense if kind == "expense" else entries.record_income
        try:
            entry = record(**form.to_data())
        except DomainError as error:
            _apply(form, error)
        else:
            flash(_("Entry %(number)s posted.", number=entry.number), "success")
            return redirect(url_for(".entry", entry_id=entry.id))
    return _render_entry_form(kind, form, 422)


def _apply(form, error: DomainError) -> None:
    """Field errors of the services on the form (their field names → the form's)."""
    renamed = {"estate_id": "estate", "account_id": "account"}
    fields = {renamed.get(k, k): v for k, v in (error.fields or {}).items()}
    apply_field_errors(form, type(error)(error.message, fields=fields))


@bp.route("/improvement/new", methods=["GET", "POST"])
@require_permission(Permission.POST_ENTRIES)
def new_improvement():
    """An improvement project's spending charged to the estate's improvement fund."""
    if request.method == "GET":
        form = ImprovementForm(formdata=None, data={"entry_date": local_today()})
        status = 200
    else:
        form = ImprovementForm()
        status = 422
        if form.validate_on_submit():
            try:
                entry = entries.record_improvement_spending(**form.to_data())
            except DomainError as error:
                _apply(form, error)
            else:
                flash(_("Entry %(number)s posted.", number=entry.number), "success")
                return redirect(url_for(".entry", entry_id=entry.id))
    estates = exports.estates()
    form.estate.choices = [SelectChoice(str(e.id), e.name) for e in estates]
    balances = {str(e.id): entries.fund_balance(e.id) for e in estates}
    return render_template(
        "ledger/improvement_form.html", form=form, balances=balances, estates=estates
    ), status


@bp.get("/entries", endpoint="entries")
@require_permission(Permission.VIEW_LEDGER)
def entries_list():
    """Journal entries, newest first; filters ``from``, ``to``, ``estate_id``, ``source``,
    ``reference``."""
    errors: dict = {}
    values = {}
    try:
        values["start"] = exports.filter_day(request.args.get("from", "")[:20], "from")
        values["end"] = exports.filter_day(request.args.get("to", "")[:20], "to")
        entity = exports.entity_of(request.args.get("estate_id", "")[:40])
    except ValidationFailed as error:
        errors = _errors_of(error)
        values, entity = {}, exports.ALL
    source = request.args.get("source") or None
    if source not in {s.value for s in EntrySource}:
        source = None
    page = entries.list_entries(
        requested_page(),
        ENTRIES_PER_PAGE,
        estate_id=None
        if entity is exports.ALL
        else (entries.COLLECTIVE if entity is None else entity),
        source=source,
        reference=(request.args.get("reference") or "").strip()[:100] or None,
        **values,
    )
    return render_template(
        "ledger/entries.html",
        page=page,
        filters={k: v[:100] for k, v in request.args.items() if k != "page"},
        errors=errors,
        args=request.args,
        entity_choices=_entity_choices(everything=_("All entities")),
    ), (422 if errors else 200)


@bp.get("/entries/<uuid:entry_id>")
@require_permission(Permission.VIEW_LEDGER)
def entry(entry_id: uuid.UUID, form: ReverseForm | None = None, status: int = 200):
    """An entry and its lines; manual ones can be reversed (once)."""
    view = entries.get_entry(entry_id)
    return render_template(
        "ledger/entry.html",
        view=view,
        names=_names(),
        form=form or ReverseForm(formdata=None),
    ), status


@bp.post("/entries/<uuid:entry_id>/reverse")
@require_permission(Permission.POST_ENTRIES)
def reverse(entry_id: uuid.UUID):
    entries.get_entry(entry_id)
    form = ReverseForm()
    if form.validate_on_submit():
        try:
            reversal = entries.reverse(entry_id, form.reason.data, form.entry_date.data)
        except DomainError as error:
            _apply(form, error)
        else:
            flash(_("Entry %(number)s posted.", number=reversal.number), "success")
            return redirect(url_for(".entry", entry_id=reversal.id))
    return entry(entry_id, form, 422)


# --- chart of accounts ---------------------------------------------------------------------


def _render_accounts(form: AccountForm, status: int = 200):
    return render_template(
        "ledger/accounts.html",
        accounts=accounts.list_accounts(),
        form=form,
        toggle=PlainForm(formdata=None),
    ), status


@bp.get("/accounts")
@require_permission(Permission.VIEW_LEDGER)
def chart():
    """The chart of accounts and the add-account form."""
    return _render_accounts(AccountForm(formdata=None))


@bp.post("/accounts")
@require_permission(Permission.MANAGE_ACCOUNTS)
def add_account():
    form = AccountForm()
    if form.validate_on_submit():
        try:
            account = accounts.add_account(form.code.data, form.name.data, form.type.data)
        except DomainError as error:
            apply_field_errors(form, error)
        else:
            flash(_("Account %(code)s added.", code=account.code), "success")
            return redirect(url_for(".chart"))
    return _render_accounts(form, 422)


@bp.post("/accounts/<uuid:account_id>/active")
@require_permission(Permission.MANAGE_ACCOUNTS)
def toggle_account(account_id: uuid.UUID):
    account = accounts.get_account(account_id)
    form = PlainForm()
    if form.validate_on_submit():
        try:
            accounts.set_active(account.id, not account.active)
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(_("Account %(code)s updated.", code=account.code), "success")
    return redirect(url_for(".chart"))


# --- period close --------------------------------------------------------------------------


def _default_period() -> str:
    today = local_today()
    return str(Period.of(date(today.year, today.month, 1)).previous())


def _close_rows(period: str) -> list[dict]:
    estates = exports.estates()
    entities = [(estate, estate.id) for estate in estates]
    if current_estate_scope() is None:
        entities.append((None, None))
    history = {}
    for close in db.session.scalars(
        select(PeriodClose).where(PeriodClose.period == period).order_by(PeriodClose.closed_at)
    ):
        history.setdefault(close.estate_id, []).append(close)
    rows = []
    for estate, estate_id in entities:
        result = closing.period_result(estate_id, period)
        rows.append(
            {
                "estate": estate,
                "key": str(estate_id) if estate_id else exports.COLLECTIVE,
                "name": estate.name if estate else _("Collective economy"),
                "result": result,
                "allocation": closing.allocate(estate, result),
                "standing": closing.standing_close(estate_id, period),
                "history": history.get(estate_id, []),
            }
        )
    return rows


@bp.get("/periods")
@require_permission(Permission.VIEW_LEDGER)
def periods(reopen_form: ReopenForm | None = None, status: int = 200, errors=None):
    """Per entity for ``period`` (default: last month): income, expenses, surplus, how the
    close would share it, and close / reopen."""
    errors = dict(errors or {})
    period = (request.view_args or {}).get("period") or request.args.get("period", "")[:20]
    if period:
        try:
            closing.month_span(period)
        except ValidationFailed as error:
            errors.update(_errors_of(error))
            period = ""
    period = period or _default_period()
    first, last = closing.month_span(period)
    recent = db.session.scalars(
        select(PeriodClose).order_by(PeriodClose.closed_at.desc()).limit(20)
    )
    return render_template(
        "ledger/periods.html",
        period=period,
        ended=last < local_today(),
        rows=_close_rows(period),
        recent=list(recent),
        names=_names(),
        close_form=PlainForm(formdata=None),
        reopen_form=reopen_form or ReopenForm(formdata=None),
        errors=errors,
    ), (422 if errors else status)


def _entity_field(value: str | None):
    if value == exports.COLLECTIVE:
        return None
    try:
        return uuid.UUID(value or "")
    except ValueError:
        abort(404)


@bp.post("/periods/<period>/close")
@require_permission(Permission.CLOSE_PERIODS)
def close(period: str):
    form = PlainForm()
    estate_id = _entity_field(request.form.get("entity"))
    if not form.validate_on_submit():
        return periods(
            status=422, errors={"csrf_token": [_("The form expired; please submit it again.")]}
        )
    try:
        result = closing.close_period(estate_id, period)
    except DomainError as error:
        if isinstance(error, NotFound):
            raise
        return periods(status=422, errors=_errors_of(error))
    flash(_("%(period)s closed: surplus %(surplus)s.", period=period,
            surplus=f"{result.surplus:,.2f}"), "success")  # fmt: skip
    return redirect(url_for(".periods", period=period))


@bp.post("/periods/<period>/reopen")
@require_permission(Permission.REOPEN_PERIODS)
def reopen(period: str):
    form = ReopenForm()
    estate_id = _entity_field(request.form.get("entity"))
    if form.validate_on_submit():
        try:
            closing.reopen_period(estate_id, period, form.reason.data)
        except DomainError as error:
            if isinstance(error, NotFound):
                raise
            apply_field_errors(form, error)
        else:
            flash(_("%(period)s reopened.", period=period), "success")
            return redirect(url_for(".periods", period=period))
    return periods(reopen_form=form, status=422, errors={"reason": list(form.reason.errors)
                                                          or list(form.form_errors)})  # fmt: skip
