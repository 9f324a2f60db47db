"""Desk payment pages (``/t/<slug>/payments``): the payments list with filters (estate,
method, business dates, cashier), a payment with its receipt and allocations, and the
cashier's "take a payment" form for one household (``/payments/new?household_id=…``).

Endpoints other pages link to: ``payments.index`` (nav; ``household_id``, ``estate_id`` …
as filters), ``payments.show`` (``payment_id``), ``payments.new`` (``household_id``).

The payment page includes ``receipts/_payment_actions.html`` and
``refunds/_payment_refunds.html`` when those templates exist (context: ``detail``,
``payment``), so the receipts and refunds features add their buttons there.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ruihe_saas.auth.models import Membership, User
from ruihe_saas.auth.permissions import ROLE_PERMISSIONS, Permission
from ruihe_saas.errors import DomainError, NotFound, ValidationFailed
from ruihe_saas.estates.models import Estate, Household
from ruihe_saas.estates.services import list_estates
from ruihe_saas.extensions import db
from ruihe_saas.payments import desk
from ruihe_saas.payments.forms import METHOD_LABELS, TakePaymentForm
from ruihe_saas.payments.models import PaymentMethod
from ruihe_saas.payments.services import local_zone, prepaid_credit
from ruihe_saas.tenancy.blueprints import require_permission, tenant_html_blueprint
from ruihe_saas.tenancy.lookup import get_owned
from ruihe_saas.web.forms import apply_field_errors
from ruihe_saas.web.pagination import requested_page

bp = tenant_html_blueprint("payments", __name__, "/payments")

PAYMENTS_PER_PAGE = 50
BAD_DATE = _l("Use a date like 2024-07-31.")


@bp.context_processor
def _template_helpers():
    def local_time(moment) -> str:
        return "" if moment is None else moment.astimezone(local_zone()).strftime("%Y-%m-%d %H:%M")

    def method_label(value) -> str:
        try:
            return str(METHOD_LABELS[PaymentMethod(value)])
        except (ValueError, KeyError):
            return str(value)

    def has_endpoint(name: str) -> bool:
        return name in current_app.view_functions

    return {"local_time": local_time, "method_label": method_label, "has_endpoint": has_endpoint}


def _uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


# --- the list ------------------------------------------------------------------------------


def _cashiers() -> list[tuple[uuid.UUID, str]]:
    """Members who may take payments (``(user id, name)``), by name."""
    roles = [
        role for role, allowed in ROLE_PERMISSIONS.items() if Permission.TAKE_PAYMENTS in allowed
    ]
    rows = db.session.execute(
        select(User.id, User.name, User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.role.in_(roles))
        .order_by(User.name, User.email)
    ).all()
    return [(user_id, name or email) for user_id, name, email in rows]


def _list_filters(errors: dict) -> tuple[dict, dict]:
    """``(service filters, link args)`` from the query string. Unknown estates, methods and
    cashiers filter nothing; bad dates are reported (422) and ignored."""
    filters: dict = {}
    estate_id = _uuid(request.args.get("estate_id"))
    if estate_id is not None and get_owned(Estate, estate_id) is not None:
        filters["estate_id"] = estate_id
    household_id = _uuid(request.args.get("household_id"))
    if household_id is not None:
        household = get_owned(Household, household_id)
        if household is not None and filters.get("estate_id") in (None, household.estate_id):
            filters["household_id"] = household.id
    method = request.args.get("method") or None
    if method in {m.value for m in PaymentMethod}:
        filters["method"] = method
    cashier_id = _uuid(request.args.get("cashier_id"))
    if cashier_id is not None:
        filters["cashier_id"] = cashier_id
    for name, key in (("from", "date_from"), ("to", "date_to")):
        raw = (request.args.get(name) or "").strip()[:20]
        if raw:
            try:
                filters[key] = date.fromisoformat(raw)
            except ValueError:
                errors[name] = [BAD_DATE]
    start, end = filters.get("date_from"), filters.get("date_to")
    if start and end and start > end:
        errors["to"] = [_l("Must not be before the start date.")]
        del filters["date_to"]
    args = {
        "estate_id": filters.get("estate_id"),
        "household_id": filters.get("household_id"),
        "method": filters.get("method"),
        "cashier_id": filters.get("cashier_id"),
        "from": filters.get("date_from") and filters["date_from"].isoformat(),
        "to": filters.get("date_to") and filters["date_to"].isoformat(),
    }
    return filters, {key: value for key, value in args.items() if value}


@bp.get("/")
@require_permission(Permission.VIEW_PAYMENTS)
def index():
    """Payments, newest first, filtered by estate, household, method, dates and cashier."""
    errors: dict = {}
    filters, args = _list_filters(errors)
    page = desk.payment_summaries(
        desk.list_payments(filters, page=requested_page(), per_page=PAYMENTS_PER_PAGE)
    )
    household = get_owned(Household, filters["household_id"]) if "household_id" in filters else None
    return render_template(
        "payments/index.html",
        page=page,
        filter_args=args,
        errors=errors,
        raw=request.args,
        estates=list_estates(1, 100).items,
        cashiers=_cashiers(),
        methods=[m.value for m in PaymentMethod],
        household=household,
    ), 422 if errors else 200


# --- one payment ---------------------------------------------------------------------------


@bp.get("/<uuid:payment_id>")
@require_permission(Permission.VIEW_PAYMENTS)
def show(payment_id: uuid.UUID):
    """A payment: amount, method, receipt number and status, allocations, prepaid credit."""
    payment = desk.get_payment(payment_id)
    detail = desk.payment_detail(payment)
    return render_template(
        "payments/show.html",
        detail=detail,
        payment=payment,
        estate=get_owned(Estate, payment.estate_id),
    )


# --- taking a payment ----------------------------------------------------------------------


def _household_or_404() -> Household:
    household_id = _uuid(request.args.get("household_id"))
    household = get_owned(Household, household_id) if household_id else None
    if household is None:
        raise NotFound(_l("Household not found."))
    return household


def _render_new(household: Household, form: TakePaymentForm, status: int = 200):
    bills = desk.open_bills(household)
    form.with_bills(bills)
    return render_template(
        "payments/new.html",
        household=household,
        estate=get_owned(Estate, household.estate_id),
        bills=bills,
        total=desk.outstanding_total(bills),
        credit=prepaid_credit(household.id),
        form=form,
    ), status


@bp.get("/new")
@require_permission(Permission.TAKE_PAYMENTS)
def new():
    """The take-a-payment form of one household: its open bills (all ticked), method,
    reference, note."""
    household = _household_or_404()
    bills = desk.open_bills(household)
    form = TakePaymentForm(
        formdata=None,
        data={"bill_ids": [str(bill.id) for bill in bills], "idempotency_key": uuid.uuid4().hex},
    )
    return _render_new(household, form)


def _amount_of(form: TakePaymentForm, bills) -> str | Decimal:
    """The amount typed, else the total outstanding of the ticked bills (all when none)."""
    if form.amount.data:
        return form.amount.data
    ticked = set(form.bill_ids.data or [])
    chosen = [bill for bill in bills if str(bill.id) in ticked] or bills
    total = desk.outstanding_total(chosen)
    if total <= 0:
        raise ValidationFailed(
            _l("Enter the amount received."), fields={"amount": [_l("Enter the amount received.")]}
        )
    return total


@bp.post("/new")
@require_permission(Permission.TAKE_PAYMENTS)
def create():
    household = _household_or_404()
    bills = desk.open_bills(household)
    form = TakePaymentForm().with_bills(bills)
    if not form.validate_on_submit():
        return _render_new(household, form, 422)
    try:
        payment, _created = desk.record_desk_payment(
            household.id,
            _amount_of(form, bills),
            form.method.data,
            reference=form.reference.data or "",
            bill_ids=form.bill_ids.data or None,
            paid_at=form.paid_at.data,
            note=form.note.data or "",
            idempotency_key=form.idempotency_key.data or None,
        )
    except DomainError as error:
        fields = dict(error.fields or {})
        key_errors = fields.pop("idempotency_key", None)
        if key_errors:
            # this form was already used for another payment: a fresh key for a new one
            form.form_errors.extend(key_errors)
            form.idempotency_key.data = uuid.uuid4().hex
        if fields or not key_errors:
            apply_field_errors(form, ValidationFailed(error.message, fields=fields))
        return _render_new(household, form, error.status)
    flash(
        _(
            "Payment recorded. Receipt %(number)s.",
            number=desk.receipt_number_of(payment) or "—",
        ),
        "success",
    )
    return redirect(url_for(".show", payment_id=payment.id))
