"""Forms of the estate pages: estates, buildings, households, parking spaces."""

from __future__ import annotations

import uuid
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DecimalField,
    IntegerField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
)

from ruihe_saas.estates.models import BuildingKind, ChargingModel, Occupancy, ParkingKind
from ruihe_saas.estates.schemas import CODE_RE

OCCUPANCY_LABELS = {
    Occupancy.OCCUPIED: _l("Occupied"),
    Occupancy.VACANT: _l("Vacant"),
    Occupancy.RENTED: _l("Rented"),
}
BUILDING_KIND_LABELS = {
    BuildingKind.LOW_RISE: _l("Low-rise"),
    BuildingKind.SMALL_HIGH_RISE: _l("Small high-rise"),
    BuildingKind.HIGH_RISE: _l("High-rise"),
    BuildingKind.BUNGALOW: _l("Bungalow"),
    BuildingKind.OTHER: _l("Other"),
}
PARKING_KIND_LABELS = {
    ParkingKind.SURFACE: _l("Surface"),
    ParkingKind.UNDERGROUND: _l("Underground"),
    ParkingKind.GARAGE: _l("Garage"),
    ParkingKind.EBIKE: _l("E-bike"),
}

MAX_AREA = Decimal("100000")
CENT = Decimal("0.01")


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _choices(labels: dict) -> list[SelectChoice]:
    return [SelectChoice(key.value, label) for key, label in labels.items()]


def two_places(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(CENT, rounding=ROUND_HALF_UP)


def _area(label, *, required: bool) -> DecimalField:
    return DecimalField(
        label,
        places=2,
        rounding=ROUND_HALF_UP,
        validators=[
            InputRequired() if required else Optional(),
            NumberRange(min=CENT, max=MAX_AREA, message=_l("Must be between 0.01 and 100000.")),
        ],
    )


class EstateForm(FlaskForm):
    name = StringField(
        _l("Estate name"), filters=[_strip], validators=[DataRequired(), Length(max=100)]
    )
    code = StringField(
        _l("Code"),
        filters=[_strip],
        description=_l("e.g. MOER"),
        validators=[
            DataRequired(),
            Regexp(CODE_RE, message=_l("1–20 letters, digits, - or _.")),
        ],
    )
    address = StringField(_l("Address"), filters=[_strip], validators=[Length(max=200)])
    year_built = IntegerField(
        _l("Year built"), validators=[Optional(), NumberRange(min=1900, max=2100)]
    )
    competent_unit = StringField(
        _l("Competent unit"), filters=[_strip], validators=[Length(max=200)]
    )
    previous_manager = StringField(
        _l("Previous manager"), filters=[_strip], validators=[Length(max=200)]
    )
    notes = TextAreaField(_l("Notes"), filters=[_strip], validators=[Length(max=5000)])
    collection_target_percent = DecimalField(
        _l("Collection rate target (%)"),
        places=2,
        validators=[Optional(), NumberRange(min=0, max=100)],
    )

    charging_model = SelectField(
        _l("Charging model"),
        choices=[
            SelectChoice(
                ChargingModel.REMUNERATION.value,
                _l("Remuneration (酬金制): surplus stays with the estate"),
            ),
            SelectChoice(
                ChargingModel.LUMP_SUM.value, _l("Lump sum (包干制): the company keeps the surplus")
            ),
        ],
        default=ChargingModel.REMUNERATION.value,
    )
    remuneration_percent = DecimalField(
        _l("Company remuneration (percent of property-service income)"),
        places=2,
        default=Decimal("0"),
        validators=[Optional(), NumberRange(min=0, max=100)],
    )
    surplus_to_fund_percent = DecimalField(
        _l("Surplus to the improvement fund (%)"),
        places=2,
        default=Decimal("100"),
        validators=[Optional(), NumberRange(min=0, max=100)],
    )

    def to_data(self) -> dict:
        shares = {  # left empty: unchanged (a new estate gets the defaults)
            key: getattr(self, key).data
            for key in ("remuneration_percent", "surplus_to_fund_percent")
            if getattr(self, key).data is not None
        }
        return {
            **shares,
            "collection_target_percent": self.collection_target_percent.data,
            "charging_model": ChargingModel(self.charging_model.data),
            "name": self.name.data,
            "code": self.code.data,
            "address": self.address.data or "",
            "year_built": self.year_built.data,
            "competent_unit": self.competent_unit.data or "",
            "previous_manager": self.previous_manager.data or "",
            "notes": self.notes.data or "",
        }


class BuildingForm(FlaskForm):
    name = StringField(
        _l("Building"),
        filters=[_strip],
        description=_l("e.g. 3栋"),
        validators=[DataRequired(), Length(max=40)],
    )
    floors = IntegerField(_l("Floors"), validators=[InputRequired(), NumberRange(min=1, max=200)])
    kind = SelectField(
        _l("Kind"), choices=_choices(BUILDING_KIND_LABELS), default=BuildingKind.LOW_RISE.value
    )
    has_lift = BooleanField(_l("Has a lift"))

    def to_data(self) -> dict:
        return {
            "name": self.name.data,
            "floors": self.floors.data,
            "kind": BuildingKind(self.kind.data),
            "has_lift": bool(self.has_lift.data),
        }


class HouseholdForm(FlaskForm):
    """Building and category choices are set by the view (``set_choices``)."""

    building_id = SelectField(_l("Building"), validators=[DataRequired()])
    unit = StringField(_l("Unit"), filters=[_strip], validators=[Length(max=10)])
    room = StringField(_l("Room"), filters=[_strip], validators=[DataRequired(), Length(max=20)])
    floor = IntegerField(_l("Floor"), validators=[Optional(), NumberRange(min=-10, max=200)])
    area = _area(_l("Floor area (m²)"), required=True)
    occupancy = SelectField(
        _l("Occupancy"), choices=_choices(OCCUPANCY_LABELS), default=Occupancy.OCCUPIED.value
    )
    owner_names = StringField(_l("Owners"), filters=[_strip], validators=[Length(max=200)])
    phones = StringField(_l("Phones"), filters=[_strip], validators=[Length(max=100)])
    category = SelectField(_l("Category"), default="")
    notes = TextAreaField(_l("Notes"), filters=[_strip], validators=[Length(max=5000)])

    def set_choices(self, buildings, categories) -> HouseholdForm:
        self.building_id.choices = [SelectChoice(str(b.id), b.name) for b in buildings]
        self.category.choices = [SelectChoice("", "—")] + [
            SelectChoice(c.code, c.name) for c in categories
        ]
        return self

    def to_data(self) -> dict:
        return {
            "building_id": uuid.UUID(self.building_id.data),
            "unit": self.unit.data or "",
            "room": self.room.data,
            "floor": self.floor.data,
            "area": two_places(self.area.data),
            "occupancy": Occupancy(self.occupancy.data),
            "owner_names": self.owner_names.data or "",
            "phones": self.phones.data or "",
            "category": self.category.data or None,
            "notes": self.notes.data or "",
        }


class ParkingForm(FlaskForm):
    number = StringField(
        _l("Number"), filters=[_strip], validators=[DataRequired(), Length(max=20)]
    )
    kind = SelectField(
        _l("Kind"), choices=_choices(PARKING_KIND_LABELS), default=ParkingKind.SURFACE.value
    )
    area = _area(_l("Area (m²)"), required=False)
    household = StringField(
        _l("Household"),
        filters=[_strip],
        validators=[Length(max=80)],
    )

    def to_data(self) -> dict:
        return {
            "number": self.number.data,
            "kind": ParkingKind(self.kind.data),
            "area": two_places(self.area.data),
        }


class ParkingAssignForm(FlaskForm):
    household = StringField(
        _l("Household"),
        filters=[_strip],
        validators=[Length(max=80)],
    )
