"""Refunds API schemas. Money travels as strings with two decimals ("123.45"); an amount
sent in may be a decimal string or a JSON number, checked by the service (> 0, at most 2
decimals, at most what is left to refund)."""

from __future__ import annotations

import marshmallow as ma

from ruihe_saas.billing.schemas import money
from ruihe_saas.payments.models import RefundMethod, RefundStatus
from ruihe_saas.payments.schemas import AmountField
from ruihe_saas.refunds.services import MAX_KEY, MAX_REASON, MAX_REFERENCE
from ruihe_saas.web.pagination import PageArgs

METHOD_VALUES = [method.value for method in RefundMethod]


class RefundCreateSchema(ma.Schema):
    amount = AmountField(
        required=True,
        description="Yuan, greater than 0, at most 2 decimals, at most what is left to refund "
        "of the payment.",
    )
    reason = ma.fields.String(
        required=True,
        validate=[
            ma.validate.Length(min=1, max=MAX_REASON),
            ma.validate.Regexp(r"\S", error="Must not be blank."),
        ],
        metadata={"description": "Why the money goes back (required)."},
    )
    method = ma.fields.String(
        load_default=None,
        allow_none=True,
        validate=ma.validate.OneOf(METHOD_VALUES),
        metadata={
            "enum": METHOD_VALUES,
            "description": "Online payments: gateway (the default, the only choice). Desk "
            "payments: original (the default), cash or bank_transfer.",
        },
    )
    reference = ma.fields.String(
        load_default="",
        validate=ma.validate.Length(max=MAX_REFERENCE),
        metadata={"description": "Transfer number or slip of a desk refund."},
    )


class RefundIdempotencyHeaders(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    idempotency_key = ma.fields.String(
        data_key="Idempotency-Key",
        load_default=None,
        validate=ma.validate.Length(min=1, max=MAX_KEY),
        metadata={"description": "Makes a retried POST return the first refund."},
    )


class RefundListArgs(PageArgs):
    estate_id = ma.fields.UUID(load_default=None)
    household_id = ma.fields.UUID(load_default=None)
    payment_id = ma.fields.UUID(load_default=None)
    start = ma.fields.Date(data_key="from", load_default=None)
    end = ma.fields.Date(data_key="to", load_default=None)
    status = ma.fields.Enum(RefundStatus, by_value=True, load_default=None)
    method = ma.fields.Enum(RefundMethod, by_value=True, load_default=None)

    @ma.validates_schema
    def _ordered(self, data, **kwargs):
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise ma.ValidationError("Must not be before the start date.", "to")


class AllocationReversalSchema(ma.Schema):
    bill_id = ma.fields.UUID(dump_only=True)
    bill_line_id = ma.fields.UUID(dump_only=True)
    bill_number = ma.fields.String(dump_only=True)
    period = ma.fields.String(dump_only=True)
    line_name = ma.fields.String(dump_only=True)
    amount = money(metadata={"description": "> 0 taken back from the line; < 0 restored."})
    reversed_at = ma.fields.DateTime(dump_only=True)


class RefundSchema(ma.Schema):
    """A refund as listed (without its reversals)."""

    id = ma.fields.UUID(dump_only=True)
    payment_id = ma.fields.UUID(dump_only=True)
    household_id = ma.fields.UUID(dump_only=True)
    household_label = ma.fields.String(dump_only=True)
    estate_id = ma.fields.UUID(dump_only=True)
    amount = money()
    from_credit = money(metadata={"description": "Taken from the payment's prepaid credit."})
    from_bills = money(metadata={"description": "Taken back from bills (they reopen)."})
    method = ma.fields.Enum(RefundMethod, by_value=True, dump_only=True)
    status = ma.fields.Enum(RefundStatus, by_value=True, dump_only=True)
    reason = ma.fields.String(dump_only=True)
    reference = ma.fields.String(dump_only=True)
    refunded_at = ma.fields.DateTime(dump_only=True)
    business_date = ma.fields.Date(dump_only=True, allow_none=True)
    gateway_refund_id = ma.fields.String(dump_only=True, allow_none=True)
    created_by = ma.fields.UUID(dump_only=True, allow_none=True)


class RefundDetailSchema(RefundSchema):
    reversals = ma.fields.List(ma.fields.Nested(AllocationReversalSchema), dump_only=True)
