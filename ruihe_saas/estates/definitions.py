"""The ``[[estates]]`` section of a tenant definition: estates, their buildings, generated
demo households and parking spaces, and their handover history.

Households are never listed one by one: a definition describes groups of identical buildings
and the loader generates rooms, areas, owners and occupancy from a fixed seed (demo and test
tenants; real estates import their household file). Generation is pure (``plan_estate``), so
the same file always yields the same rows, and loading again only adds what is missing.
An estate's ``history`` is recorded by ``ruihe_saas.handover.definitions`` (through the
handover service, with its evidence rules), which shares the entry checks below.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select

from ruihe_saas.errors import ValidationFailed
from ruihe_saas.estates import services
from ruihe_saas.estates.models import (
    Building,
    BuildingKind,
    ChargingModel,
    Estate,
    Household,
    Occupancy,
    ParkingKind,
    ParkingSpace,
)
from ruihe_saas.estates.schemas import CODE_RE
from ruihe_saas.extensions import db
from ruihe_saas.tenancy.definitions import LoadReport, section

ESTATE_KEYS = {
    "code",
    "name",
    "address",
    "year_built",
    "competent_unit",
    "previous_manager",
    "notes",
    "collection_target_percent",
    "charging_model",
    "remuneration_percent",
    "surplus_to_fund_percent",
    "expect",
    "households",
    "buildings",
    "parking",
    "history",
}
GROUP_KEYS = {
    "first",
    "count",
    "name",
    "floors",
    "units",
    "rooms_per_floor",
    "kind",
    "lift",
    "area",
}
HOUSEHOLD_KEYS = {"seed", "label", "occupancy", "categories", "second_owner"}
PARKING_KEYS = {"count", "kind", "number", "area", "assigned"}

DEFAULT_LABEL = "生成的演示数据 (generated demo data)"
OWNER_MARKER = "（示例）"
SURNAMES = "张王李赵刘陈杨黄周吴徐孙马朱胡郭何高林罗郑梁谢宋唐许邓冯韩曹彭曾萧田董袁潘蒋蔡余杜叶"
_GIVEN_NAMES = (
    "建国 建华 国强 志刚 秀英 桂英 玉兰 丽华 俊杰 海燕 红梅 建平 文华 卫东 永红 春花 "
    "德明 振华 淑珍 凤英 光明 晓东 丽娟 金凤 家强 云 丽 明 强 芳 敏 静 伟 磊 洁 勇 军 艳"
)
GIVEN_NAMES = _GIVEN_NAMES.split()
CENT = Decimal("0.01")


# --- the plan: what a definition generates, without touching the database ------------------


@dataclass
class PlannedBuilding:
    name: str
    position: int
    floors: int
    has_lift: bool
    kind: BuildingKind


@dataclass
class PlannedHousehold:
    building: str
    unit: str
    room: str
    floor: int
    area: Decimal
    occupancy: Occupancy
    owner_names: str
    category: str | None


@dataclass
class PlannedParking:
    number: str
    kind: ParkingKind
    area: Decimal | None
    household: int | None  # index into the plan's households


@dataclass
class EstatePlan:
    code: str
    seed: str
    label: str
    buildings: list[PlannedBuilding] = field(default_factory=list)
    households: list[PlannedHousehold] = field(default_factory=list)
    parking: list[PlannedParking] = field(default_factory=list)


# The entry checks, from here to ``enum_choice``, are shared with ruihe_saas.handover.definitions.
def fail(where: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"estates: {where}: {message}")


def check_keys(entry, allowed: set[str], where: str) -> dict:
    if not isinstance(entry, dict):
        raise fail(where, "must be a table.")
    unknown = set(entry) - allowed
    if unknown:
        raise fail(where, f"unknown keys {', '.join(sorted(unknown))}.")
    return entry


def int_field(entry: dict, key: str, where: str, *, default=None, low=0, high=10_000) -> int:
    value = entry.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise fail(where, f"{key} must be a whole number from {low} to {high}.")
    return value


def positive_decimal(value, key: str, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise fail(where, f"{key} must be a number.")
    number = Decimal(str(value)).quantize(CENT)
    if number <= 0:
        raise fail(where, f"{key} must be > 0.")
    return number


def enum_choice(enum_cls, value, key: str, where: str):
    try:
        return enum_cls(value)
    except ValueError:
        values = ", ".join(member.value for member in enum_cls)
        raise fail(where, f"{key} must be one of {values}.") from None


def _weights(table, enum_cls, key: str, where: str) -> tuple[list, list[int]]:
    """``{occupied = 85, rented = 10}`` → ([values…], [weights…])."""
    if not isinstance(table, dict) or not table:
        raise fail(where, f"{key} must be a table of weights.")
    values = [enum_choice(enum_cls, name, key, where) if enum_cls else name for name in table]
    weights = []
    for name, weight in table.items():
        if not isinstance(weight, int) or isinstance(weight, bool) or weight < 0:
            raise fail(where, f"{key}.{name} must be a whole number ≥ 0.")
        weights.append(weight)
    if not sum(weights):
        raise fail(where, f"{key} needs a weight above 0.")
    return values, weights


def plan_estate(entry: dict) -> EstatePlan:
    """Buildings, households and parking spaces the entry describes, always the same ones."""
    code = entry.get("code")
    if not isinstance(code, str) or not re.match(CODE_RE, code):
        raise ValidationFailed("estates: every estate needs a code (1–20 letters, digits, - or _).")
    spec = check_keys(entry.get("households", {}), HOUSEHOLD_KEYS, f"{code}.households")
    seed = f"{code}:{spec.get('seed', 0)}"
    rng = random.Random(seed)  # noqa: S311  (demo data, not secrets)
    label = spec.get("label", DEFAULT_LABEL)
    if not isinstance(label, str):
        raise fail(f"{code}.households", "label must be text.")
    plan = EstatePlan(code=code, seed=seed, label=label)
    occupancies, occupancy_weights = _weights(
        spec.get("occupancy", {"occupied": 1}), Occupancy, "occupancy", f"{code}.households"
    )
    categories, category_weights = (
        _weights(spec["categories"], None, "categories", f"{code}.households")
        if "categories" in spec
        else ([None], [1])
    )
    # percent of households with two owners on the deed
    second_owner = int_field(spec, "second_owner", f"{code}.households", default=0, high=100)
    groups = entry.get("buildings", [])
    if not isinstance(groups, list):
        raise fail(code, "[[estates.buildings]] must be a list of tables.")
    for index, group in enumerate(groups, start=1):
        where = f"{code}.buildings[{index}]"
        check_keys(group, GROUP_KEYS, where)
        first = int_field(group, "first", where, default=len(plan.buildings) + 1, low=1)
        pattern = group.get("name", "{n}栋")
        floors = int_field(group, "floors", where, low=1, high=200)
        units = int_field(group, "units", where, default=1, low=1, high=99)
        per_floor = int_field(group, "rooms_per_floor", where, default=2, low=1, high=99)
        kind = enum_choice(BuildingKind, group.get("kind", "low_rise"), "kind", where)
        lift = group.get("lift", kind in (BuildingKind.SMALL_HIGH_RISE, BuildingKind.HIGH_RISE))
        if not isinstance(lift, bool):
            raise fail(where, "lift must be true or false.")
        area = group.get("area")
        if not (isinstance(area, list) and len(area) == 2):
            raise fail(where, "area must be [smallest, largest] in m².")
        low, high = (positive_decimal(value, "area", where) for value in area)
        if low > high:
            raise fail(where, "area must be [smallest, largest] in m².")
        for number in range(first, first + int_field(group, "count", where, low=1)):
            name = _numbered(pattern, number, 40, where)
            plan.buildings.append(
                PlannedBuilding(name, len(plan.buildings) + 1, floors, bool(lift), kind)
            )
            # one layout per staircase position, the same on every floor (as in real blocks)
            layouts = {
                (unit, position): Decimal(rng.uniform(float(low), float(high))).quantize(CENT)
                for unit in range(1, units + 1)
                for position in range(1, per_floor + 1)
            }
            for unit in range(1, units + 1):
                for floor in range(1, floors + 1):
                    for position in range(1, per_floor + 1):
                        owners = _owner_name(rng)
                        if rng.randrange(100) < second_owner:
                            owners += "、" + _owner_name(rng)
                        plan.households.append(
                            PlannedHousehold(
                                building=name,
                                unit=str(unit),
                                room=f"{floor}{position:02d}",
                                floor=floor,
                                area=layouts[unit, position],
                                occupancy=rng.choices(occupancies, occupancy_weights)[0],
                                owner_names=owners + OWNER_MARKER,
                                category=rng.choices(categories, category_weights)[0],
                            )
                        )
    if len({b.name for b in plan.buildings}) != len(plan.buildings):
        raise fail(code, "two building groups give the same building name.")
    _plan_parking(entry, plan)
    _check_expected(entry, plan)
    return plan


def _numbered(pattern, n: int, longest: int, where: str) -> str:
    """``"{n}栋"`` → ``"12栋"``; ``"P{n:03d}"`` → ``"P012"``."""
    try:
        name = str(pattern).format(n=n)
    except (KeyError, IndexError, ValueError) as error:
        raise fail(where, f"bad name pattern {pattern!r} (use {{n}}): {error}") from None
    if not 1 <= len(name) <= longest:
        raise fail(where, f"{name!r} must be 1–{longest} characters.")
    return name


def _owner_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES)


def _plan_parking(entry: dict, plan: EstatePlan) -> None:
    if "parking" not in entry:
        return
    where = f"{plan.code}.parking"
    spec = check_keys(entry["parking"], PARKING_KEYS, where)
    count = int_field(spec, "count", where, low=1)
    kind = enum_choice(ParkingKind, spec.get("kind", "surface"), "kind", where)
    area = positive_decimal(spec["area"], "area", where) if "area" in spec else None
    pattern = spec.get("number", "P{n:03d}")
    assigned = int_field(spec, "assigned", where, default=0)
    occupied = [i for i, h in enumerate(plan.households) if h.occupancy != Occupancy.VACANT]
    if assigned > min(count, len(occupied)):
        raise fail(where, "more assigned spaces than spaces or occupied households.")
    rng = random.Random(f"{plan.seed}:parking")  # noqa: S311
    owners = sorted(rng.sample(occupied, assigned))
    for n in range(1, count + 1):
        household = owners[n - 1] if n <= assigned else None
        number = _numbered(pattern, n, 20, where)
        plan.parking.append(PlannedParking(number, kind, area, household))


def _check_expected(entry: dict, plan: EstatePlan) -> None:
    """``expect = {buildings = 29, households = 976}``: the file's figures, checked."""
    expect = check_keys(entry.get("expect", {}), {"buildings", "households"}, plan.code)
    actual = {"buildings": len(plan.buildings), "households": len(plan.households)}
    for key, wanted in expect.items():
        if actual[key] != wanted:
            raise fail(plan.code, f"expects {wanted} {key}, the groups give {actual[key]}.")


# --- loading -------------------------------------------------------------------------------


@section("estates", order=5)  # before users: a member's estate scope names estates
def load_estates(entries: list, report: LoadReport, base: Path, *, demo: bool) -> None:
    from ruihe_saas.handover.definitions import sync_history  # it imports this module

    if not isinstance(entries, list):
        raise ValidationFailed("[[estates]] must be a list of tables.")
    for entry in entries:
        check_keys(entry, ESTATE_KEYS, "[[estates]]")
    codes = [entry.get("code") for entry in entries]
    if len(set(codes)) != len(codes):
        raise ValidationFailed("estates: two estates have the same code.")
    for entry in entries:
        plan = plan_estate(entry)
        estate = _sync_estate(entry, report)
        _sync_layout(estate, plan, report)
        sync_history(estate, entry, plan, report)
    db.session.flush()


def _sync_estate(entry: dict, report: LoadReport) -> Estate:
    data = {key: entry[key] for key in services.ESTATE_FIELDS if key in entry}
    if not isinstance(data.get("name"), str) or not 1 <= len(data["name"]) <= 100:
        raise fail(entry["code"], "name is required (at most 100 characters).")
    if "year_built" in data:
        int_field(data, "year_built", entry["code"], low=1900, high=2100)
    for key in ("address", "competent_unit", "previous_manager", "notes"):
        if not isinstance(data.get(key, ""), str):
            raise fail(entry["code"], f"{key} must be text.")
    if "collection_target_percent" in data:
        target = data["collection_target_percent"]
        if (
            isinstance(target, bool)
            or not isinstance(target, int | float)
            or not 0 <= target <= 100
        ):
            raise fail(entry["code"], "collection_target_percent must be a number from 0 to 100.")
        data["collection_target_percent"] = Decimal(str(target))
    if "charging_model" in data:
        try:
            data["charging_model"] = ChargingModel(data["charging_model"])
        except ValueError:
            raise fail(entry["code"], "charging_model must be remuneration or lump_sum.") from None
    for key in ("remuneration_percent", "surplus_to_fund_percent"):
        if key in data:
            value = data[key]
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0 <= value <= 100
            ):
                raise fail(entry["code"], f"{key} must be a number from 0 to 100.")
            data[key] = Decimal(str(value))
    estate = services.find_estate_by_code(entry["code"])
    if estate is None:
        estate = services.create_estate(data)
        report.lines.append(f"estate {estate.code} ({estate.name}) created")
        return estate
    changed = {key: value for key, value in data.items() if getattr(estate, key) != value}
    if changed:
        services.update_estate(estate, changed)
        report.lines.append(f"estate {estate.code}: {', '.join(sorted(changed))} updated")
    else:
        report.lines.append(f"estate {estate.code} ({estate.name}) kept")
    return estate


def _sync_layout(estate: Estate, plan: EstatePlan, report: LoadReport) -> None:
    """Create the missing buildings, households and parking spaces, one query per table.

    Buildings follow the file (floors, lift, kind, order); households and parking spaces are
    only generated when missing, so what was changed in the app survives a reload.
    """
    buildings = {
        b.name: b
        for b in db.session.scalars(select(Building).where(Building.estate_id == estate.id))
    }
    added = {"buildings": 0, "households": 0, "parking spaces": 0}
    updated = 0
    for planned in plan.buildings:
        wanted = {
            "floors": planned.floors,
            "has_lift": planned.has_lift,
            "kind": planned.kind,
            "position": planned.position,
        }
        building = buildings.get(planned.name)
        if building is None:
            building = Building(estate_id=estate.id, name=planned.name, **wanted)
            db.session.add(building)
            buildings[planned.name] = building
            added["buildings"] += 1
        else:
            changes = {k: v for k, v in wanted.items() if getattr(building, k) != v}
            for key, value in changes.items():
                setattr(building, key, value)
            updated += bool(changes)
    db.session.flush()

    categories = {}
    if any(h.category for h in plan.households):
        categories = {c.code: c.id for c in services.ensure_default_categories()}
        unknown = {h.category for h in plan.households if h.category} - set(categories)
        if unknown:
            raise fail(plan.code, f"unknown household categories {', '.join(sorted(unknown))}.")
    existing = {
        (building_id, unit, room): household_id
        for household_id, building_id, unit, room in db.session.execute(
            select(Household.id, Household.building_id, Household.unit, Household.room).where(
                Household.estate_id == estate.id
            )
        )
    }
    keys = []  # the plan's households, by their key
    new_households = []
    for planned in plan.households:
        building_id = buildings[planned.building].id
        key = (building_id, planned.unit, planned.room)
        if key not in existing:
            household = Household(
                estate_id=estate.id,
                building_id=building_id,
                unit=planned.unit,
                room=planned.room,
                floor=planned.floor,
                area=planned.area,
                occupancy=planned.occupancy,
                owner_names=planned.owner_names,
                category_id=categories.get(planned.category),
                notes=plan.label,
            )
            new_households.append(household)
            existing[key] = None  # filled after the flush
        keys.append(key)
    if new_households:
        db.session.add_all(new_households)
        db.session.flush()
        for household in new_households:
            existing[household.building_id, household.unit, household.room] = household.id
        added["households"] = len(new_households)

    numbers = set(
        db.session.scalars(select(ParkingSpace.number).where(ParkingSpace.estate_id == estate.id))
    )
    for planned in plan.parking:
        if planned.number in numbers:
            continue
        household = None if planned.household is None else existing[keys[planned.household]]
        db.session.add(
            ParkingSpace(
                estate_id=estate.id,
                number=planned.number,
                kind=planned.kind,
                area=planned.area,
                household_id=household,
            )
        )
        added["parking spaces"] += 1
    db.session.flush()
    if any(added.values()):
        summary = ", ".join(f"{count} {what}" for what, count in added.items() if count)
        report.lines.append(f"estate {estate.code}: added {summary}")
    if updated:
        report.lines.append(f"estate {estate.code}: {updated} buildings updated")
