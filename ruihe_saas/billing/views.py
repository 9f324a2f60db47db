"""Billing pages (``/t/<slug>/billing``): an estate's bills, a bill with its lines, credits,
late fee and void forms; an estate's billing runs with the run form; a run with its live
progress (``static/js/billing.js`` polls ``…/runs/<id>/progress.json``), totals, preview and
warnings.

Endpoints other pages link to: ``billing.estate_bills`` (estate_id), ``billing.estate_runs``
(estate_id), ``billing.run`` (run_id), ``billing.bill`` (bill_id)."""

from __future__ import annotations

import uuid

from flask import flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from ruihe_saas.auth.permissions import Permission, role_allows
from ruihe_saas.billing import bills, runs
from ruihe_saas.billing.forms import RunForm, VoidForm
from ruihe_saas.billing.models import ACTIVE_RUN_STATUSES, BillStatus
from ruihe_saas.billing.periods import Period, PeriodError
from ruihe_saas.errors import DomainError
from ruihe_saas.estates.models import Estate, Household
from ruihe_saas.estates.services import buildings_of, get_estate
from ruihe_saas.handover.services import local_today
from ruihe_saas.tenancy.blueprints import require_permission, tenant_html_blueprint
from ruihe_saas.tenancy.lookup import get_owned
from ruihe_saas.web.forms import apply_field_errors
from ruihe_saas.web.pagination import requested_page

bp = tenant_html_blueprint("billing", __name__, "/billing")

BILLS_PER_PAGE = 50
RUNS_PER_PAGE = 20
STATUSES = frozenset(status.value for status in BillStatus)


def _parse_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


# --- bills ---------------------------------------------------------------------------------


def _bill_filters(estate: Estate, buildings) -> tuple[dict, dict, str | None]:
    """``(service filters, link args, period error)`` from the query string; values that
    name nothing of this estate filter nothing."""
    building_id = _parse_uuid(request.args.get("building"))
    if building_id not in {b.id for b in buildings}:
        building_id = None
    household_id = _parse_uuid(request.args.get("household"))
    household = get_owned(Household, household_id) if household_id else None
    if household is None or household.estate_id != estate.id:
        household = None
    status = request.args.get("status") or None
    status = status if status in STATUSES else None
    period, period_error = (request.args.get("period") or "").strip()[:20] or None, None
    if period is not None:
        try:
            period = str(Period.parse(period))
        except PeriodError as error:
            period, period_error = None, str(error)
    filters = {
        "estate_id": estate.id,
        "building_id": building_id,
        "household_id": household.id if household else None,
        "period": period,
        "status": status,
    }
    args = {
        "building": building_id,
        "household": household.id if household else None,
        "period": period,
        "status": status,
    }
    return filters, {k: v for k, v in args.items() if v}, period_error


@bp.get("/estates/<uuid:estate_id>/bills")
@require_permission(Permission.VIEW_BILLING)
def estate_bills(estate_id: uuid.UUID):
    """The estate's bills, filtered by building, household, period and status."""
    estate = get_estate(estate_id)
    buildings = buildings_of(estate)
    filters, args, period_error = _bill_filters(estate, buildings)
    page = bills.summaries(
        bills.list_bills(**filters, page=requested_page(), per_page=BILLS_PER_PAGE)
    )
    household = get_owned(Household, filters["household_id"]) if filters["household_id"] else None
    return render_template(
        "billing/bills.html",
        estate=estate,
        buildings=buildings,
        household=household,
        page=page,
        filter_args=args,
        period_error=period_error,
        statuses=sorted(STATUSES),
    )


def _render_bill(bill, status: int = 200, *, bill_form=None, line_form=None, line_id=None):
    detail = bills.bill_detail(bill)
    line_forms = {}
    if role_allows(g.membership.role, Permission.VOID_BILLS):
        for line in detail.lines:
            if line.id == line_id and line_form is not None:
                line_forms[line.id] = line_form.for_line(line.id)  # posted: show its errors
            elif line.outstanding > 0:
                line_forms[line.id] = VoidForm(formdata=None).for_line(line.id)
        if bill_form is None and detail.outstanding > 0:
            bill_form = VoidForm(formdata=None)
    return render_template(
        "billing/bill.html",
        detail=detail,
        estate=get_estate(bill.estate_id),
        bill_form=bill_form,
        line_forms=line_forms,
        today=local_today(),
    ), status


@bp.get("/bills/<uuid:bill_id>")
@require_permission(Permission.VIEW_BILLING)
def bill(bill_id: uuid.UUID):
    return _render_bill(bills.get_bill(bill_id))


@bp.post("/bills/<uuid:bill_id>/void")
@require_permission(Permission.VOID_BILLS)
def void_bill(bill_id: uuid.UUID):
    found = bills.get_bill(bill_id)
    form = VoidForm()
    if form.validate_on_submit():
        try:
            bills.void_bill(found.id, form.reason.data)
        except DomainError as error:
            apply_field_errors(form, error)
            return _render_bill(bills.get_bill(bill_id), error.status, bill_form=form)
        flash(_("The bill is voided (credit note written)."), "success")
        return redirect(url_for(".bill", bill_id=found.id))
    return _render_bill(found, 422, bill_form=form)


@bp.post("/bills/<uuid:bill_id>/lines/<uuid:line_id>/void")
@require_permission(Permission.VOID_BILLS)
def void_line(bill_id: uuid.UUID, line_id: uuid.UUID):
    found = bills.get_bill(bill_id)
    line = bills.get_line(line_id, found)
    form = VoidForm()
    if form.validate_on_submit():
        try:
            bills.void_line(line.id, form.reason.data, found)
        except DomainError as error:
            apply_field_errors(form, error)
            found = bills.get_bill(bill_id)
            return _render_bill(found, error.status, line_form=form, line_id=line.id)
        flash(_("The line is voided (credit note written)."), "success")
        return redirect(url_for(".bill", bill_id=found.id))
    return _render_bill(found, 422, line_form=form, line_id=line.id)


# --- billing runs --------------------------------------------------------------------------


def _render_runs(estate: Estate, form: RunForm | None = None, status: int = 200):
    if form is None:
        form = RunForm(formdata=None, data={"period": str(Period.of(local_today()).previous())})
    page = runs.list_billing_runs(estate.id, requested_page(), RUNS_PER_PAGE)
    return render_template("billing/runs.html", estate=estate, page=page, form=form), status


@bp.get("/estates/<uuid:estate_id>/runs")
@require_permission(Permission.VIEW_BILLING)
def estate_runs(estate_id: uuid.UUID):
    """The estate's billing runs and (with RUN_BILLING) the form to preview or run one."""
    return _render_runs(get_estate(estate_id))


@bp.post("/estates/<uuid:estate_id>/runs")
@require_permission(Permission.RUN_BILLING)
def start_run(estate_id: uuid.UUID):
    estate = get_estate(estate_id)
    form = RunForm()
    if form.validate_on_submit():
        try:
            run = runs.start_billing_run(estate.id, form.period.data, form.dry_run)
        except DomainError as error:
            apply_field_errors(form, error)
            return _render_runs(estate, form, error.status)
        return redirect(url_for(".run", run_id=run.id))
    return _render_runs(estate, form, 422)


def _sorted_totals(totals: dict | None) -> list[tuple[str, dict]]:
    return sorted((totals or {}).items(), key=lambda item: item[0])


@bp.get("/runs/<uuid:run_id>")
@require_permission(Permission.VIEW_BILLING)
def run(run_id: uuid.UUID):
    found = runs.get_billing_run(run_id)
    return render_template(
        "billing/run.html",
        run=found,
        estate=get_estate(found.estate_id),
        totals=_sorted_totals(found.totals),
        active=found.status in ACTIVE_RUN_STATUSES,
    )


@bp.get("/runs/<uuid:run_id>/progress.json")
@require_permission(Permission.VIEW_BILLING)
def run_progress(run_id: uuid.UUID):
    """The run's status and progress, polled by the run page (session-authenticated)."""
    found = runs.get_billing_run(run_id)
    response = jsonify(
        {
            "status": found.status.value,
            "done": found.progress_done or 0,
            "total": found.progress_total or 0,
            "finished": found.status not in ACTIVE_RUN_STATUSES,
            "bills_created": found.bills_created or 0,
        }
    )
    response.headers["Cache-Control"] = "no-store"
    return response
