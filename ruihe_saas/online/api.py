"""Online payments: gateway settings, pay links, checkout sessions: JSON API.

- ``GET|PUT /gateway-settings`` (manage_gateway, owner only): the tenant's settings; the
  Stripe keys are deployment configuration, reported only as configured or not;
- ``POST /households/<id>/pay-link`` (take_payments): a new signed pay link ``{url,
  expires_at}`` for the household (nothing is stored);
- ``GET /checkout-sessions?household_id=`` (view_payments): the household's online payment
  attempts, newest first;
- ``GET /payouts`` (view_ledger; 404 for estate-scoped members: payouts belong to the
  collective economy): the gateway's payouts to the bank with their fees and journal entry,
  newest arrival first, paginated.
"""

from __future__ import annotations

import uuid

from ruihe_saas.auth.permissions import Permission
from ruihe_saas.online import checkout, paylinks, payouts, settings
from ruihe_saas.online.schemas import (
    CheckoutSessionArgs,
    CheckoutSessionSchema,
    GatewayPayoutSchema,
    GatewaySettingsInSchema,
    GatewaySettingsSchema,
    PayLinkSchema,
)
from ruihe_saas.tenancy.blueprints import require_permission, tenant_api_blueprint
from ruihe_saas.web.api import errors
from ruihe_saas.web.pagination import PageArgs, page_schema

blp = tenant_api_blueprint(
    "online_api",
    __name__,
    "",
    description="Online payments: gateway settings, pay links, checkout sessions, payouts",
)


def _settings_body(row) -> dict:
    configured = settings.secrets_configured()
    return {
        "enabled": bool(row.enabled),
        "mode": row.mode,
        "connected_account_id": row.connected_account_id,
        "application_fee_percent": row.application_fee_percent,
        "payment_methods": list(row.payment_methods or []),
        "secret_key_configured": configured["secret_key"],
        "webhook_secret_configured": configured["webhook_secret"],
    }


class _Settings:
    """Attribute access for the output schema."""

    def __init__(self, body: dict):
        self.__dict__.update(body)


@blp.get("/gateway-settings")
@blp.response(200, GatewaySettingsSchema)
@require_permission(Permission.MANAGE_GATEWAY)
def get_gateway_settings():
    """The tenant's online payment settings (defaults when never saved)."""
    return _Settings(_settings_body(settings.gateway_settings()))


@blp.put("/gateway-settings")
@blp.arguments(GatewaySettingsInSchema)
@blp.response(200, GatewaySettingsSchema)
@errors(blp, 400, 422)
@require_permission(Permission.MANAGE_GATEWAY)
def put_gateway_settings(data):
    """Replace the settings. Connect mode needs ``connected_account_id`` (``acct_…``); the
    application fee (0 ≤ x < 100, 2 decimals) needs connect mode; ``payment_methods`` is a
    non-empty subset of card, alipay, wechat_pay."""
    row = settings.update_gateway_settings(**data)
    return _Settings(_settings_body(row))


@blp.post("/households/<uuid:household_id>/pay-link")
@blp.response(200, PayLinkSchema)
@require_permission(Permission.TAKE_PAYMENTS)
def create_pay_link(household_id: uuid.UUID):
    """A signed link to the household's pay page, valid ``RUIHE_PAY_LINK_DAYS`` days."""
    link = paylinks.pay_link(household_id)
    return {"url": link.url, "expires_at": link.expires_at}


@blp.get("/checkout-sessions")
@blp.arguments(CheckoutSessionArgs, location="query")
@blp.response(200, CheckoutSessionSchema(many=True))
@errors(blp, 422)
@require_permission(Permission.VIEW_PAYMENTS)
def list_checkout_sessions(args):
    """The household's online payment attempts (Stripe Checkout Sessions), newest first."""
    return checkout.sessions_of(args["household_id"])


@blp.get("/payouts")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(GatewayPayoutSchema))
@require_permission(Permission.VIEW_LEDGER)
def list_payouts(args):
    """The gateway's payouts to the bank (recorded by the reconciliation and the
    ``payout.paid`` webhook), newest arrival first: ``amount`` reached the bank, ``fees`` the
    gateway kept, ``gross`` = amount + fees left Stripe clearing. A payout the bank returned
    is ``failed`` (``failed_on``), its entry reversed by ``reversal_entry_id``. Estate-scoped
    members: 404."""
    return payouts.list_payouts(page=args["page"], per_page=args["per_page"])
