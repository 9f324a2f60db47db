"""Cash-up (日结) pages: a cashier's day (per-method table, payments, refunds, the close
form), the printable A4 sheet with signature lines, and finance's overview of a day.

Endpoints other pages link to: ``cashup.day`` (nav; ``date``, ``cashier_id``),
``cashup.sheet``, ``cashup.overview`` (``date``). A bad ``date`` answers 422 with the
message and the page of today; an unknown ``cashier_id`` 404; another cashier's day 403
unless finance or owner.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ruihe_saas.auth.permissions import Permission
from ruihe_saas.cashup import services
from ruihe_saas.cashup.forms import CloseDayForm
from ruihe_saas.errors import Conflict, DomainError
from ruihe_saas.tenancy.blueprints import require_permission, tenant_html_blueprint
from ruihe_saas.web.forms import apply_field_errors

bp = tenant_html_blueprint("cashup", __name__, "/cash-up")

BAD_DATE = _l("Use a date like 2024-07-31.")
RECENT_DAYS = 31


@bp.context_processor
def _template_helpers():
    def money(value) -> str:
        return "—" if value is None else f"{Decimal(value):,.2f}"

    return {"money": money, "method_labels": services.METHOD_LABELS}


def _requested_day(errors: dict) -> date:
    """``?date=`` (default today); a bad one is an error and today."""
    raw = (request.args.get("date") or "").strip()
    if not raw:
        return services.local_today()
    try:
        value = date.fromisoformat(raw)
    except ValueError:
        errors["date"] = [BAD_DATE]
        return services.local_today()
    if not date(2000, 1, 1) <= value <= date(2100, 12, 31):
        errors["date"] = [_l("Use a date between 2000 and 2100.")]
        return services.local_today()
    return value


def _requested_cashier():
    """``?cashier_id=`` (default the signed-in user): 404 if not a member, 403 if another
    cashier's day and the caller is not finance or owner."""
    cashier = services.cashier_of(request.args.get("cashier_id") or None)
    services.check_may_see(cashier.id, oversees=services.oversees_cash_up(g.membership))
    return cashier


def _render_day(summary, form: CloseDayForm | None = None, errors=None, status: int = 200):
    if form is None:
        form = CloseDayForm(
            formdata=None,
            data={
                "date": summary.business_date.isoformat(),
                "cashier_id": str(summary.cashier_id),
            },
        )
    oversees = services.oversees_cash_up(g.membership)
    may_close = (
        not summary.closed
        and summary.business_date <= services.local_today()
        and (oversees or summary.cashier_id == g.membership.user_id)
    )
    today = services.local_today()
    recent = services.closed_days(
        today - timedelta(days=RECENT_DAYS - 1), today, summary.cashier_id
    )
    return render_template(
        "cashup/day.html",
        summary=summary,
        form=form,
        may_close=may_close,
        oversees=oversees,
        recent=recent,
        errors=errors or {},
        previous_day=summary.business_date - timedelta(days=1),
        next_day=summary.business_date + timedelta(days=1),
        today=today,
    ), status


@bp.get("")
@require_permission(Permission.VIEW_PAYMENTS)
def day():
    """A cashier's day: totals per method, the payments and refunds, closing it."""
    errors: dict = {}
    business_date = _requested_day(errors)
    cashier = _requested_cashier()
    summary = services.day_summary(cashier.id, business_date)
    return _render_day(summary, errors=errors, status=422 if errors else 200)


@bp.post("/close")
@require_permission(Permission.CLOSE_CASH_UP)
def close():
    form = CloseDayForm()
    errors: dict = {}
    try:
        business_date = date.fromisoformat((form.date.data or "").strip())
    except ValueError:
        errors["date"] = [BAD_DATE]
        business_date = services.local_today()
    cashier = services.cashier_of(form.cashier_id.data or None)
    services.check_may_see(cashier.id, oversees=services.oversees_cash_up(g.membership))
    status = 422
    if not errors and form.validate_on_submit():
        try:
            services.close_day(
                cashier.id,
                business_date,
                form.note.data or "",
                may_close_others=services.oversees_cash_up(g.membership),
            )
        except DomainError as error:
            if isinstance(error, Conflict):
                status = 409
            elif error.status == 403:
                raise
            apply_field_errors(form, error)
        else:
            flash(_("The cash-up of %(day)s is closed.", day=business_date.isoformat()), "success")
            return redirect(url_for(".day", date=business_date.isoformat(), cashier_id=cashier.id))
    summary = services.day_summary(cashier.id, business_date)
    return _render_day(summary, form, errors, status)


@bp.get("/sheet")
@require_permission(Permission.VIEW_PAYMENTS)
def sheet():
    """The printable cash-up sheet (日结单) of a cashier's day: A4, signature lines."""
    errors: dict = {}
    business_date = _requested_day(errors)
    cashier = _requested_cashier()
    summary = services.day_summary(cashier.id, business_date)
    return render_template("cashup/sheet.html", summary=summary, tenant=g.tenant, errors=errors), (
        422 if errors else 200
    )


@bp.get("/overview")
@require_permission(Permission.VIEW_PAYMENTS)
def overview():
    """Finance's view of a day: every cashier with activity, closed or not."""
    if not services.oversees_cash_up(g.membership):
        return redirect(url_for(".day", date=request.args.get("date") or None))
    errors: dict = {}
    business_date = _requested_day(errors)
    rows = services.cashiers_with_activity(business_date)
    return render_template(
        "cashup/overview.html",
        rows=rows,
        business_date=business_date,
        previous_day=business_date - timedelta(days=1),
        next_day=business_date + timedelta(days=1),
        errors=errors,
        open_count=sum(1 for r in rows if not r.closed),
    ), (422 if errors else 200)
