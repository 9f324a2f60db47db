"""Marshmallow schemas of the arrears API: aging, households in arrears, chasing records,
collection rates, export filters. Money and rates travel as decimal strings ("61.36")."""

from __future__ import annotations

from datetime import date

import marshmallow as ma

from ruihe_saas.arrears.chases import MAX_RESULT
from ruihe_saas.arrears.models import ChaseChannel
from ruihe_saas.arrears.services import BUCKET_KEYS, SORTS
from ruihe_saas.billing.models import BillStatus
from ruihe_saas.billing.periods import Period, PeriodError
from ruihe_saas.web.pagination import PageArgs


def money(description: str = "", **kwargs) -> ma.fields.Decimal:
    """Yuan as a decimal string with 2 places ("1234.50")."""
    metadata = {"type": "string", "format": "decimal", "example": "1234.50"}
    if description:
        metadata["description"] = description
    return ma.fields.Decimal(as_string=True, places=2, metadata=metadata, **kwargs)


def percent(description: str = "Percent, 2 decimals; null when nothing to divide by.", **kw):
    metadata = {"type": "string", "format": "decimal", "example": "91.25"}
    metadata["description"] = description
    return ma.fields.Decimal(as_string=True, places=2, allow_none=True, metadata=metadata, **kw)


DAY_RANGE = ma.validate.Range(
    min=date(2000, 1, 1), max=date(2100, 12, 31), error="Use a date between 2000 and 2100."
)


def _valid_period(value: str) -> None:
    try:
        Period.parse(value)
    except PeriodError as error:
        raise ma.ValidationError(str(error)) from None


def period_field(description: str = "", **kwargs):
    metadata = {"example": "2024-07", "description": f"YYYY-MM. {description}".strip()}
    return ma.fields.String(validate=_valid_period, metadata=metadata, **kwargs)


def as_of_field(description: str):
    return ma.fields.Date(
        load_default=None, validate=DAY_RANGE, metadata={"description": description}
    )


AS_OF_AGING = "Count overdue days to this day (default: today, Asia/Shanghai)."
AS_OF_RATE = "Count payments and credits up to the end of this day (default: now)."


# --- aging ---------------------------------------------------------------------------------


class AgingArgs(ma.Schema):
    as_of = as_of_field(AS_OF_AGING)


class AgingCellSchema(ma.Schema):
    amount = money(required=True)
    households = ma.fields.Integer(required=True)


AgingBucketsSchema = ma.Schema.from_dict(
    {key: ma.fields.Nested(AgingCellSchema, required=True) for key in BUCKET_KEYS},
    name="AgingBucketsSchema",
)


class AgingRowSchema(ma.Schema):
    id = ma.fields.UUID(allow_none=True)
    name = ma.fields.String()
    code = ma.fields.String()
    buckets = ma.fields.Nested(
        AgingBucketsSchema,
        metadata={"description": "Days overdue: 0–30 (1…30), 31–90, 91–180, 181–365, >365."},
    )
    total = ma.fields.Nested(AgingCellSchema)


class EstateAgingSchema(ma.Schema):
    as_of = ma.fields.Date()
    estate_id = ma.fields.UUID(attribute="estate.id")
    summary = ma.fields.Nested(AgingRowSchema)
    buildings = ma.fields.List(ma.fields.Nested(AgingRowSchema))


class TenantAgingSchema(ma.Schema):
    as_of = ma.fields.Date()
    summary = ma.fields.Nested(AgingRowSchema)
    estates = ma.fields.List(ma.fields.Nested(AgingRowSchema))


class HouseholdArrearsArgs(PageArgs):
    as_of = as_of_field(AS_OF_AGING)
    building_id = ma.fields.UUID(load_default=None)
    sort = ma.fields.String(
        load_default="amount",
        validate=ma.validate.OneOf(SORTS),
        metadata={"description": "amount: largest first; oldest: oldest due date first."},
    )


AmountBucketsSchema = ma.Schema.from_dict(
    {key: money(required=True) for key in BUCKET_KEYS},
    name="AmountBucketsSchema",
)


class HouseholdArrearsSchema(ma.Schema):
    household_id = ma.fields.UUID()
    building_id = ma.fields.UUID()
    label = ma.fields.String(attribute="household.label")
    owner_names = ma.fields.String(attribute="household.owner_names")
    total = money()
    oldest_due = ma.fields.Date()
    days_overdue = ma.fields.Integer()
    bills = ma.fields.Integer()
    buckets = ma.fields.Nested(AmountBucketsSchema)


# --- chasing records -----------------------------------------------------------------------


class ChaseSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    estate_id = ma.fields.UUID(dump_only=True)
    household_id = ma.fields.UUID(dump_only=True)
    chased_on = ma.fields.Date(
        load_default=None,
        validate=DAY_RANGE,
        metadata={"description": "Default: today. Not in the future."},
    )
    channel = ma.fields.Enum(ChaseChannel, by_value=True, required=True)
    result = ma.fields.String(load_default="", validate=ma.validate.Length(max=MAX_RESULT))
    promised_on = ma.fields.Date(
        load_default=None,
        allow_none=True,
        validate=DAY_RANGE,
        metadata={"description": "When the household promised to pay."},
    )
    outstanding = money("Arrears on the day of the chase.", dump_only=True)
    recorded_by = ma.fields.UUID(dump_only=True, allow_none=True)
    created_at = ma.fields.DateTime(dump_only=True)


# --- collection rate -----------------------------------------------------------------------

RATE_FIELDS = (
    "period",
    "billed",
    "collected",
    "outstanding",
    "rate",
    "households_billed",
    "households_paid",
    "paid_household_ratio",
    "arrears_at_start",
    "collected_on_arrears",
    "clearance_rate",
    "target",
    "gap",
)


class RateRowSchema(ma.Schema):
    id = ma.fields.UUID(allow_none=True)
    name = ma.fields.String()
    period = ma.fields.String()
    billed = money("Bills − credits.")
    collected = money()
    outstanding = money()
    rate = percent()
    households_billed = ma.fields.Integer()
    households_paid = ma.fields.Integer()
    paid_household_ratio = percent()
    arrears_at_start = money()
    collected_on_arrears = money()
    clearance_rate = percent()
    target = percent()
    gap = percent("target − rate, percentage points; null without a target or a rate.")


class CollectionRateArgs(ma.Schema):
    period = period_field(required=True)
    as_of = as_of_field(AS_OF_RATE)


class EstateCollectionSchema(RateRowSchema):
    """The estate's figures for the period, and ``buildings`` with the same figures each."""

    estate_id = ma.fields.UUID()
    as_of = ma.fields.Date()
    buildings = ma.fields.List(ma.fields.Nested(RateRowSchema))

    @ma.pre_dump
    def _flatten(self, result, **kwargs):
        summary = result.summary
        data = {name: getattr(summary, name) for name in RATE_FIELDS}
        return {
            **data,
            "id": summary.id,
            "name": summary.name,
            "estate_id": result.estate.id,
            "as_of": result.as_of,
            "buildings": result.buildings,
        }


class RangeArgs(ma.Schema):
    first = period_field("Default: 11 months before `to`.", data_key="from", load_default=None)
    last = period_field("Default: this month.", data_key="to", load_default=None)
    as_of = as_of_field(AS_OF_RATE)


class EstateRatesSchema(ma.Schema):
    estate_id = ma.fields.UUID(attribute="estate.id")
    name = ma.fields.String(attribute="estate.name")
    code = ma.fields.String(attribute="estate.code")
    target = percent("The target, percent.", attribute="estate.collection_target_percent")
    periods = ma.fields.List(ma.fields.Nested(RateRowSchema), attribute="cells")


class CollectionTableSchema(ma.Schema):
    periods = ma.fields.List(ma.fields.String())
    as_of = ma.fields.Date()
    estates = ma.fields.List(ma.fields.Nested(EstateRatesSchema))


# --- exports -------------------------------------------------------------------------------


class BillExportArgs(ma.Schema):
    estate_id = ma.fields.UUID(load_default=None)
    building_id = ma.fields.UUID(load_default=None)
    period = period_field(load_default=None)
    status = ma.fields.Enum(BillStatus, by_value=True, load_default=None)


class ArrearsExportArgs(ma.Schema):
    estate_id = ma.fields.UUID(load_default=None)
    as_of = as_of_field(AS_OF_AGING)


class CollectionExportArgs(RangeArgs):
    estate_id = ma.fields.UUID(load_default=None)
