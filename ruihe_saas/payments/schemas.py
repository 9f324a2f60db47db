"""Payments API schemas: recording a desk payment, listing and showing payments.

Money travels as strings with two decimals ("123.45"). An amount sent in may be a decimal
string or a JSON number; more than two decimals is a 422 (never rounded away).
"""

from __future__ import annotations

import marshmallow as ma

from ruihe_saas.billing.schemas import money
from ruihe_saas.payments.desk import MAX_KEY, MAX_NOTE, MAX_REFERENCE
from ruihe_saas.payments.models import DESK_METHODS, PaymentMethod, ReceiptStatus
from ruihe_saas.web.pagination import PageArgs

DESK_METHOD_VALUES = [method.value for method in DESK_METHODS]


class AmountField(ma.fields.Field):
    """An amount in yuan as a decimal string ("123.45") or a number; passed on as text for
    the service to check (> 0, at most 2 decimals)."""

    default_error_messages = {"invalid": "Not a valid amount."}

    def __init__(self, description: str = "Yuan, greater than 0, at most 2 decimals.", **kwargs):
        super().__init__(
            metadata={
                "oneOf": [
                    {"type": "string", "pattern": r"^\d{1,12}(\.\d{1,2})?$", "example": "120.50"},
                    {
                        "type": "number",
                        "minimum": 0.01,
                        "maximum": 999999999999.99,
                        "multipleOf": 0.01,
                    },
                ],
                "description": description,
            },
            **kwargs,
        )

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.make_error("invalid")
        text = value.strip() if isinstance(value, str) else repr(value)
        if not text or len(text) > 40:
            raise self.make_error("invalid")
        return text


class PaymentCreateSchema(ma.Schema):
    household_id = ma.fields.UUID(required=True)
    amount = AmountField(required=True)
    method = ma.fields.String(
        required=True,
        validate=ma.validate.OneOf(DESK_METHOD_VALUES),
        metadata={"enum": DESK_METHOD_VALUES, "description": "A desk method (not online)."},
    )
    reference = ma.fields.String(
        load_default="",
        validate=ma.validate.Length(max=MAX_REFERENCE),
        metadata={
            "description": "Transfer, POS slip or QR transaction number; required unless cash."
        },
    )
    bill_ids = ma.fields.List(
        ma.fields.UUID(),
        load_default=None,
        validate=ma.validate.Length(min=1, max=500),
        metadata={
            "description": "Bills of this household to settle (else oldest outstanding first)."
        },
    )
    paid_at = ma.fields.DateTime(
        load_default=None,
        metadata={
            "description": "When it was paid (default now; not in the future; without a "
            "time zone: the tenant's local time)."
        },
    )
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=MAX_NOTE))


class PaymentIdempotencyHeaders(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    idempotency_key = ma.fields.String(
        data_key="Idempotency-Key",
        load_default=None,
        validate=ma.validate.Length(min=1, max=MAX_KEY),
        metadata={
            "description": "Makes a retried POST return the first payment instead of a new one."
        },
    )


class PaymentListArgs(PageArgs):
    household_id = ma.fields.UUID(load_default=None)
    estate_id = ma.fields.UUID(load_default=None)
    method = ma.fields.Enum(PaymentMethod, by_value=True, load_default=None)
    date_from = ma.fields.Date(data_key="from", load_default=None)
    date_to = ma.fields.Date(data_key="to", load_default=None)
    cashier_id = ma.fields.UUID(load_default=None)

    @ma.validates_schema
    def _ordered(self, data, **kwargs):
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise ma.ValidationError("Must not be before the start date.", "to")


class AllocationSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    bill_id = ma.fields.UUID(dump_only=True)
    bill_number = ma.fields.String(dump_only=True)
    period = ma.fields.String(dump_only=True)
    bill_line_id = ma.fields.UUID(dump_only=True)
    fee_item = ma.fields.String(dump_only=True, metadata={"description": "The line's name."})
    fee_item_code = ma.fields.String(dump_only=True)
    amount = money()
    reversed = money(metadata={"description": "Taken back by refunds."})
    source = ma.fields.String(dump_only=True, metadata={"enum": ["payment", "prepaid_credit"]})
    allocated_at = ma.fields.DateTime(dump_only=True)


class PaymentSchema(ma.Schema):
    """A payment as listed (without its allocations)."""

    id = ma.fields.UUID(dump_only=True)
    receipt_number = ma.fields.String(dump_only=True, allow_none=True)
    receipt_status = ma.fields.String(
        dump_only=True, allow_none=True, metadata={"enum": [s.value for s in ReceiptStatus]}
    )
    amount = money()
    unallocated = money(metadata={"description": "Prepaid credit (预收) left on the payment."})
    refunded = money()
    method = ma.fields.String(
        dump_only=True, metadata={"enum": [method.value for method in PaymentMethod]}
    )
    reference = ma.fields.String(dump_only=True)
    note = ma.fields.String(dump_only=True)
    paid_at = ma.fields.DateTime(dump_only=True)
    business_date = ma.fields.Date(dump_only=True, allow_none=True)
    household_id = ma.fields.UUID(dump_only=True)
    household_label = ma.fields.String(dump_only=True)
    estate_id = ma.fields.UUID(dump_only=True)
    estate_name = ma.fields.String(dump_only=True)
    received_by = ma.fields.UUID(dump_only=True, allow_none=True)
    cashier_name = ma.fields.String(dump_only=True)


class PaymentDetailSchema(PaymentSchema):
    allocations = ma.fields.List(ma.fields.Nested(AllocationSchema), dump_only=True)
