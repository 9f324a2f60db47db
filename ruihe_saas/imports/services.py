"""Onboarding import: an estate's buildings, households and parking spaces from one file;
copying an estate's building layout into a new estate.

The file's format is ``formats``'s (columns, vocabularies, templates); ``reading`` turns the
upload into a header and raw rows, ``cells`` turns each cell into a value. This module checks
the rows against each other and the estate, and writes.

What an import does (``import_households``):

- Any error (file or row) → nothing is written; ``ValidationFailed`` lists **every** bad row
  as ``fields={"rows": [{"row", "column", "message"}, …]}`` (file-level problems as
  ``fields={"file": [message, …]}``).
- Otherwise, in the caller's transaction (the request commits once): missing buildings are
  created; a household is keyed by (building, unit, room): created if new, else updated;
  parking spaces are created, or reassigned to the household listing them.
- **Only real changes are written** (so only they reach the audit trail): re-importing the
  same file changes nothing.
- Blank cells: a blank building cell (floors, lift, kind) or parking kind leaves the stored
  value (a new building needs its floors once); a blank household cell in a column the file
  has clears that value (owner, phones, floor, category, notes; occupancy → occupied). A
  column the file does not have leaves that value alone. With a 车位 column, the spaces a
  household of the file used but no longer lists are freed (kept, not deleted).
- **Households, buildings and parking spaces not in the file are left alone**: the import
  never deletes anything.

Performance: the estate's buildings, households, categories and parking spaces are loaded
once into dicts; there is no per-row query, and the writes go out in three flushes
(buildings, households, parking spaces: the foreign keys' order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext as _ln
from sqlalchemy import select

from ruihe_saas.errors import ValidationFailed
from ruihe_saas.estates import services as estate_services
from ruihe_saas.estates.models import (
    Building,
    BuildingKind,
    Estate,
    Household,
    Occupancy,
    ParkingKind,
    ParkingSpace,
)
from ruihe_saas.extensions import db
from ruihe_saas.ids import new_id
from ruihe_saas.imports.cells import Categories, CellProblem, cell_text, parse_cell
from ruihe_saas.imports.formats import BUILDING_KEYS, COLUMN_BY_KEY, map_headers
from ruihe_saas.imports.reading import Table, read_table

HOUSEHOLD_TEXT_KEYS = ("owner_names", "phones", "notes")


# --- rows, row errors, counts --------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: Any  # a lazy string
    position: int = 0  # the column's index in the file (errors sort by row, then column)

    def as_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "message": str(self.message)}


@dataclass
class Row:
    number: int
    values: dict[str, Any] = field(default_factory=dict)


_INVALID = object()  # a cell that failed to parse (its error is recorded)


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def add(self, changes: dict | None, new: bool = False) -> None:
        if new:
            self.created += 1
        elif changes:
            self.updated += 1
        else:
            self.unchanged += 1


@dataclass
class ImportResult:
    rows: int
    dry_run: bool
    buildings: Counts
    households: Counts
    parking_spaces: Counts
    households_not_in_file: int
    ignored_columns: list[str]

    @property
    def created_anything(self) -> bool:
        return bool(self.buildings.created + self.households.created + self.parking_spaces.created)

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "dry_run": self.dry_run,
            "buildings": vars(self.buildings),
            "households": {**vars(self.households), "not_in_file": self.households_not_in_file},
            "parking_spaces": vars(self.parking_spaces),
            "ignored_columns": self.ignored_columns,
        }


# --- the import ----------------------------------------------------------------------------


def _diff(obj, wanted: dict) -> dict:
    return {key: value for key, value in wanted.items() if getattr(obj, key) != value}


class _Importer:
    """One import: load the estate once, check every row, then write the differences."""

    def __init__(self, estate: Estate, table: Table):
        self.estate = estate
        self.table = table
        self.positions, self.ignored = map_headers(table.headers)
        self.errors: list[RowError] = []
        self.rows: list[Row] = []
        self.categories = Categories(estate_services.categories())
        self.buildings = {
            b.name: b
            for b in db.session.scalars(select(Building).where(Building.estate_id == estate.id))
        }
        self.households = {
            (h.building_id, h.unit, h.room): h
            for h in db.session.scalars(
                select(Household).where(Household.estate_id == estate.id)
            ).unique()
        }
        self.spaces = {
            s.number: s
            for s in db.session.scalars(
                select(ParkingSpace).where(ParkingSpace.estate_id == estate.id)
            )
        }

    def header(self, key: str) -> str:
        return self.table.headers[self.positions[key]].strip()

    def error(self, row: int, key: str, message) -> None:
        self.errors.append(RowError(row, self.header(key), message, self.positions[key]))

    # -- checking --

    def parse_rows(self) -> None:
        for number, cells in self.table.rows:
            row = Row(number)
            for key, index in self.positions.items():
                raw = cells[index] if index < len(cells) else None
                try:
                    text = cell_text(raw)
                    if not text:
                        if COLUMN_BY_KEY[key].required:
                            raise CellProblem(_l("Required."))
                        row.values[key] = None
                        continue
                    row.values[key] = parse_cell(key, text, self.categories)
                except CellProblem as problem:
                    self.error(number, key, problem.message)
                    row.values[key] = _INVALID
            self.rows.append(row)

    def resolve_buildings(self) -> dict[str, dict]:
        """``{name: wanted attributes}``: what the file says, else what is stored."""
        given: dict[str, dict[str, tuple[Any, int]]] = {}
        first_row: dict[str, int] = {}
        broken: set[tuple[str, str]] = set()
        for row in self.rows:
            name = row.values["building"]
            if name in (None, _INVALID):
                continue
            first_row.setdefault(name, row.number)
            seen = given.setdefault(name, {})
            for key in BUILDING_KEYS:
                value = row.values.get(key)
                if value is _INVALID:
                    broken.add((name, key))  # its row error is reported already
                if value in (None, _INVALID):
                    continue
                if key in seen and seen[key][0] != value:
                    self.error(
                        row.number,
                        key,
                        _l(
                            "Differs from row %(row)d for building %(building)s.",
                            row=seen[key][1],
                            building=name,
                        ),
                    )
                else:
                    seen.setdefault(key, (value, row.number))
        wanted: dict[str, dict] = {}
        for name, seen in given.items():
            attrs = {key: value for key, (value, _row) in seen.items()}
            if name not in self.buildings and "floors" not in attrs:
                if (name, "floors") in broken:
                    continue
                message = _l("New building %(building)s: give its floors (楼层数).", building=name)
                column = "floors" if "floors" in self.positions else "building"
                self.error(first_row[name], column, message)
                continue
            wanted[name] = attrs
        return wanted

    def check_rows(self, buildings: dict[str, dict]) -> None:
        keys: dict[tuple[str, str, str], int] = {}
        parking: dict[str, int] = {}
        for row in self.rows:
            values = row.values
            name, room = values["building"], values["room"]
            unit = values.get("unit") or ""
            if _INVALID not in (name, room, unit) and None not in (name, room):
                key = (name, unit, room)
                if key in keys:
                    self.error(
                        row.number,
                        "room",
                        _l("Same building, unit and room as row %(row)d.", row=keys[key]),
                    )
                else:
                    keys[key] = row.number
            floor = values.get("floor")
            if name in buildings and isinstance(floor, int):
                existing = self.buildings.get(name)
                floors = buildings[name].get("floors") or (existing and existing.floors)
                if floors and floor > floors:
                    self.error(
                        row.number,
                        "floor",
                        _l("Above the building's %(floors)d floors.", floors=floors),
                    )
            numbers = values.get("parking")
            for number in numbers if isinstance(numbers, list) else ():
                if number in parking:
                    self.error(
                        row.number,
                        "parking",
                        _l(
                            "Parking space %(number)s is also in row %(row)d.",
                            number=number,
                            row=parking[number],
                        ),
                    )
                else:
                    parking[number] = row.number

    # -- planning and writing --

    def household_wanted(self, row: Row) -> dict:
        values = row.values
        wanted: dict[str, Any] = {"area": values["area"]}
        present = self.positions
        if "floor" in present:
            wanted["floor"] = values["floor"]
        if "occupancy" in present:
            wanted["occupancy"] = values["occupancy"] or Occupancy.OCCUPIED
        for key in HOUSEHOLD_TEXT_KEYS:
            if key in present:
                wanted[key] = values[key] or ""
        if "category" in present:
            wanted["category_id"] = values["category"].id if values["category"] else None
        return wanted

    def run(self, dry_run: bool) -> ImportResult:
        self.parse_rows()
        wanted_buildings = self.resolve_buildings()
        self.check_rows(wanted_buildings)
        if self.errors:
            self.errors.sort(key=lambda e: (e.row, e.position))
            raise ValidationFailed(
                _ln(
                    "The file has %(num)d error; nothing was imported.",
                    "The file has %(num)d errors; nothing was imported.",
                    len(self.errors),
                ),
                fields={"rows": [e.as_dict() for e in self.errors]},
            )
        result = ImportResult(
            rows=len(self.rows),
            dry_run=dry_run,
            buildings=Counts(),
            households=Counts(),
            parking_spaces=Counts(),
            households_not_in_file=0,
            ignored_columns=self.ignored,
        )
        write = not dry_run

        # buildings
        position = max((b.position for b in self.buildings.values()), default=0)
        for name, attrs in wanted_buildings.items():
            building = self.buildings.get(name)
            if building is None:
                position += 1
                building = Building(
                    id=new_id(),
                    estate_id=self.estate.id,
                    name=name,
                    position=position,
                    floors=attrs["floors"],
                    has_lift=attrs.get("has_lift", False),
                    kind=attrs.get("kind", BuildingKind.LOW_RISE),
                )
                self.buildings[name] = building
                result.buildings.add(None, new=True)
                if write:
                    db.session.add(building)
                continue
            changes = _diff(building, attrs)
            result.buildings.add(changes)
            if write:
                for key, value in changes.items():
                    setattr(building, key, value)
        if write:
            db.session.flush()

        # households
        in_file: dict[int, Household] = {}  # row number → household
        # Set here rather than by the database's default: with nothing to read back, the
        # rows go out as one executemany instead of one huge INSERT … RETURNING.
        now = datetime.now(UTC)
        for row in self.rows:
            building = self.buildings[row.values["building"]]
            key = (building.id, row.values.get("unit") or "", row.values["room"])
            wanted = self.household_wanted(row)
            household = self.households.get(key)
            if household is None:
                household = Household(
                    id=new_id(),
                    estate_id=self.estate.id,
                    building_id=building.id,
                    unit=key[1],
                    room=key[2],
                    created_at=now,
                    **wanted,
                )
                result.households.add(None, new=True)
                if write:
                    db.session.add(household)
            else:
                changes = _diff(household, wanted)
                result.households.add(changes)
                if write:
                    for name, value in changes.items():
                        setattr(household, name, value)
            in_file[row.number] = household
        result.households_not_in_file = len(set(self.households.values()) - set(in_file.values()))
        if write:
            db.session.flush()

        if "parking" in self.positions:
            self.plan_parking(in_file, result.parking_spaces, write)
        if write:
            db.session.flush()
        return result

    def plan_parking(self, in_file: dict[int, Household], counts: Counts, write: bool) -> None:
        listed: set[str] = set()
        for row in self.rows:
            household = in_file[row.number]
            kind = row.values.get("parking_kind")
            for number in row.values.get("parking") or ():
                listed.add(number)
                space = self.spaces.get(number)
                if space is None:
                    counts.add(None, new=True)
                    if write:
                        db.session.add(
                            ParkingSpace(
                                estate_id=self.estate.id,
                                number=number,
                                kind=kind or ParkingKind.SURFACE,
                                household_id=household.id,
                            )
                        )
                    continue
                wanted = {"household_id": household.id}
                if kind:
                    wanted["kind"] = kind
                changes = _diff(space, wanted)
                counts.add(changes)
                if write:
                    for key, value in changes.items():
                        setattr(space, key, value)
        # Spaces a household of the file used but no longer lists are freed.
        households = {h.id for h in in_file.values()}
        for number, space in self.spaces.items():
            if number not in listed and space.household_id in households:
                counts.updated += 1
                if write:
                    space.household_id = None


def import_households(
    estate: Estate, filename: str | None, data: bytes, *, dry_run: bool = False
) -> ImportResult:
    """Check every row of the file, then (unless ``dry_run``) import it into ``estate``.

    Raises ``ValidationFailed`` listing every problem, before writing anything. Flushes,
    never commits: the request (or the caller) commits once, so the import is atomic."""
    table = read_table(filename, data)
    return _Importer(estate, table).run(dry_run)


# --- copying an estate's layout ------------------------------------------------------------


def copy_estate_layout(source: Estate, data: dict) -> Estate:
    """A new estate (``data``: name, code, address …) with ``source``'s buildings (name,
    floors, lift, kind, position), without households or parking spaces."""
    estate = estate_services.create_estate(data)
    for building in estate_services.buildings_of(source):
        estate_services.create_building(
            estate,
            {key: getattr(building, key) for key in estate_services.BUILDING_FIELDS},
        )
    return estate
