"""Arrears pages: the tenant-wide collection-rate table and aging, an estate's arrears, its
collection rate, a household's arrears with its chasing records, the printable reminder
notice (催缴通知单), and the exports (CSV/XLSX).

Endpoints other pages link to: ``arrears.index`` (nav), ``arrears.estate`` and
``arrears.collection_rate`` (``estate_id``), ``arrears.household`` (``estate_id``,
``household_id``). Bad query values (dates, periods) answer 422 with the message shown by the
filter form and the page computed with the defaults.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import marshmallow as ma
from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ruihe_saas.arrears import chases, collection, exports, notice, services
from ruihe_saas.arrears.forms import CHANNEL_LABELS, ChaseForm
from ruihe_saas.arrears.schemas import ArrearsExportArgs, BillExportArgs, CollectionExportArgs
from ruihe_saas.auth.permissions import Permission
from ruihe_saas.billing.periods import Period
from ruihe_saas.errors import DomainError, ValidationFailed
from ruihe_saas.estates.services import buildings_of, get_estate, get_household
from ruihe_saas.handover.services import local_today
from ruihe_saas.payments.services import prepaid_credit
from ruihe_saas.tenancy.blueprints import require_permission, tenant_html_blueprint
from ruihe_saas.web.forms import apply_field_errors
from ruihe_saas.web.pagination import requested_page

bp = tenant_html_blueprint("arrears", __name__, "/arrears")

HOUSEHOLDS_PER_PAGE = 50
CHASES_PER_PAGE = 20
BAD_DATE = _l("Use a date like 2024-07-31.")


@bp.context_processor
def _template_helpers():
    def money(value) -> str:
        return "—" if value is None else f"{Decimal(value):,.2f}"

    def pct(value) -> str:
        return "—" if value is None else f"{value:.2f}%"

    return {
        "money": money,
        "pct": pct,
        "buckets": services.BUCKETS,
        "channel_labels": {key.value: label for key, label in CHANNEL_LABELS.items()},
    }


class QueryArgs:
    """Query-string values of a page; bad ones are collected as field errors (→ 422)."""

    def __init__(self) -> None:
        self.errors: dict[str, list] = {}

    def day(self, name: str = "as_of") -> date | None:
        raw = (request.args.get(name) or "").strip()
        if not raw:
            return None
        try:
            value = date.fromisoformat(raw)
        except ValueError:
            self.errors[name] = [BAD_DATE]
            return None
        try:
            return services.valid_as_of(value, name)
        except ValidationFailed as error:
            self.add(error)
            return None

    def text(self, name: str, limit: int = 20) -> str | None:
        return (request.args.get(name) or "").strip()[:limit] or None

    def add(self, error: DomainError) -> None:
        for field, messages in (error.fields or {"_": [error.message]}).items():
            self.errors.setdefault(field, []).extend(messages)

    @property
    def status(self) -> int:
        return 422 if self.errors else 200


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _table(args: QueryArgs, estate=None, last=None, as_of=None):
    """The collection-rate table for ``from``/``to`` (defaults when they are bad)."""
    first = args.text("from")
    last = last or args.text("to")
    try:
        return collection.collection_table(first, last, as_of=as_of, estate=estate)
    except ValidationFailed as error:
        args.add(error)
        return collection.collection_table(as_of=as_of, estate=estate)


# --- tenant and estate pages ---------------------------------------------------------------


@bp.get("/")
@require_permission(Permission.VIEW_BILLING)
def index():
    """Every estate's collection rate over the last periods, and its arrears by age."""
    args = QueryArgs()
    as_of = args.day()
    table = _table(args)
    aging = services.tenant_aging(as_of)
    return render_template(
        "arrears/index.html", table=table, aging=aging, errors=args.errors, args=request.args
    ), args.status


@bp.get("/estates/<uuid:estate_id>/")
@require_permission(Permission.VIEW_BILLING)
def estate(estate_id: uuid.UUID):
    """The estate's arrears per building and its households in arrears."""
    estate = get_estate(estate_id)
    args = QueryArgs()
    as_of = args.day()
    sort = request.args.get("sort") if request.args.get("sort") in services.SORTS else "amount"
    buildings = buildings_of(estate)
    building_id = _uuid(request.args.get("building"))
    if building_id not in {b.id for b in buildings}:
        building_id = None
    aging = services.estate_aging(estate, as_of)
    page = services.households_in_arrears(
        estate,
        requested_page(),
        HOUSEHOLDS_PER_PAGE,
        as_of=aging.as_of,
        building_id=building_id,
        sort=sort,
    )
    filter_args = {
        key: value
        for key, value in (
            ("as_of", as_of and as_of.isoformat()),
            ("sort", sort if sort != "amount" else None),
            ("building", building_id),
        )
        if value
    }
    return render_template(
        "arrears/estate.html",
        estate=estate,
        aging=aging,
        page=page,
        buildings=buildings,
        building_names={b.id: b.name for b in buildings},
        sort=sort,
        building_id=building_id,
        filter_args=filter_args,
        errors=args.errors,
    ), args.status


@bp.get("/estates/<uuid:estate_id>/collection-rate")
@require_permission(Permission.VIEW_BILLING)
def collection_rate(estate_id: uuid.UUID):
    """The estate's collection and clearance rates of a period (default: the latest billed
    one, else this month), per building, against its target; and the last 12 periods."""
    estate = get_estate(estate_id)
    args = QueryArgs()
    as_of = args.day()
    period = args.text("period") or collection.latest_billed_period(estate)
    try:
        result = collection.estate_collection(estate, period, as_of)
    except ValidationFailed as error:
        args.add(error)
        period = str(Period.of(local_today()))
        result = collection.estate_collection(estate, period, as_of)
    history = collection.collection_table(last=period, as_of=as_of, estate=estate)
    return render_template(
        "arrears/collection_rate.html",
        estate=estate,
        result=result,
        history=history.estates[0].cells,
        period=period,
        as_of=as_of,
        errors=args.errors,
    ), args.status


# --- household -----------------------------------------------------------------------------


def _render_household(estate, household, form: ChaseForm | None = None, status: int = 200):
    bills = services.outstanding_bills(household)
    overdue = [b for b in bills if b.bucket is not None]
    page = chases.list_chases(requested_page(), CHASES_PER_PAGE, household=household)
    if form is None:
        form = ChaseForm(formdata=None, data={"chased_on": local_today()})
    return render_template(
        "arrears/household.html",
        estate=estate,
        household=household,
        bills=bills,
        arrears=sum((b.outstanding for b in overdue), Decimal("0.00")),
        outstanding=sum((b.outstanding for b in bills), Decimal("0.00")),
        credit=prepaid_credit(household.id),
        chases=page,
        form=form,
    ), status


@bp.get("/estates/<uuid:estate_id>/households/<uuid:household_id>/")
@require_permission(Permission.VIEW_BILLING)
def household(estate_id: uuid.UUID, household_id: uuid.UUID):
    """A household's outstanding bills and chasing records, with the chase form."""
    estate = get_estate(estate_id)
    return _render_household(estate, get_household(estate, household_id))


@bp.post("/estates/<uuid:estate_id>/households/<uuid:household_id>/chases")
@require_permission(Permission.CHASE_ARREARS)
def add_chase(estate_id: uuid.UUID, household_id: uuid.UUID):
    estate = get_estate(estate_id)
    household = get_household(estate, household_id)
    form = ChaseForm()
    if form.validate_on_submit():
        try:
            chases.create_chase(household, **form.to_data())
        except DomainError as error:
            apply_field_errors(form, error)
        else:
            flash(_("Chasing record saved."), "success")
            return redirect(
                url_for(
                    ".household", estate_id=estate.id, household_id=household.id, _anchor="chases"
                )
            )
    return _render_household(estate, household, form, 422)


@bp.get("/estates/<uuid:estate_id>/households/<uuid:household_id>/notice")
@require_permission(Permission.CHASE_ARREARS)
def reminder_notice(estate_id: uuid.UUID, household_id: uuid.UUID):
    """The printable reminder notice (催缴通知单) of the household's overdue bills."""
    estate = get_estate(estate_id)
    household = get_household(estate, household_id)
    args = QueryArgs()
    result = notice.reminder_notice(household, args.day())
    return render_template(
        "arrears/notice.html", notice=result, tenant=g.tenant, errors=args.errors
    ), args.status


# --- exports -------------------------------------------------------------------------------


def _export_args(schema: ma.Schema) -> dict:
    try:
        return schema.load(request.args.to_dict(), unknown=ma.EXCLUDE)
    except ma.ValidationError as error:
        raise ValidationFailed(
            _l("The export has invalid filters."), fields=error.messages
        ) from None


@bp.get("/exports/bills.csv", defaults={"fmt": "csv"})
@bp.get("/exports/bills.xlsx", defaults={"fmt": "xlsx"})
@require_permission(Permission.VIEW_BILLING)
def export_bills(fmt: str):
    """Bills (``estate_id``, ``building_id``, ``period``, ``status``)."""
    tables = exports.bill_tables(_export_args(BillExportArgs()))
    return exports.file_response(tables, "bills", fmt)


@bp.get("/exports/arrears.csv", defaults={"fmt": "csv"})
@bp.get("/exports/arrears.xlsx", defaults={"fmt": "xlsx"})
@require_permission(Permission.VIEW_BILLING)
def export_arrears(fmt: str):
    """Aging per building and households in arrears (``estate_id``, ``as_of``)."""
    tables = exports.arrears_export_tables(_export_args(ArrearsExportArgs()))
    return exports.file_response(tables, "arrears", fmt)


@bp.get("/exports/collection-rate.csv", defaults={"fmt": "csv"})
@bp.get("/exports/collection-rate.xlsx", defaults={"fmt": "xlsx"})
@require_permission(Permission.VIEW_BILLING)
def export_collection_rate(fmt: str):
    """Collection rates (``estate_id``, ``from``, ``to``, ``as_of``)."""
    tables = exports.collection_export_tables(_export_args(CollectionExportArgs()))
    return exports.file_response(tables, "collection-rate", fmt)
