"""The tenant's online payment settings, and the gateway they select.

No secret lives here: the Stripe keys and the webhook secret are deployment configuration
(``STRIPE_SECRET_KEY``, ``STRIPE_WEBHOOK_SECRET``); the page only says whether they are set.

Modes: ``connect`` — direct charges on the tenant's Stripe Connect account (``acct_…``,
sent as the ``Stripe-Account`` header) with an optional platform application fee;
``platform`` — the deployment's own keys (a single-company deployment), no account header.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ruihe_saas.errors import ValidationFailed
from ruihe_saas.extensions import db
from ruihe_saas.payments.gateway import GatewayNotConfigured, PaymentGateway
from ruihe_saas.payments.models import GatewayMode, GatewaySettings

PROVIDER = "stripe"
PAYMENT_METHODS = ("card", "alipay", "wechat_pay")
ACCOUNT_ID = re.compile(r"^acct_[A-Za-z0-9]{1,64}$")
MAX_FEE = Decimal("100")


def gateway_settings() -> GatewaySettings:
    """The current tenant's settings row, or an unsaved row with the defaults
    (disabled, connect mode, no fee, card only)."""
    row = db.session.scalar(select(GatewaySettings).where(GatewaySettings.provider == PROVIDER))
    if row is not None:
        return row
    return GatewaySettings(
        provider=PROVIDER,
        enabled=False,
        mode=GatewayMode.CONNECT,
        connected_account_id=None,
        application_fee_percent=Decimal("0.00"),
        payment_methods=["card"],
    )


def secrets_configured() -> dict[str, bool]:
    """Whether the deployment has the keys (never their values)."""
    config = current_app.config
    return {
        "secret_key": bool(config.get("STRIPE_SECRET_KEY")),
        "webhook_secret": bool(config.get("STRIPE_WEBHOOK_SECRET")),
    }


def _valid_bool(value, field: str, errors: dict) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "1", "y", "yes", "on"}:
        return True
    if isinstance(value, str) and value.lower() in {"false", "0", "n", "no", "off", ""}:
        return False
    errors[field] = [str(_l("Must be true or false."))]
    return False


def _valid_fee(value, errors: dict) -> Decimal:
    if value is None or value == "":
        return Decimal("0.00")
    if isinstance(value, bool):
        errors["application_fee_percent"] = [str(_l("Not a valid number."))]
        return Decimal("0.00")
    try:
        fee = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors["application_fee_percent"] = [str(_l("Not a valid number."))]
        return Decimal("0.00")
    if not fee.is_finite():
        errors["application_fee_percent"] = [str(_l("Not a valid number."))]
        return Decimal("0.00")
    if fee != fee.quantize(Decimal("0.01")):
        errors["application_fee_percent"] = [str(_l("At most 2 decimal places."))]
        return Decimal("0.00")
    if fee < 0 or fee >= MAX_FEE:
        errors["application_fee_percent"] = [
            str(_l("Must be at least 0 and less than 100 percent."))
        ]
        return Decimal("0.00")
    return fee.quantize(Decimal("0.01"))


def _valid_methods(value, errors: dict) -> list[str]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(m, str) for m in value):
        errors["payment_methods"] = [str(_l("Choose at least one payment method."))]
        return []
    unknown = [m for m in value if m not in PAYMENT_METHODS]
    if unknown:
        errors["payment_methods"] = [
            str(_l("Unknown payment method: %(name)s.", name=", ".join(unknown)[:60]))
        ]
        return []
    methods = [m for m in PAYMENT_METHODS if m in value]  # canonical order, no duplicates
    if not methods:
        errors["payment_methods"] = [str(_l("Choose at least one payment method."))]
    return methods


def update_gateway_settings(
    *,
    enabled,
    mode,
    connected_account_id=None,
    application_fee_percent=None,
    payment_methods=None,
) -> GatewaySettings:
    """Validate and store the settings (422 with field messages); flushes, never commits."""
    errors: dict[str, list[str]] = {}
    enabled_value = _valid_bool(enabled, "enabled", errors)
    try:
        mode_value = GatewayMode(mode)
    except ValueError:
        errors["mode"] = [str(_l("Choose connect or platform."))]
        mode_value = GatewayMode.CONNECT
    account = connected_account_id.strip() if isinstance(connected_account_id, str) else ""
    bad_type = connected_account_id is not None and not isinstance(connected_account_id, str)
    if bad_type or (account and not ACCOUNT_ID.match(account)):
        errors["connected_account_id"] = [str(_l("Not a valid Stripe account id (acct_…)."))]
    elif mode_value == GatewayMode.CONNECT and not account and "mode" not in errors:
        errors["connected_account_id"] = [
            str(_l("A connected account id is required in connect mode."))
        ]
    fee = _valid_fee(application_fee_percent, errors)
    if mode_value == GatewayMode.PLATFORM and fee and "application_fee_percent" not in errors:
        errors["application_fee_percent"] = [
            str(_l("An application fee needs connect mode (direct charges)."))
        ]
    methods = _valid_methods(["card"] if payment_methods is None else payment_methods, errors)
    if errors:
        raise ValidationFailed(_l("The gateway settings are not valid."), fields=errors)

    row = gateway_settings()
    if row not in db.session:
        db.session.add(row)
    row.enabled = enabled_value
    row.mode = mode_value
    row.connected_account_id = account or None
    row.application_fee_percent = fee
    row.payment_methods = methods
    db.session.flush()
    return row


def connected_account_of(settings: GatewaySettings) -> str | None:
    """The ``Stripe-Account`` to act on: the tenant's account in connect mode, else none."""
    if settings.mode == GatewayMode.CONNECT:
        return settings.connected_account_id or None
    return None


def application_fee_fen(settings: GatewaySettings, amount_fen: int) -> int | None:
    """The platform fee in fen (half-up) for a direct charge, or None (platform mode / 0)."""
    if settings.mode != GatewayMode.CONNECT or not settings.application_fee_percent:
        return None
    fee = (Decimal(amount_fen) * Decimal(settings.application_fee_percent) / 100).quantize(
        Decimal("1"), rounding="ROUND_HALF_UP"
    )
    return int(fee) or None


def active_gateway() -> tuple[PaymentGateway, GatewaySettings]:
    """The gateway to use for the current tenant and its settings; ``GatewayNotConfigured``
    when online payment is disabled, incomplete, or the deployment has no Stripe key."""
    from ruihe_saas.payments.stripe_gateway import StripeGateway

    settings = gateway_settings()
    if not settings.enabled:
        raise GatewayNotConfigured(
            str(_l("Online payment is not enabled.")), code="gateway_disabled"
        )
    if settings.mode == GatewayMode.CONNECT and not settings.connected_account_id:
        raise GatewayNotConfigured(
            str(_l("Online payment is not configured.")), code="gateway_incomplete"
        )
    if not current_app.config.get("STRIPE_SECRET_KEY"):
        raise GatewayNotConfigured(
            str(_l("Online payment is not configured.")), code="no_secret_key"
        )
    return StripeGateway(), settings
