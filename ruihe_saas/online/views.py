"""Online payment pages: the owners' gateway settings and pay links (tenant pages, ``bp``),
and the residents' pay page, success and cancel pages (public, signed link: ``public``).

Tenant pages (``/t/<slug>/online``): ``online.gateway_settings`` (owner: manage_gateway),
``online.pay_link`` (``household_id``; take_payments or view_payments): the link, its expiry
and its QR code, printable; ``online.payouts`` (view_ledger, not estate-scoped members): the
gateway's payouts to the bank, their fees and journal entries.

Public pages (``/pay/<token>``, no login): the token names the tenant and the household; the
URL value preprocessor reads it and enters the tenant's context (``g.tenant_token``, left by
``web.pipeline`` at teardown like a tenant blueprint's). A mangled token is a 404 page, an
expired one a 410 page, never a 500. The POST starts a checkout (rate-limited per address)
and answers 303 to the gateway's page; the page's CSP allows that form target.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from functools import wraps
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ruihe_saas.auth.permissions import Permission, role_allows
from ruihe_saas.errors import DomainError, Forbidden, NotFound
from ruihe_saas.estates.models import Estate, Household
from ruihe_saas.extensions import db, limiter
from ruihe_saas.online import checkout, paylinks, payouts, qr, settings
from ruihe_saas.online.forms import METHOD_LABELS, GatewaySettingsForm, PayForm
from ruihe_saas.payments.gateway import GatewayError, GatewayNotConfigured
from ruihe_saas.payments.models import CheckoutStatus
from ruihe_saas.tenancy.blueprints import require_permission, tenant_html_blueprint
from ruihe_saas.tenancy.context import set_tenant
from ruihe_saas.tenancy.lookup import get_owned
from ruihe_saas.tenancy.models import Tenant
from ruihe_saas.web.forms import apply_field_errors
from ruihe_saas.web.pagination import requested_page

bp = tenant_html_blueprint("online", __name__, "/online")
public = Blueprint("pay", __name__, url_prefix="/pay")

STRIPE_CHECKOUT_ORIGIN = "https://checkout.stripe.com"
PAYOUTS_PER_PAGE = 50


def _money(value) -> str:
    return "—" if value is None else f"{Decimal(value):,.2f}"


CHECKOUT_STATUS_LABELS = {
    CheckoutStatus.OPEN: _l("Open"),
    CheckoutStatus.COMPLETE: _l("Paid"),
    CheckoutStatus.FAILED: _l("Failed"),
    CheckoutStatus.EXPIRED: _l("Expired"),
}


@bp.context_processor
def _tenant_helpers():
    return {
        "money": _money,
        "method_labels": METHOD_LABELS,
        "checkout_status_labels": CHECKOUT_STATUS_LABELS,
    }


@public.context_processor
def _public_helpers():
    return {"money": _money}


# --- tenant pages --------------------------------------------------------------------------


def require_any_permission(*permissions: Permission):
    """Like ``require_permission``, for a page any of several permissions may see."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            membership = g.get("membership")
            if membership is None:
                raise NotFound(_l("Not found."))
            if not any(role_allows(membership.role, p) for p in permissions):
                raise Forbidden(_l("Your role does not allow this."))
            return view(*args, **kwargs)

        wrapper.required_permission = permissions[0]
        return wrapper

    return decorator


def webhook_url() -> str:
    base = current_app.config.get("RUIHE_PUBLIC_URL") or request.host_url
    return base.rstrip("/") + "/stripe/webhook"


def _render_settings(form: GatewaySettingsForm, status: int = 200):
    return render_template(
        "online/gateway_settings.html",
        form=form,
        secrets=settings.secrets_configured(),
        webhook_url=webhook_url(),
    ), status


@bp.get("/gateway")
@require_permission(Permission.MANAGE_GATEWAY)
def gateway_settings():
    """The tenant's online payment settings (no secret is ever shown, only whether the
    deployment has its Stripe keys)."""
    row = settings.gateway_settings()
    form = GatewaySettingsForm(
        formdata=None,
        data={
            "enabled": row.enabled,
            "mode": row.mode.value if row.mode else "connect",
            "connected_account_id": row.connected_account_id or "",
            "application_fee_percent": f"{Decimal(row.application_fee_percent or 0):.2f}",
            "payment_methods": list(row.payment_methods or ["card"]),
        },
    )
    return _render_settings(form)


@bp.post("/gateway")
@require_permission(Permission.MANAGE_GATEWAY)
def save_gateway_settings():
    form = GatewaySettingsForm()
    if form.validate_on_submit():
        try:
            settings.update_gateway_settings(**form.to_data())
        except DomainError as error:
            apply_field_errors(form, error)
        else:
            flash(_("Online payment settings saved."), "success")
            return redirect(url_for(".gateway_settings"))
    return _render_settings(form, 422)


@bp.get("/households/<uuid:household_id>/pay-link")
@require_any_permission(Permission.TAKE_PAYMENTS, Permission.VIEW_PAYMENTS)
def pay_link(household_id: uuid.UUID):
    """A household's pay link with its QR code, to send or print for the residents."""
    household = get_owned(Household, household_id)
    if household is None:
        raise NotFound(_l("Household not found."))
    link = paylinks.pay_link(household.id)
    estate = get_owned(Estate, household.estate_id)
    try:
        settings.active_gateway()
        online_ready = True
    except GatewayNotConfigured:
        online_ready = False
    return render_template(
        "online/pay_link.html",
        household=household,
        estate=estate,
        link=link,
        qr_src=qr.qr_data_uri(link.url),
        bills=checkout.open_bills(household),
        sessions=checkout.sessions_of(household.id)[:10],
        online_ready=online_ready,
        tenant=g.tenant,
    )


@bp.get("/payouts")
@require_permission(Permission.VIEW_LEDGER)
def payouts_list():
    """The gateway's payouts to the bank: amount, fees, what left Stripe clearing, the entry."""
    page = payouts.list_payouts(page=requested_page(), per_page=PAYOUTS_PER_PAGE)
    return render_template(
        "online/payouts.html", page=page, entry_numbers=payouts.entry_numbers(page.items)
    )


# --- public pages --------------------------------------------------------------------------


@public.url_value_preprocessor
def _enter_pay_link(endpoint, values) -> None:
    """Read the token and enter its tenant's context (left by the pipeline at teardown)."""
    token = (values or {}).get("token")
    if token is None:
        raise paylinks.PayLinkInvalid(_l("This payment link is not valid."))
    link = paylinks.read_pay_token(token)
    tenant = db.session.get(Tenant, link.tenant_id)
    if tenant is None or not tenant.is_active:
        raise paylinks.PayLinkInvalid(_l("This payment link is not valid."))
    g.tenant_token = set_tenant(tenant.id)
    household = get_owned(Household, link.household_id)
    if household is None:
        raise paylinks.PayLinkInvalid(_l("This payment link is not valid."))
    g.pay_link = link
    g.pay_tenant = tenant
    g.pay_household = household


@public.errorhandler(paylinks.PayLinkInvalid)
@public.errorhandler(paylinks.PayLinkExpired)
def _link_error(error: DomainError):
    db.session.rollback()
    return render_template(
        "online/link_error.html", status=error.status, message=error.message
    ), error.status


def _form_action_origins() -> list[str]:
    """Where the pay form may lead (CSP form-action covers the 303 redirect): Stripe's
    checkout, and in tests the stand-in serving ``STRIPE_API_BASE``."""
    origins = [STRIPE_CHECKOUT_ORIGIN]
    base = current_app.config.get("STRIPE_API_BASE")
    if base:
        parts = urlsplit(base)
        if parts.scheme in ("http", "https") and parts.netloc:
            origins.append(f"{parts.scheme}://{parts.netloc}")
    return origins


def _with_csp(response):
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
        "form-action 'self' " + " ".join(_form_action_origins())
    )
    return response


def _render_pay(form: PayForm | None = None, status: int = 200, error: str | None = None):
    household = g.pay_household
    bills = checkout.open_bills(household)
    if form is None:
        form = PayForm(formdata=None, data={"bill_ids": [str(b.id) for b in bills]})
    form.bill_ids.choices = [(str(b.id), b.number) for b in bills]
    try:
        settings.active_gateway()
        online_ready = True
    except GatewayNotConfigured:
        online_ready = False
    response = current_app.make_response(
        (
            render_template(
                "online/pay.html",
                tenant=g.pay_tenant,
                estate=get_owned(Estate, household.estate_id),
                household=household,
                bills=bills,
                total=sum((b.outstanding for b in bills), Decimal("0.00")),
                form=form,
                online_ready=online_ready,
                error=error,
                token=request.view_args["token"],
                expires_at=g.pay_link.expires_at,
            ),
            status,
        )
    )
    return _with_csp(response)


def _pay_limit() -> str:
    return current_app.config.get("RUIHE_PAY_LIMIT") or "20 per minute"


@public.get("/<token>")
def pay_page(token: str):
    """The household's open bills, to choose and pay online."""
    return _render_pay()


@public.post("/<token>")
@limiter.limit(_pay_limit, key_func=lambda: "pay:" + (request.remote_addr or "unknown"))
def pay(token: str):
    """Start (or reuse) a checkout for the chosen bills; 303 to the gateway's page."""
    form = PayForm()
    form.bill_ids.choices = [(str(b.id), b.number) for b in checkout.open_bills(g.pay_household)]
    if not form.validate_on_submit():
        return _render_pay(form, 422)
    try:
        session = checkout.start_checkout(g.pay_household.id, form.bill_ids.data, token=token)
    except checkout.CheckoutFailed as error:
        # keep the failed attempt: the next try is a new attempt with a new idempotency key
        db.session.commit()
        return _render_pay(form, 502, error.message)
    except GatewayNotConfigured:
        return _render_pay(form, 503, _("Online payment is not available at the moment."))
    except GatewayError as error:
        return _render_pay(form, 502, error.message)
    except DomainError as error:
        if error.status != 422:
            raise
        apply_field_errors(form, error)
        return _render_pay(form, 422)
    return redirect(session.url, code=303)


STATUS_TEXT = {
    CheckoutStatus.OPEN: _l("Payment received by the payment provider, being confirmed."),
    CheckoutStatus.COMPLETE: _l("Payment confirmed. Thank you."),
    CheckoutStatus.FAILED: _l("The payment did not go through."),
    CheckoutStatus.EXPIRED: _l("The payment page expired before the payment was made."),
}


@public.get("/<token>/success")
def success(token: str):
    """Back from the gateway: the payment is being confirmed (the webhook records it)."""
    session = checkout.find_by_gateway_id((request.args.get("session_id") or "")[:200])
    if session is not None and session.household_id != g.pay_household.id:
        session = None
    return render_template(
        "online/success.html",
        tenant=g.pay_tenant,
        household=g.pay_household,
        session=session,
        status_text=STATUS_TEXT.get(session.status) if session else None,
        token=token,
    )


@public.get("/<token>/cancel")
def cancel(token: str):
    """Back from the gateway without paying."""
    return render_template(
        "online/cancel.html", tenant=g.pay_tenant, household=g.pay_household, token=token
    )
