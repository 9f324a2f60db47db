"""Estates, buildings, households and parking spaces. Services flush, never commit.

Every lookup goes through the scoped ORM, so an estate of another tenant, or outside the
member's estate scope, is simply not found (404). Children are looked up through their
estate (``get_household(estate, id)``), never by bare id.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, or_, select

from ruihe_saas.errors import Conflict, NotFound, ValidationFailed
from ruihe_saas.estates.models import (
    Building,
    Estate,
    Household,
    HouseholdCategory,
    Occupancy,
    ParkingSpace,
)
from ruihe_saas.extensions import db
from ruihe_saas.tenancy.context import require_tenant_id
from ruihe_saas.tenancy.lookup import get_owned
from ruihe_saas.web.pagination import Page, paginate

DEFAULT_CATEGORIES = [
    ("ordinary", "普通"),
    ("low_income", "低保"),
    ("elderly_alone", "独居老人"),
    ("disabled", "残疾"),
    ("special_care", "特扶"),
]


# --- estates -------------------------------------------------------------------------------


def get_estate(estate_id: uuid.UUID) -> Estate:
    estate = get_owned(Estate, estate_id)
    if estate is None:
        raise NotFound(_l("Estate not found."))
    return estate


def find_estate_by_code(code: str) -> Estate | None:
    return db.session.scalar(select(Estate).where(Estate.code == code))


def list_estates(page: int = 1, per_page: int = 100, search: str | None = None) -> Page:
    statement = select(Estate).order_by(Estate.code)
    if search:
        like = f"%{search}%"
        statement = statement.where(or_(Estate.name.ilike(like), Estate.code.ilike(like)))
    return paginate(statement, page, per_page)


def estate_counts(estate_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, tuple[int, int]]:
    """``{estate_id: (buildings, households)}`` in two grouped queries."""
    ids = list(estate_ids)
    if not ids:
        return {}
    buildings = dict(
        db.session.execute(
            select(Building.estate_id, func.count())
            .where(Building.estate_id.in_(ids))
            .group_by(Building.estate_id)
        ).all()
    )
    households = dict(
        db.session.execute(
            select(Household.estate_id, func.count())
            .where(Household.estate_id.in_(ids))
            .group_by(Household.estate_id)
        ).all()
    )
    return {i: (buildings.get(i, 0), households.get(i, 0)) for i in ids}


def with_counts(estates: list[Estate]) -> list[Estate]:
    """Attach ``building_count`` / ``household_count`` (for schemas and templates)."""
    counts = estate_counts(e.id for e in estates)
    for estate in estates:
        estate.building_count, estate.household_count = counts.get(estate.id, (0, 0))
    return estates


ESTATE_FIELDS = (
    "name",
    "code",
    "address",
    "year_built",
    "competent_unit",
    "previous_manager",
    "notes",
    "collection_target_percent",
    "charging_model",
    "remuneration_percent",
    "surplus_to_fund_percent",
)


def _check_code_free(code: str, estate: Estate | None = None) -> None:
    existing = find_estate_by_code(code)
    if existing is not None and existing is not estate:
        raise Conflict(
            _l("An estate with this code exists."), fields={"code": [_l("Already taken.")]}
        )


def create_estate(data: dict) -> Estate:
    require_tenant_id()
    _check_code_free(data["code"])
    estate = Estate(**{key: data[key] for key in ESTATE_FIELDS if key in data})
    db.session.add(estate)
    db.session.flush()
    ensure_default_categories()  # the tenant's first estate brings the category list
    return estate


def update_estate(estate: Estate, data: dict) -> Estate:
    if "code" in data and data["code"] != estate.code:
        _check_code_free(data["code"], estate)
    for key in ESTATE_FIELDS:
        if key in data:
            setattr(estate, key, data[key])
    db.session.flush()
    return estate


# --- buildings -----------------------------------------------------------------------------


def list_buildings(estate: Estate, page: int = 1, per_page: int = 100) -> Page:
    statement = (
        select(Building)
        .where(Building.estate_id == estate.id)
        .order_by(Building.position, Building.name)
    )
    return paginate(statement, page, per_page)


def buildings_of(estate: Estate) -> list[Building]:
    return list(
        db.session.scalars(
            select(Building)
            .where(Building.estate_id == estate.id)
            .order_by(Building.position, Building.name)
        )
    )


def get_building(estate: Estate, building_id: uuid.UUID) -> Building:
    building = get_owned(Building, building_id)
    if building is None or building.estate_id != estate.id:
        raise NotFound(_l("Building not found."))
    return building


BUILDING_FIELDS = ("name", "floors", "has_lift", "kind", "position")


def create_building(estate: Estate, data: dict) -> Building:
    if db.session.scalar(
        select(Building.id).where(Building.estate_id == estate.id, Building.name == data["name"])
    ):
        raise Conflict(
            _l("A building with this name exists."), fields={"name": [_l("Already taken.")]}
        )
    fields = {key: data[key] for key in BUILDING_FIELDS if key in data}
    if "position" not in fields:
        fields["position"] = (
            db.session.scalar(
                select(func.coalesce(func.max(Building.position), 0)).where(
                    Building.estate_id == estate.id
                )
            )
            + 1
        )
    building = Building(estate_id=estate.id, **fields)
    db.session.add(building)
    db.session.flush()
    return building


def update_building(building: Building, data: dict) -> Building:
    if "name" in data and data["name"] != building.name:
        clash = db.session.scalar(
            select(Building.id).where(
                Building.estate_id == building.estate_id, Building.name == data["name"]
            )
        )
        if clash:
            raise Conflict(
                _l("A building with this name exists."), fields={"name": [_l("Already taken.")]}
            )
    for key in BUILDING_FIELDS:
        if key in data:
            setattr(building, key, data[key])
    db.session.flush()
    return building


# --- household categories -------------------------------------------------------------------


def categories() -> list[HouseholdCategory]:
    return list(db.session.scalars(select(HouseholdCategory).order_by(HouseholdCategory.position)))


def ensure_default_categories() -> list[HouseholdCategory]:
    existing = {c.code for c in categories()}
    for position, (code, name) in enumerate(DEFAULT_CATEGORIES, start=1):
        if code not in existing:
            db.session.add(HouseholdCategory(code=code, name=name, position=position))
    db.session.flush()
    return categories()


def category_by_code(code: str | None) -> HouseholdCategory | None:
    if not code:
        return None
    category = db.session.scalar(select(HouseholdCategory).where(HouseholdCategory.code == code))
    if category is None:
        raise ValidationFailed(
            _l("Unknown household category."), fields={"category": [_l("Unknown category.")]}
        )
    return category


# --- households ----------------------------------------------------------------------------


def household_query(
    estate: Estate,
    *,
    building_id: uuid.UUID | None = None,
    occupancy: Occupancy | None = None,
    category_id: uuid.UUID | None = None,
    search: str | None = None,
) -> Select:
    statement = (
        select(Household)
        .join(
            Building,
            (Building.tenant_id == Household.tenant_id) & (Building.id == Household.building_id),
        )
        .where(Household.estate_id == estate.id)
        .order_by(Building.position, Building.name, Household.unit, Household.room)
    )
    if building_id:
        statement = statement.where(Household.building_id == building_id)
    if occupancy:
        statement = statement.where(Household.occupancy == occupancy)
    if category_id:
        statement = statement.where(Household.category_id == category_id)
    if search:
        like = f"%{search.strip()}%"
        statement = statement.where(
            or_(
                Household.room.ilike(like),
                Household.owner_names.ilike(like),
                Household.phones.ilike(like),
            )
        )
    return statement


def list_households(estate: Estate, page: int = 1, per_page: int = 50, **filters) -> Page:
    return paginate(household_query(estate, **filters), page, per_page)


def get_household(estate: Estate, household_id: uuid.UUID) -> Household:
    household = get_owned(Household, household_id)
    if household is None or household.estate_id != estate.id:
        raise NotFound(_l("Household not found."))
    return household


HOUSEHOLD_FIELDS = ("unit", "room", "floor", "area", "occupancy", "owner_names", "phones", "notes")


def _check_room_free(building: Building, unit: str, room: str, household: Household | None = None):
    existing = db.session.scalar(
        select(Household).where(
            Household.building_id == building.id, Household.unit == unit, Household.room == room
        )
    )
    if existing is not None and existing is not household:
        raise Conflict(
            _l("This room exists in the building."), fields={"room": [_l("Already taken.")]}
        )


def _check_area(area) -> None:
    if area is not None and Decimal(area) <= 0:
        raise ValidationFailed(_l("Area must be positive."), fields={"area": [_l("Must be > 0.")]})


def create_household(estate: Estate, data: dict) -> Household:
    building = get_building(estate, data["building_id"])
    unit = data.get("unit", "") or ""
    _check_area(data.get("area"))
    _check_room_free(building, unit, data["room"])
    fields = {key: data[key] for key in HOUSEHOLD_FIELDS if key in data}
    fields["unit"] = unit
    category = category_by_code(data.get("category"))
    household = Household(
        estate_id=estate.id,
        building_id=building.id,
        category_id=category.id if category else None,
        **fields,
    )
    db.session.add(household)
    db.session.flush()
    return household


def update_household(household: Household, data: dict) -> Household:
    estate = get_estate(household.estate_id)
    building = get_building(estate, data.get("building_id", household.building_id))
    unit = data.get("unit", household.unit) or ""
    room = data.get("room", household.room)
    _check_area(data.get("area"))
    _check_room_free(building, unit, room, household)
    household.building_id = building.id
    for key in HOUSEHOLD_FIELDS:
        if key in data and key != "occupancy":
            setattr(household, key, data[key])
    household.unit = unit
    occupancy = data.get("occupancy")
    if occupancy is not None and Occupancy(occupancy) != household.occupancy:
        # a dated change from today, so billing prorates it (see estates.occupancy)
        from ruihe_saas.estates.occupancy import change_occupancy
        from ruihe_saas.fees.parsing import local_today

        change_occupancy(household, Occupancy(occupancy), local_today())
    if "category" in data:
        category = category_by_code(data["category"])
        household.category_id = category.id if category else None
    db.session.flush()
    return household


def parking_of(household: Household) -> list[ParkingSpace]:
    return list(
        db.session.scalars(
            select(ParkingSpace)
            .where(ParkingSpace.household_id == household.id)
            .order_by(ParkingSpace.number)
        )
    )


# --- parking spaces ------------------------------------------------------------------------


def list_parking(estate: Estate, page: int = 1, per_page: int = 100) -> Page:
    statement = (
        select(ParkingSpace)
        .where(ParkingSpace.estate_id == estate.id)
        .order_by(ParkingSpace.number)
    )
    return paginate(statement, page, per_page)


def get_parking(estate: Estate, space_id: uuid.UUID) -> ParkingSpace:
    space = get_owned(ParkingSpace, space_id)
    if space is None or space.estate_id != estate.id:
        raise NotFound(_l("Parking space not found."))
    return space


PARKING_FIELDS = ("number", "kind", "area")


def _household_for_parking(estate: Estate, household_id) -> uuid.UUID | None:
    if household_id is None:
        return None
    try:
        return get_household(estate, household_id).id
    except NotFound:
        raise ValidationFailed(
            _l("Unknown household."),
            fields={"household_id": [_l("Not a household of this estate.")]},
        ) from None


def create_parking(estate: Estate, data: dict) -> ParkingSpace:
    if db.session.scalar(
        select(ParkingSpace.id).where(
            ParkingSpace.estate_id == estate.id, ParkingSpace.number == data["number"]
        )
    ):
        raise Conflict(_l("This parking space exists."), fields={"number": [_l("Already taken.")]})
    _check_area(data.get("area"))
    space = ParkingSpace(
        estate_id=estate.id,
        household_id=_household_for_parking(estate, data.get("household_id")),
        **{key: data[key] for key in PARKING_FIELDS if key in data},
    )
    db.session.add(space)
    db.session.flush()
    return space


def update_parking(space: ParkingSpace, data: dict) -> ParkingSpace:
    estate = get_estate(space.estate_id)
    if "number" in data and data["number"] != space.number:
        clash = db.session.scalar(
            select(ParkingSpace.id).where(
                ParkingSpace.estate_id == estate.id, ParkingSpace.number == data["number"]
            )
        )
        if clash:
            raise Conflict(
                _l("This parking space exists."), fields={"number": [_l("Already taken.")]}
            )
    _check_area(data.get("area"))
    for key in PARKING_FIELDS:
        if key in data:
            setattr(space, key, data[key])
    if "household_id" in data:
        space.household_id = _household_for_parking(estate, data["household_id"])
    db.session.flush()
    return space


def days_in_stage(estate: Estate, today: date | None = None) -> int | None:
    if estate.stage_since is None:
        return None
    return ((today or date.today()) - estate.stage_since).days


# --- lookups for the estate pages ------------------------------------------------------------


def find_household_by_label(estate: Estate, label: str) -> Household | None:
    """The household a person names by its label ("3栋2单元502", "5栋101"), or None.

    The label is split after the name of one of the estate's buildings; what follows is
    ``<unit>单元<room>`` or just ``<room>``.
    """
    label = "".join((label or "").split())
    if not label:
        return None
    matches: list[Household] = []
    for building in buildings_of(estate):
        if not label.startswith(building.name):
            continue
        rest = label[len(building.name) :]
        unit, marker, room = rest.partition("单元")
        if not marker:
            unit, room = "", rest
        if not room:
            continue
        household = db.session.scalar(
            select(Household).where(
                Household.building_id == building.id,
                Household.unit == unit,
                Household.room == room,
            )
        )
        if household is not None:
            matches.append(household)
    return matches[0] if len(matches) == 1 else None


def households_by_ids(estate: Estate, ids: Iterable[uuid.UUID | None]) -> dict:
    """``{household_id: Household}`` of this estate for the given ids, in one query."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = db.session.scalars(
        select(Household).where(Household.estate_id == estate.id, Household.id.in_(wanted))
    )
    return {household.id: household for household in rows}


def household_counts_by_building(estate: Estate) -> dict[uuid.UUID, int]:
    return dict(
        db.session.execute(
            select(Household.building_id, func.count())
            .where(Household.estate_id == estate.id)
            .group_by(Household.building_id)
        ).all()
    )
