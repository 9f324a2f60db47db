"""Refund pages (``/t/<slug>/refunds``): the refunds list (filters: estate, dates), a refund
with its reversals, and the refund form of one payment
(``/refunds/payments/<payment_id>/new``; ``/refunds/new?payment_id=…`` redirects there).

Endpoints other pages link to: ``refunds.index`` (nav), ``refunds.new`` (``payment_id``),
``refunds.show`` (``refund_id``). ``templates/refunds/_payment_refunds.html`` (included by
the payment page) lists a payment's refunds with a "Refund" button; the helpers it needs
(``payment_refunds``, ``payment_refundable``) are app-wide template globals set here.
"""

from __future__ import annotations

import uuid
from datetime import date

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ruihe_saas.auth.permissions import Permission
from ruihe_saas.errors import DomainError, NotFound
from ruihe_saas.estates.models import Estate
from ruihe_saas.estates.services import list_estates
from ruihe_saas.payments.models import RefundMethod, RefundStatus
from ruihe_saas.payments.services import local_zone
from ruihe_saas.refunds import services
from ruihe_saas.refunds.forms import REFUND_METHOD_LABELS, REFUND_STATUS_LABELS, RefundForm
from ruihe_saas.tenancy.blueprints import require_permission, tenant_html_blueprint
from ruihe_saas.tenancy.lookup import get_owned
from ruihe_saas.web.forms import apply_field_errors
from ruihe_saas.web.pagination import requested_page

bp = tenant_html_blueprint("refunds", __name__, "/refunds")

REFUNDS_PER_PAGE = 50
BAD_DATE = _l("Use a date like 2024-07-31.")


def _local_time(moment) -> str:
    return "" if moment is None else moment.astimezone(local_zone()).strftime("%Y-%m-%d %H:%M")


def _refund_method_label(value) -> str:
    try:
        return str(REFUND_METHOD_LABELS[RefundMethod(value)])
    except (ValueError, KeyError):
        return str(value)


def _refund_status_label(value) -> str:
    try:
        return str(REFUND_STATUS_LABELS[RefundStatus(value)])
    except (ValueError, KeyError):
        return str(value)


def _payment_method_label(value) -> str:
    from ruihe_saas.payments.forms import METHOD_LABELS
    from ruihe_saas.payments.models import PaymentMethod

    try:
        return str(METHOD_LABELS[PaymentMethod(value)])
    except (ValueError, KeyError):
        return str(value)


def _payment_url(payment_id) -> str | None:
    """The payment page, when the payments feature has one."""
    if "payments.show" in current_app.view_functions:
        return url_for("payments.show", payment_id=payment_id)
    return None


@bp.app_context_processor
def _refund_helpers():
    """Template globals for the refund pages and the payment page's refunds section."""
    return {
        "payment_refunds": services.refunds_of,
        "payment_refundable": services.refundable,
        "refund_method_label": _refund_method_label,
        "refund_status_label": _refund_status_label,
        "refund_local_time": _local_time,
        "refund_payment_method_label": _payment_method_label,
    }


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


# --- the list ------------------------------------------------------------------------------


def _list_filters(errors: dict) -> tuple[dict, dict]:
    """``(service filters, link args)``: an unknown estate filters nothing; bad dates are
    reported (422) and ignored."""
    filters: dict = {}
    estate_id = _uuid(request.args.get("estate_id"))
    if estate_id is not None and get_owned(Estate, estate_id) is not None:
        filters["estate_id"] = estate_id
    for name, key in (("from", "start"), ("to", "end")):
        raw = (request.args.get(name) or "").strip()[:20]
        if raw:
            try:
                filters[key] = date.fromisoformat(raw)
            except ValueError:
                errors[name] = [BAD_DATE]
    if filters.get("start") and filters.get("end") and filters["start"] > filters["end"]:
        errors["to"] = [_l("Must not be before the start date.")]
        del filters["end"]
    args = {
        "estate_id": filters.get("estate_id"),
        "from": filters.get("start") and filters["start"].isoformat(),
        "to": filters.get("end") and filters["end"].isoformat(),
    }
    return filters, {key: value for key, value in args.items() if value}


@bp.get("/")
@require_permission(Permission.VIEW_PAYMENTS)
def index():
    """Refunds, newest first, filtered by estate and refund date."""
    errors: dict = {}
    filters, args = _list_filters(errors)
    page = services.summaries(
        services.list_refunds(**filters, page=requested_page(), per_page=REFUNDS_PER_PAGE)
    )
    return render_template(
        "refunds/index.html",
        page=page,
        filter_args=args,
        errors=errors,
        raw=request.args,
        estates=list_estates(1, 100).items,
    ), 422 if errors else 200


# --- one refund ----------------------------------------------------------------------------


@bp.get("/<uuid:refund_id>")
@require_permission(Permission.VIEW_PAYMENTS)
def show(refund_id: uuid.UUID):
    """A refund: amount, parts (prepaid credit / bills), method, status, reason, and the
    bill lines it reopened."""
    refund = services.get_refund(refund_id)
    return render_template(
        "refunds/show.html",
        detail=services.refund_detail(refund),
        payment=services.get_payment(refund.payment_id),
        payment_url=_payment_url(refund.payment_id),
    )


# --- refunding a payment -------------------------------------------------------------------


def _render_new(payment, form: RefundForm, status: int = 200):
    return render_template(
        "refunds/new.html",
        payment=payment,
        household_label=services.household_label(payment.household_id),
        allocations=services.payment_allocations(payment),
        refundable=services.refundable(payment),
        refunds=services.refunds_of(payment),
        payment_url=_payment_url(payment.id),
        form=form,
    ), status


@bp.get("/new")
@require_permission(Permission.REFUND_PAYMENTS)
def new_for():
    """``?payment_id=…``: the refund form of that payment."""
    payment_id = _uuid(request.args.get("payment_id"))
    if payment_id is None:
        raise NotFound(_l("Payment not found."))
    return redirect(url_for(".new", payment_id=services.get_payment(payment_id).id))


@bp.get("/payments/<uuid:payment_id>/new")
@require_permission(Permission.REFUND_PAYMENTS)
def new(payment_id: uuid.UUID):
    """The refund form of a payment: what is left to refund, amount, reason, method."""
    payment = services.get_payment(payment_id)
    left = services.refundable(payment)
    form = RefundForm(
        formdata=None,
        data={"amount": str(left) if left > 0 else "", "idempotency_key": uuid.uuid4().hex},
    ).with_methods(services.refund_methods_for(payment))
    return _render_new(payment, form)


@bp.post("/payments/<uuid:payment_id>/new")
@require_permission(Permission.REFUND_PAYMENTS)
def create(payment_id: uuid.UUID):
    payment = services.get_payment(payment_id)
    form = RefundForm().with_methods(services.refund_methods_for(payment))
    if not form.validate_on_submit():
        return _render_new(payment, form, 422)
    try:
        refund, created = services.refund_payment_once(
            payment.id,
            form.amount.data,
            form.reason.data,
            method=form.method.data,
            idempotency_key=form.idempotency_key.data or None,
            reference=form.reference.data or "",
        )
    except DomainError as error:
        apply_field_errors(form, error)
        return _render_new(services.get_payment(payment_id), form, error.status)
    if created:
        flash(_("Refunded %(amount)s.", amount=refund.amount), "success")
    return redirect(url_for(".show", refund_id=refund.id))
