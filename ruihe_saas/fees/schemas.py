"""Schemas of the fees API. Input schemas check types; the services check the rules (ranges,
what each charge kind needs, references to the estate's rows). Errors of nested values are
keyed by their path, e.g. ``items.0.rate``, like the services' errors. Money and rates travel
as decimal strings."""

from __future__ import annotations

from decimal import ROUND_HALF_UP

import marshmallow as ma

from ruihe_saas.billing.periods import PERIOD_PATTERN
from ruihe_saas.estates.models import Occupancy
from ruihe_saas.fees.models import (
    AdjustmentKind,
    BillingFrequency,
    ChargeKind,
    MeterKind,
    RevenueCategory,
    SplitBasis,
    StageApplicability,
)
from ruihe_saas.imports.schemas import UploadedFile
from ruihe_saas.web.pagination import PageArgs

PERIOD_FIELD = {
    "validate": ma.validate.Regexp(PERIOD_PATTERN, error="Use the form YYYY-MM."),
    "metadata": {"example": "2024-07", "pattern": PERIOD_PATTERN.pattern},
}


def _money(places: int = 2, metadata: dict | None = None, **kwargs):
    return ma.fields.Decimal(
        as_string=True,
        places=places,
        rounding=ROUND_HALF_UP,
        metadata={"type": "string", "format": "decimal", **(metadata or {})},
        **kwargs,
    )


def _number_in(metadata: dict | None = None, **kwargs):
    """A decimal input: a JSON number or a decimal string (never NaN or infinite)."""
    return ma.fields.Decimal(metadata={"format": "decimal", **(metadata or {})}, **kwargs)


def _flatten(messages, prefix: str = "") -> dict:
    if not isinstance(messages, dict):
        return {prefix or "_schema": messages}
    flat: dict = {}
    for key, value in messages.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(_flatten(value, path))
        else:
            flat[path] = value
    return flat


class InputSchema(ma.Schema):
    """Nested errors flattened to dotted paths (``items.0.rate``)."""

    def handle_error(self, error, data, *, many, **kwargs):
        raise ma.ValidationError(_flatten(error.messages))


def _enum(enum_cls, **kwargs):
    return ma.fields.Enum(enum_cls, by_value=True, **kwargs)


def _id_list(**kwargs):
    return ma.fields.List(ma.fields.String(validate=ma.validate.Length(max=64)), **kwargs)


# --- fee schedules -----------------------------------------------------------------------------


class FeeItemInputSchema(InputSchema):
    code = ma.fields.String(required=True, metadata={"example": "property_service"})
    name = ma.fields.String(required=True, metadata={"example": "物业服务费"})
    revenue_category = _enum(RevenueCategory)
    frequency = _enum(BillingFrequency)
    due_day = ma.fields.Integer()
    due_days = ma.fields.Integer()
    charge_kind = _enum(ChargeKind, required=True)
    rate = _number_in(required=True, metadata={"example": "0.60"})
    fixed_part = _number_in(allow_none=True)
    unit = ma.fields.String(allow_none=True)
    meter_kind = _enum(MeterKind, allow_none=True)
    shared_meter_id = ma.fields.UUID(allow_none=True)
    split_basis = _enum(SplitBasis, allow_none=True)
    occupied_only = ma.fields.Boolean()
    charge_period = ma.fields.String(allow_none=True, metadata={"example": "2024-07"})
    household_ids = ma.fields.List(ma.fields.UUID(), allow_none=True)
    building_ids = ma.fields.List(ma.fields.UUID(), allow_none=True)
    lift_only = ma.fields.Boolean()
    min_floor = ma.fields.Integer(allow_none=True)
    category_ids = _id_list(
        allow_none=True, metadata={"description": "Household categories, by id or code."}
    )
    occupancies = ma.fields.List(_enum(Occupancy), allow_none=True)
    vacant_rate_percent = _number_in(allow_none=True)


class FeeScheduleInputSchema(InputSchema):
    name = ma.fields.String(required=True, metadata={"example": "2024年收费标准"})
    stages = _enum(StageApplicability)
    effective_from = ma.fields.Date(required=True)
    effective_to = ma.fields.Date(allow_none=True)
    prepay_months = ma.fields.Integer(allow_none=True)
    prepay_discount_percent = _number_in(allow_none=True)
    prepay_free_months = ma.fields.Integer(allow_none=True)
    late_fee_enabled = ma.fields.Boolean()
    late_fee_daily_rate = _number_in(allow_none=True)
    late_fee_grace_days = ma.fields.Integer(allow_none=True)
    late_fee_cap_percent = _number_in(allow_none=True)
    notes = ma.fields.String(allow_none=True)
    items = ma.fields.List(ma.fields.Nested(FeeItemInputSchema), required=True)


class FeeScheduleRevisionSchema(FeeScheduleInputSchema):
    """Use as ``FeeScheduleRevisionSchema(partial=REVISION_PARTIAL)``: only
    ``effective_from`` is required; what is left out keeps the revised version's value."""


REVISION_PARTIAL = tuple(
    name for name in FeeScheduleInputSchema._declared_fields if name != "effective_from"
)


class FeeItemSchema(ma.Schema):
    id = ma.fields.UUID()
    position = ma.fields.Integer()
    code = ma.fields.String()
    name = ma.fields.String()
    revenue_category = _enum(RevenueCategory)
    frequency = _enum(BillingFrequency)
    due_day = ma.fields.Integer()
    due_days = ma.fields.Integer()
    charge_kind = _enum(ChargeKind)
    rate = _money(4)
    fixed_part = _money()
    unit = ma.fields.String()
    meter_kind = _enum(MeterKind, allow_none=True)
    shared_meter_id = ma.fields.UUID(allow_none=True)
    split_basis = _enum(SplitBasis, allow_none=True)
    occupied_only = ma.fields.Boolean()
    charge_period = ma.fields.String(allow_none=True)
    household_ids = ma.fields.List(ma.fields.String(), allow_none=True)
    building_ids = ma.fields.List(ma.fields.String(), allow_none=True)
    lift_only = ma.fields.Boolean()
    min_floor = ma.fields.Integer(allow_none=True)
    category_ids = ma.fields.List(ma.fields.String(), allow_none=True)
    occupancies = ma.fields.List(ma.fields.String(), allow_none=True)
    vacant_rate_percent = _money()


class FeeScheduleSchema(ma.Schema):
    id = ma.fields.UUID()
    estate_id = ma.fields.UUID()
    lineage_id = ma.fields.UUID()
    version = ma.fields.Integer()
    name = ma.fields.String()
    stages = _enum(StageApplicability)
    effective_from = ma.fields.Date()
    effective_to = ma.fields.Date(allow_none=True)
    status = ma.fields.String(
        metadata={"enum": ["current", "future", "ended", "superseded"], "description": "Today."}
    )
    is_latest = ma.fields.Boolean(metadata={"description": "The latest version of its lineage."})
    prepay_months = ma.fields.Integer(allow_none=True)
    prepay_discount_percent = _money(allow_none=True)
    prepay_free_months = ma.fields.Integer(allow_none=True)
    late_fee_enabled = ma.fields.Boolean()
    late_fee_daily_rate = _money(6)
    late_fee_grace_days = ma.fields.Integer()
    late_fee_cap_percent = _money()
    notes = ma.fields.String()
    copied_from_id = ma.fields.UUID(allow_none=True)
    superseded_by_id = ma.fields.UUID(allow_none=True)
    created_at = ma.fields.DateTime()
    items = ma.fields.List(ma.fields.Nested(FeeItemSchema))


class DroppedSchema(ma.Schema):
    code = ma.fields.String()
    name = ma.fields.String()
    what = ma.fields.String(metadata={"enum": ["item", "building_ids"]})
    reason = ma.fields.String()


class FeeScheduleCopySchema(FeeScheduleSchema):
    dropped = ma.fields.List(
        ma.fields.Nested(DroppedSchema),
        metadata={"description": "What pointed at the source estate and was left out."},
    )


class ScheduleListArgs(PageArgs):
    in_force_on = ma.fields.Date(
        load_default=None,
        metadata={"description": "Only the versions in force on this day (not paginated)."},
    )


class CopyInputSchema(InputSchema):
    estate_id = ma.fields.UUID(required=True, metadata={"description": "The target estate."})
    effective_from = ma.fields.Date(required=True)
    name = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=100))


# --- adjustments, shared meters ----------------------------------------------------------------


class AdjustmentInputSchema(InputSchema):
    household_id = ma.fields.UUID(allow_none=True)
    category = ma.fields.String(
        allow_none=True,
        validate=ma.validate.Length(max=64),
        metadata={"description": "A household category's code or id (instead of a household)."},
    )
    fee_item_code = ma.fields.String(allow_none=True, metadata={"description": "None: all."})
    kind = _enum(AdjustmentKind, required=True)
    value = _number_in(required=True, metadata={"description": "% (percent) or 元/month."})
    reason = ma.fields.String(required=True)
    valid_from = ma.fields.Date(required=True)
    valid_to = ma.fields.Date(allow_none=True)


class AdjustmentSchema(ma.Schema):
    id = ma.fields.UUID()
    estate_id = ma.fields.UUID()
    household_id = ma.fields.UUID(allow_none=True)
    category_id = ma.fields.UUID(allow_none=True)
    fee_item_code = ma.fields.String(allow_none=True)
    kind = _enum(AdjustmentKind)
    value = _money()
    reason = ma.fields.String()
    valid_from = ma.fields.Date()
    valid_to = ma.fields.Date(allow_none=True)
    created_at = ma.fields.DateTime()


class AdjustmentListArgs(PageArgs):
    household_id = ma.fields.UUID(load_default=None)
    active_on = ma.fields.Date(load_default=None)


class AdjustmentEndSchema(InputSchema):
    valid_to = ma.fields.Date(allow_none=True, metadata={"description": "Default: today."})


class SharedMeterInputSchema(InputSchema):
    name = ma.fields.String(required=True)
    meter_kind = _enum(MeterKind, required=True)
    building_id = ma.fields.UUID(allow_none=True)
    unit = ma.fields.String(allow_none=True)


class SharedMeterSchema(ma.Schema):
    id = ma.fields.UUID()
    estate_id = ma.fields.UUID()
    name = ma.fields.String()
    meter_kind = _enum(MeterKind)
    building_id = ma.fields.UUID(allow_none=True)
    unit = ma.fields.String(allow_none=True)


# --- readings ----------------------------------------------------------------------------------


class _ReadingInput(InputSchema):
    period = ma.fields.String(required=True, metadata={"example": "2024-07"})
    current_reading = _number_in(required=True)
    previous_reading = _number_in(
        allow_none=True,
        metadata={"description": "Default: the meter's last reading; a replacement: 0."},
    )
    is_replacement = ma.fields.Boolean()
    read_on = ma.fields.Date(allow_none=True)


class MeterReadingInputSchema(_ReadingInput):
    household_id = ma.fields.UUID(required=True)
    meter_kind = _enum(MeterKind, required=True)


class SharedMeterReadingInputSchema(_ReadingInput):
    shared_meter_id = ma.fields.UUID(required=True)


class _Reading(ma.Schema):
    id = ma.fields.UUID()
    estate_id = ma.fields.UUID()
    period = ma.fields.String()
    previous_reading = _money()
    current_reading = _money()
    usage = _money()
    is_replacement = ma.fields.Boolean()
    read_on = ma.fields.Date(allow_none=True)
    created_at = ma.fields.DateTime()

    @ma.pre_dump
    def _usage(self, reading, **kwargs):
        reading.usage = reading.current_reading - reading.previous_reading
        return reading


class MeterReadingSchema(_Reading):
    household_id = ma.fields.UUID()
    meter_kind = _enum(MeterKind)


class SharedMeterReadingSchema(_Reading):
    shared_meter_id = ma.fields.UUID()


class ReadingListArgs(PageArgs):
    period = ma.fields.String(load_default=None, **PERIOD_FIELD)
    household_id = ma.fields.UUID(load_default=None)
    meter_kind = _enum(MeterKind, load_default=None)


class SharedReadingListArgs(PageArgs):
    period = ma.fields.String(load_default=None, **PERIOD_FIELD)
    shared_meter_id = ma.fields.UUID(load_default=None)


class ReadingUploadSchema(ma.Schema):
    file = UploadedFile(
        required=True,
        metadata={
            "description": "An .xlsx or .csv file: 楼栋, 单元, 房号, 表类型, 期间, 本期读数, "
            "上期读数 (optional), 换表 (optional)."
        },
    )


class ReadingImportResultSchema(ma.Schema):
    rows = ma.fields.Integer(required=True)
    created = ma.fields.Integer(required=True)
    replaced = ma.fields.Integer(required=True)
    unchanged = ma.fields.Integer(required=True)


# --- occupancy, prepayment -----------------------------------------------------------------


class OccupancyChangeInputSchema(InputSchema):
    to_occupancy = _enum(Occupancy, required=True)
    effective_date = ma.fields.Date(required=True)


class OccupancyChangeSchema(ma.Schema):
    id = ma.fields.UUID()
    household_id = ma.fields.UUID()
    effective_date = ma.fields.Date()
    from_occupancy = _enum(Occupancy)
    to_occupancy = _enum(Occupancy)
    created_at = ma.fields.DateTime()


class QuoteArgs(ma.Schema):
    months = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=36))


class QuoteLineSchema(ma.Schema):
    code = ma.fields.String()
    name = ma.fields.String()
    monthly = _money()
    months = ma.fields.Integer()
    gross = _money()
    offer_discount = _money()
    amount = _money()


class PrepaymentQuoteSchema(ma.Schema):
    household_id = ma.fields.UUID()
    months = ma.fields.Integer()
    on_date = ma.fields.Date()
    lines = ma.fields.List(ma.fields.Nested(QuoteLineSchema))
    gross = _money()
    offer_discount = _money()
    amount = _money()
