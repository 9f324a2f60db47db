"""Billing API schemas: bills with their lines and credits, voids, statements, billing runs.

Money travels as strings with two decimals ("123.45"); quantities and rates as decimal
strings without trailing zeros ("86.5", "0.6"); never binary floats.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import marshmallow as ma

from ruihe_saas.billing.bills import MAX_REASON
from ruihe_saas.billing.models import BillStatus, RunStatus
from ruihe_saas.billing.periods import Period, PeriodError
from ruihe_saas.fees.models import ChargeKind, RevenueCategory
from ruihe_saas.web.pagination import PageArgs

DECIMAL_DOC = {"type": "string", "format": "decimal"}


def money(metadata: dict | None = None, **kwargs):
    return ma.fields.Decimal(
        as_string=True,
        places=2,
        rounding=ROUND_HALF_UP,
        dump_only=True,
        metadata={**DECIMAL_DOC, "example": "123.45", **(metadata or {})},
        **kwargs,
    )


class TrimmedDecimal(ma.fields.Field):
    """A decimal dumped as a string without trailing zeros ("86.5", "1", "0.6")."""

    def __init__(self, **kwargs):
        super().__init__(dump_only=True, metadata={**DECIMAL_DOC, "example": "86.5"}, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        text = format(Decimal(value), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text


def _validate_period(value: str) -> None:
    try:
        Period.parse(value)
    except PeriodError as error:
        raise ma.ValidationError(str(error)) from None


def period_field(**kwargs):
    return ma.fields.String(
        validate=_validate_period,
        metadata={"example": "2024-07", "pattern": r"^\d{4}-\d{2}$"},
        **kwargs,
    )


# --- bills ---------------------------------------------------------------------------------


class BillListArgs(PageArgs):
    estate_id = ma.fields.UUID(load_default=None)
    building_id = ma.fields.UUID(load_default=None)
    household_id = ma.fields.UUID(load_default=None)
    period = period_field(load_default=None)
    status = ma.fields.Enum(BillStatus, by_value=True, load_default=None)


class BillSchema(ma.Schema):
    """A bill as listed (without its lines)."""

    id = ma.fields.UUID(dump_only=True)
    number = ma.fields.String(dump_only=True)
    household_id = ma.fields.UUID(dump_only=True)
    household_label = ma.fields.String(dump_only=True)
    estate_id = ma.fields.UUID(dump_only=True)
    building_id = ma.fields.UUID(dump_only=True)
    billing_run_id = ma.fields.UUID(dump_only=True, allow_none=True)
    period = ma.fields.String(dump_only=True)
    status = ma.fields.Enum(BillStatus, by_value=True, dump_only=True)
    amount = money()
    credited = money()
    paid = money()
    outstanding = money()
    due_date = ma.fields.Date(dump_only=True)
    issued_on = ma.fields.Date(dump_only=True)


class BillLineSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    fee_item_id = ma.fields.UUID(dump_only=True)
    fee_item_code = ma.fields.String(dump_only=True)
    name = ma.fields.String(dump_only=True)
    revenue_category = ma.fields.Enum(RevenueCategory, by_value=True, dump_only=True)
    charge_kind = ma.fields.Enum(ChargeKind, by_value=True, dump_only=True)
    quantity = TrimmedDecimal()
    unit = ma.fields.String(dump_only=True)
    rate = TrimmedDecimal()
    months = ma.fields.Integer(dump_only=True)
    days = ma.fields.Integer(dump_only=True)
    period_days = ma.fields.Integer(dump_only=True)
    gross = money()
    discount = money()
    amount = money()
    credited = money()
    paid = money()
    outstanding = money()
    formula = ma.fields.String(dump_only=True)


class BillCreditSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    bill_line_id = ma.fields.UUID(dump_only=True)
    amount = money()
    reason = ma.fields.String(dump_only=True)
    credited_on = ma.fields.Date(dump_only=True)
    created_by = ma.fields.UUID(dump_only=True, allow_none=True)


class BillDetailSchema(BillSchema):
    late_fee = money(
        attribute="late_fee.amount",
        metadata={
            "description": "Late fee (滞纳金) accrued as of today: informational, not billed; "
            "0.00 unless the fee schedule enables late fees.",
        },
    )
    lines = ma.fields.List(ma.fields.Nested(BillLineSchema), dump_only=True)
    credits = ma.fields.List(ma.fields.Nested(BillCreditSchema), dump_only=True)


class VoidSchema(ma.Schema):
    reason = ma.fields.String(
        required=True,
        validate=[
            ma.validate.Length(min=1, max=MAX_REASON),
            ma.validate.Regexp(r"\S", error="Must not be blank."),
        ],
        metadata={"description": "Why the bill or line is voided (红冲)."},
    )


# --- statements ----------------------------------------------------------------------------


class StatementArgs(ma.Schema):
    start = ma.fields.Date(data_key="from", load_default=None)
    end = ma.fields.Date(data_key="to", load_default=None)

    @ma.validates_schema
    def _ordered(self, data, **kwargs):
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise ma.ValidationError("Must not be before the start date.", "to")


class StatementEntrySchema(ma.Schema):
    date = ma.fields.Date(attribute="on", dump_only=True)
    kind = ma.fields.String(
        dump_only=True, validate=ma.validate.OneOf(["bill", "credit", "payment", "refund"])
    )
    amount = money(metadata={"description": "+ owed (bill, refund), − credit or payment"})
    balance = money()
    bill_id = ma.fields.UUID(dump_only=True, allow_none=True)
    bill_number = ma.fields.String(dump_only=True, allow_none=True)
    period = ma.fields.String(dump_only=True, allow_none=True)
    line_name = ma.fields.String(dump_only=True, allow_none=True)
    reason = ma.fields.String(dump_only=True, allow_none=True)
    payment_id = ma.fields.UUID(dump_only=True, allow_none=True)
    method = ma.fields.String(dump_only=True, allow_none=True)
    reference = ma.fields.String(dump_only=True, allow_none=True)


class StatementTotalsSchema(ma.Schema):
    billed = money()
    credited = money()
    paid = money()
    refunded = money()
    outstanding = money()
    prepaid_credit = money()


class StatementSchema(ma.Schema):
    household_id = ma.fields.UUID(dump_only=True)
    start = ma.fields.Date(data_key="from", dump_only=True, allow_none=True)
    end = ma.fields.Date(data_key="to", dump_only=True, allow_none=True)
    opening_balance = money()
    closing_balance = money(metadata={"description": "> 0: owed; < 0: paid ahead (prepaid)"})
    totals = ma.fields.Nested(StatementTotalsSchema, dump_only=True)
    entries = ma.fields.List(ma.fields.Nested(StatementEntrySchema), dump_only=True)


# --- billing runs --------------------------------------------------------------------------


class BillingRunStartSchema(ma.Schema):
    period = period_field(required=True)
    dry_run = ma.fields.Boolean(load_default=False)


class RunListArgs(PageArgs):
    pass


class ProgressSchema(ma.Schema):
    done = ma.fields.Integer()
    total = ma.fields.Integer()


class RunTotalSchema(ma.Schema):
    name = ma.fields.String()
    amount = ma.fields.String(metadata={**DECIMAL_DOC, "example": "123.45"})
    lines = ma.fields.Integer()


class RunWarningSchema(ma.Schema):
    code = ma.fields.String()
    message = ma.fields.String()
    household_id = ma.fields.String(allow_none=True)


class PreviewLineSchema(ma.Schema):
    fee_item_code = ma.fields.String()
    name = ma.fields.String()
    quantity = ma.fields.String()
    unit = ma.fields.String()
    rate = ma.fields.String()
    days = ma.fields.Integer()
    period_days = ma.fields.Integer()
    amount = ma.fields.String()
    formula = ma.fields.String()


class PreviewBillSchema(ma.Schema):
    household_id = ma.fields.String()
    household = ma.fields.String()
    amount = ma.fields.String()
    lines = ma.fields.List(ma.fields.Nested(PreviewLineSchema))


class PreviewBuildingSchema(ma.Schema):
    building_id = ma.fields.String(allow_none=True)
    building = ma.fields.String()
    amount = ma.fields.String()
    bills = ma.fields.Integer()


class PreviewSchema(ma.Schema):
    by_building = ma.fields.List(ma.fields.Nested(PreviewBuildingSchema))
    bills = ma.fields.List(ma.fields.Nested(PreviewBillSchema))


class BillingRunSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    estate_id = ma.fields.UUID(dump_only=True)
    period = ma.fields.String(dump_only=True)
    dry_run = ma.fields.Boolean(dump_only=True)
    status = ma.fields.Enum(RunStatus, by_value=True, dump_only=True)
    job_id = ma.fields.UUID(dump_only=True, allow_none=True)
    created_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    started_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    finished_at = ma.fields.DateTime(dump_only=True, allow_none=True)
    progress = ma.fields.Nested(ProgressSchema, dump_only=True)
    households_billed = ma.fields.Integer(dump_only=True)
    bills_created = ma.fields.Integer(dump_only=True)
    lines_created = ma.fields.Integer(dump_only=True)
    total_amount = money()
    totals = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Nested(RunTotalSchema),
        dump_only=True,
        allow_none=True,
        metadata={"description": "Per fee item code: name, amount and number of lines."},
    )
    preview = ma.fields.Nested(
        PreviewSchema,
        dump_only=True,
        allow_none=True,
        metadata={"description": "Dry runs: per building, and the first bills with lines."},
    )
    warnings = ma.fields.List(ma.fields.Nested(RunWarningSchema), dump_only=True, allow_none=True)
    error = ma.fields.String(dump_only=True, allow_none=True)

    def get_attribute(self, obj, attr, default):
        if attr == "progress":
            return {"done": obj.progress_done or 0, "total": obj.progress_total or 0}
        return super().get_attribute(obj, attr, default)
