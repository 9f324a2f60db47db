"""Marshmallow schemas of the cash-up API. Money travels as decimal strings ("1234.50")."""

from __future__ import annotations

from datetime import date

import marshmallow as ma

from ruihe_saas.cashup.services import MAX_NOTE

DAY_RANGE = ma.validate.Range(
    min=date(2000, 1, 1), max=date(2100, 12, 31), error="Use a date between 2000 and 2100."
)


def money(description: str = "", **kwargs) -> ma.fields.Decimal:
    metadata = {"type": "string", "format": "decimal", "example": "1234.50"}
    if description:
        metadata["description"] = description
    return ma.fields.Decimal(as_string=True, places=2, metadata=metadata, **kwargs)


def day_field(description: str, **kwargs) -> ma.fields.Date:
    return ma.fields.Date(
        validate=DAY_RANGE, metadata={"description": description, "example": "2024-07-31"}, **kwargs
    )


class DayArgs(ma.Schema):
    date = day_field("The business day (default: today, tenant-local).", load_default=None)
    cashier_id = ma.fields.UUID(
        load_default=None,
        metadata={"description": "Default: the caller. Cashiers may name only themselves."},
    )


class DaysArgs(ma.Schema):
    from_ = day_field(
        "First day (default: 30 days before `to`).", load_default=None, data_key="from"
    )
    to = day_field("Last day (default: today). At most 366 days.", load_default=None)
    cashier_id = ma.fields.UUID(
        load_default=None,
        metadata={"description": "One cashier (finance/owner: default everyone)."},
    )


class CloseSchema(ma.Schema):
    date = day_field("The business day to close; not in the future.", required=True)
    cashier_id = ma.fields.UUID(
        load_default=None, metadata={"description": "Default: the caller (finance: anyone)."}
    )
    note = ma.fields.String(load_default="", validate=ma.validate.Length(max=MAX_NOTE))


class MethodTotalsSchema(ma.Schema):
    method = ma.fields.String(metadata={"description": "cash, bank_transfer, pos_card, …"})
    count = ma.fields.Integer(metadata={"description": "Payments received."})
    received = money("Sum of the payments received.")
    refund_count = ma.fields.Integer()
    refunded = money("Sum of the succeeded refunds made.")
    net = money("received − refunded.")


class PaymentRowSchema(ma.Schema):
    payment_id = ma.fields.UUID()
    receipt_number = ma.fields.String(allow_none=True)
    receipt_status = ma.fields.String(allow_none=True)
    household_id = ma.fields.UUID()
    building = ma.fields.String()
    unit = ma.fields.String()
    room = ma.fields.String()
    household_label = ma.fields.String()
    method = ma.fields.String()
    reference = ma.fields.String()
    amount = money()
    refunded = money("Refunded of this payment so far (any day).")
    paid_at = ma.fields.DateTime()


class RefundRowSchema(ma.Schema):
    refund_id = ma.fields.UUID()
    payment_id = ma.fields.UUID()
    receipt_number = ma.fields.String(allow_none=True)
    household_id = ma.fields.UUID()
    building = ma.fields.String()
    unit = ma.fields.String()
    room = ma.fields.String()
    household_label = ma.fields.String()
    method = ma.fields.String(metadata={"description": "The payment method it counts under."})
    refund_method = ma.fields.String()
    amount = money()
    reason = ma.fields.String()
    refunded_at = ma.fields.DateTime()


class DaySummarySchema(ma.Schema):
    cashier_id = ma.fields.UUID()
    cashier_name = ma.fields.String()
    date = ma.fields.Date(attribute="business_date")
    closed = ma.fields.Boolean()
    closed_at = ma.fields.DateTime(allow_none=True)
    closed_by = ma.fields.UUID(allow_none=True)
    closed_by_name = ma.fields.String()
    note = ma.fields.String()
    methods = ma.fields.List(
        ma.fields.Nested(MethodTotalsSchema),
        metadata={"description": "Per method; the frozen figures when the day is closed."},
    )
    total = ma.fields.Nested(MethodTotalsSchema)
    differences = ma.fields.List(
        ma.fields.String(),
        metadata={"description": "Closed day: methods whose recomputation differs (none)."},
    )
    receipt_first = ma.fields.String(allow_none=True)
    receipt_last = ma.fields.String(allow_none=True)
    payments = ma.fields.List(ma.fields.Nested(PaymentRowSchema))
    refunds = ma.fields.List(ma.fields.Nested(RefundRowSchema))


class ClosedDaySchema(ma.Schema):
    id = ma.fields.UUID()
    cashier_id = ma.fields.UUID()
    cashier_name = ma.fields.String()
    date = ma.fields.Date(attribute="business_date")
    payment_count = ma.fields.Integer()
    received = money()
    refunded = money()
    net = money()
    totals = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Dict(),
        metadata={"description": "Frozen per method: count, received, refund_count, …"},
    )
    closed_at = ma.fields.DateTime()
    closed_by = ma.fields.UUID(allow_none=True)
    closed_by_name = ma.fields.String()
    note = ma.fields.String()


class ClosedDaysSchema(ma.Schema):
    from_ = ma.fields.Date(data_key="from")
    to = ma.fields.Date()
    items = ma.fields.List(ma.fields.Nested(ClosedDaySchema))
