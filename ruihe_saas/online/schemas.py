"""Marshmallow schemas of the online payment API. Money travels as decimal strings."""

from __future__ import annotations

import marshmallow as ma

from ruihe_saas.payments.models import CheckoutStatus, GatewayMode, PayoutStatus

PAYMENT_METHODS = ("card", "alipay", "wechat_pay")
DECIMAL = {"type": "string", "format": "decimal"}


def decimal_out(example: str) -> ma.fields.Decimal:
    """A decimal as a string with 2 places ("1234.50")."""
    return ma.fields.Decimal(as_string=True, places=2, metadata={**DECIMAL, "example": example})


class GatewaySettingsInSchema(ma.Schema):
    enabled = ma.fields.Boolean(required=True)
    mode = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf([m.value for m in GatewayMode]),
        metadata={"description": "connect (Stripe Connect direct charges) or platform"},
    )
    connected_account_id = ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=ma.validate.Length(max=100),
        metadata={"example": "acct_1Nv0FGQ9RKHgCVdK", "description": "Required in connect mode."},
    )
    application_fee_percent = ma.fields.Decimal(
        load_default=None,
        allow_none=True,
        allow_nan=False,
        metadata={"type": "string", "example": "1.50", "description": "0 ≤ x < 100, 2 decimals"},
    )
    payment_methods = ma.fields.List(
        ma.fields.String(validate=ma.validate.Length(max=20)),
        required=True,
        validate=ma.validate.Length(min=1, max=3),
        metadata={"example": ["card", "alipay"], "description": "card, alipay, wechat_pay"},
    )


class GatewaySettingsSchema(ma.Schema):
    enabled = ma.fields.Boolean()
    mode = ma.fields.Function(lambda s: s.mode.value if s.mode else None)
    connected_account_id = ma.fields.String(allow_none=True)
    application_fee_percent = decimal_out("1.50")
    payment_methods = ma.fields.List(ma.fields.String())
    secret_key_configured = ma.fields.Boolean(
        metadata={"description": "Whether STRIPE_SECRET_KEY is set (never its value)."}
    )
    webhook_secret_configured = ma.fields.Boolean(
        metadata={"description": "Whether STRIPE_WEBHOOK_SECRET is set (never its value)."}
    )


class PayLinkSchema(ma.Schema):
    url = ma.fields.String(metadata={"description": "The resident's pay page (absolute URL)."})
    expires_at = ma.fields.DateTime()


class CheckoutSessionArgs(ma.Schema):
    household_id = ma.fields.UUID(required=True)


class CheckoutSessionSchema(ma.Schema):
    id = ma.fields.UUID()
    household_id = ma.fields.UUID()
    estate_id = ma.fields.UUID()
    bill_ids = ma.fields.List(ma.fields.String())
    amount = decimal_out("200.50")
    currency = ma.fields.String()
    attempt = ma.fields.Integer()
    status = ma.fields.Function(
        lambda s: s.status.value if s.status else None,
        metadata={"enum": [s.value for s in CheckoutStatus]},
    )
    provider = ma.fields.String()
    gateway_session_id = ma.fields.String(allow_none=True)
    gateway_payment_id = ma.fields.String(allow_none=True)
    url = ma.fields.String(allow_none=True)
    payment_id = ma.fields.UUID(allow_none=True)
    created_at = ma.fields.DateTime()
    completed_at = ma.fields.DateTime(allow_none=True)


class GatewayPayoutSchema(ma.Schema):
    id = ma.fields.UUID()
    payout_id = ma.fields.String(metadata={"example": "po_1Nv0FGQ9RKHgCVdK"})
    connected_account_id = ma.fields.String(allow_none=True)
    amount = decimal_out("9940.00")
    fees = decimal_out("60.00")
    gross = decimal_out("10000.00")
    currency = ma.fields.String(metadata={"example": "cny"})
    arrival_date = ma.fields.Date()
    status = ma.fields.Function(
        lambda p: p.status.value if p.status else None,
        metadata={"enum": [s.value for s in PayoutStatus]},
    )
    journal_entry_id = ma.fields.UUID()
    failed_on = ma.fields.Date(
        allow_none=True, metadata={"description": "failed: when the bank's return was learnt"}
    )
    reversal_entry_id = ma.fields.UUID(
        allow_none=True, metadata={"description": "failed: the entry reversing the payout's"}
    )
    source = ma.fields.String(metadata={"description": "reconcile or webhook"})
    recorded_at = ma.fields.DateTime()
