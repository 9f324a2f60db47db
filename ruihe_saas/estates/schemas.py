from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import marshmallow as ma

from ruihe_saas.estates.models import (
    BuildingKind,
    ChargingModel,
    HandoverStage,
    Occupancy,
    ParkingKind,
)
from ruihe_saas.web.pagination import PageArgs

CODE_RE = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,19}$"


def _text(max_length: int, *, required: bool = False, **kwargs):
    return ma.fields.String(
        required=required, validate=ma.validate.Length(max=max_length), **kwargs
    )


def _name(max_length: int, **kwargs):
    """A required, non-blank text."""
    return ma.fields.String(
        validate=[
            ma.validate.Length(min=1, max=max_length),
            ma.validate.Regexp(r"\S", error="Must not be blank."),
        ],
        **kwargs,
    )


def _percent(value) -> None:
    if not 0 <= value <= 100:
        raise ma.ValidationError("Must be between 0 and 100.")


class EstateSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    name = _name(100, required=True)
    code = ma.fields.String(
        required=True, validate=ma.validate.Regexp(CODE_RE, error="1–20 letters, digits, - or _.")
    )
    address = _text(200)
    year_built = ma.fields.Integer(allow_none=True, validate=ma.validate.Range(min=1900, max=2100))
    competent_unit = _text(200)
    previous_manager = _text(200)
    notes = _text(5000)
    # a check function, not Range: apispec would document a string maximum ("100.00")
    collection_target_percent = ma.fields.Decimal(
        allow_none=True,
        as_string=True,
        places=2,
        validate=_percent,
        metadata={"type": "string", "format": "decimal", "example": "90.00"},
    )
    charging_model = ma.fields.Enum(
        ChargingModel,
        by_value=True,
        metadata={"description": "remuneration (酬金制) or lump_sum (包干制)"},
    )
    remuneration_percent = ma.fields.Decimal(
        as_string=True,
        places=2,
        validate=_percent,
        metadata={"type": "string", "format": "decimal", "example": "10.00"},
    )
    surplus_to_fund_percent = ma.fields.Decimal(
        as_string=True,
        places=2,
        validate=_percent,
        metadata={"type": "string", "format": "decimal", "example": "100.00"},
    )
    stage = ma.fields.Enum(HandoverStage, by_value=True, dump_only=True)
    stage_since = ma.fields.Date(dump_only=True, allow_none=True)
    building_count = ma.fields.Integer(dump_only=True)
    household_count = ma.fields.Integer(dump_only=True)


class EstateUpdateSchema(EstateSchema):
    """Use as ``…UpdateSchema(partial=True)``: only the fields sent change."""


class EstateListArgs(PageArgs):
    q = ma.fields.String(load_default=None, validate=ma.validate.Length(max=100))


class BuildingSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    estate_id = ma.fields.UUID(dump_only=True)
    name = _name(40, required=True)
    floors = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=200))
    has_lift = ma.fields.Boolean(load_default=False)
    kind = ma.fields.Enum(BuildingKind, by_value=True, load_default=BuildingKind.LOW_RISE)
    position = ma.fields.Integer(validate=ma.validate.Range(min=0, max=100_000))


class BuildingUpdateSchema(BuildingSchema):
    """Use as ``…UpdateSchema(partial=True)``: only the fields sent change."""


def _area_in_range(value) -> None:
    if not Decimal("0.01") <= value <= Decimal("100000"):
        raise ma.ValidationError("Must be between 0.01 and 100000 m².")


# Money-like quantities travel as decimal strings ("86.50"), never binary floats.
AREA = {
    "as_string": True,
    "places": 2,
    "rounding": ROUND_HALF_UP,
    "validate": _area_in_range,
    "metadata": {"type": "string", "format": "decimal", "example": "86.50"},
}


class HouseholdSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    estate_id = ma.fields.UUID(dump_only=True)
    building_id = ma.fields.UUID(required=True)
    building_name = ma.fields.String(dump_only=True, attribute="building.name")
    label = ma.fields.String(dump_only=True)
    unit = _text(10, load_default="")
    room = _name(20, required=True)
    floor = ma.fields.Integer(allow_none=True, validate=ma.validate.Range(min=-10, max=200))
    area = ma.fields.Decimal(required=True, **AREA)
    occupancy = ma.fields.Enum(Occupancy, by_value=True, load_default=Occupancy.OCCUPIED)
    owner_names = _text(200)
    phones = _text(100)
    category = ma.fields.String(
        allow_none=True,
        validate=ma.validate.Length(max=30),
        metadata={"description": "Household category code (per tenant)."},
    )
    notes = _text(5000)

    @ma.post_dump(pass_original=True)
    def _category_code(self, data, original, **kwargs):
        category = getattr(original, "category", None)
        data["category"] = category.code if category is not None else None
        return data


class HouseholdUpdateSchema(HouseholdSchema):
    """Use as ``…UpdateSchema(partial=True)``: only the fields sent change."""


class HouseholdListArgs(PageArgs):
    building_id = ma.fields.UUID(load_default=None)
    occupancy = ma.fields.Enum(Occupancy, by_value=True, load_default=None)
    category = ma.fields.String(load_default=None, validate=ma.validate.Length(max=30))
    q = ma.fields.String(
        load_default=None,
        validate=ma.validate.Length(max=100),
        metadata={"description": "Search room, owner names and phones."},
    )


class ParkingSpaceSchema(ma.Schema):
    id = ma.fields.UUID(dump_only=True)
    estate_id = ma.fields.UUID(dump_only=True)
    number = _name(20, required=True)
    kind = ma.fields.Enum(ParkingKind, by_value=True, load_default=ParkingKind.SURFACE)
    area = ma.fields.Decimal(allow_none=True, **AREA)
    household_id = ma.fields.UUID(allow_none=True)


class ParkingSpaceUpdateSchema(ParkingSpaceSchema):
    """Use as ``…UpdateSchema(partial=True)``: only the fields sent change."""
