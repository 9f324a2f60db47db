"""Onboarding import: an estate's buildings, households and parking spaces from one file.

The file format (the templates from ``template_xlsx``/``template_csv`` carry it too):

- **One sheet, one row per household**: an ``.xlsx`` workbook (the sheet named 房屋 or
  ``households``, else the first sheet; the template adds a 说明 instructions sheet) or a
  ``.csv`` file (UTF-8 with or without BOM, GB18030/GBK as Excel saves it in China, or UTF-16;
  comma, semicolon or tab separated). The first non-empty row holds the headers; rows are
  numbered as the spreadsheet numbers them (the header is usually row 1).
- **Columns** (``COLUMNS``), Chinese or English headers, in any order; unknown columns are
  ignored (and reported back). Required: 楼栋/building, 房号/room, 面积/area.
  Building columns 楼层数/floors, 电梯/has_lift, 楼栋类型/kind repeat on the rows of a building.
  Parking: 车位/parking lists the numbers of the spaces the household uses (``P1,P2``),
  车位类型/parking_kind their kind.
- **Values**: enums in Chinese or English (有/无, 是/否; 多层/小高层/高层/平房/其他; 自住/空置/出租;
  地面/地下/车库/电动车); categories by the tenant's code or name (普通, 低保 or ``low_income``);
  areas in m² with up to 2 decimals (units such as ㎡ are ignored); full-width digits are fine.

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

import codecs
import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
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
    HouseholdCategory,
    Occupancy,
    ParkingKind,
    ParkingSpace,
)
from ruihe_saas.extensions import db
from ruihe_saas.ids import new_id

MAX_ROWS = 20_000  # data rows per file
MAX_BYTES = 10 * 1024 * 1024
MAX_UNPACKED_BYTES = 200 * 1024 * 1024  # an .xlsx is a zip: bound what it unpacks to
MAX_SCANNED_ROWS = 3 * MAX_ROWS  # blank rows included: bounds a sheet of empty rows
MAX_COLUMNS = 60
CSV_MIMETYPE = "text/csv"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TEMPLATE_SHEET = "房屋"
INSTRUCTIONS_SHEET = "说明"


# --- the format ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    header: str  # the template's (Chinese) header
    english: str  # the English header
    aliases: tuple[str, ...]
    required: bool
    help: Any  # a lazy string


COLUMNS: tuple[Column, ...] = (
    Column("building", "楼栋", "building", ("楼号", "楼栋号", "栋号", "楼幢"), True,
           _l("Building name or number, e.g. 1栋. A new name creates the building.")),
    Column("floors", "楼层数", "floors", ("总层数", "层数", "总楼层"), False,
           _l("Floors of the building (1–200). Needed once for a new building.")),
    Column("has_lift", "电梯", "has_lift", ("lift", "elevator", "有无电梯", "有电梯"), False,
           _l("Does the building have a lift: 有/无, 是/否, yes/no.")),
    Column("kind", "楼栋类型", "kind", ("building_kind", "building_type", "楼型", "类型"), False,
           _l("多层, 小高层, 高层, 平房 or 其他 (low_rise, small_high_rise, high_rise, "
              "bungalow, other).")),
    Column("unit", "单元", "unit", ("单元号",), False,
           _l("Unit (单元) number, e.g. 2; leave blank if the building has none.")),
    Column("room", "房号", "room", ("room_number", "房间号", "门牌号", "室号"), True,
           _l("Room number, e.g. 502.")),
    Column("floor", "楼层", "floor", ("所在楼层", "所在层"), False,
           _l("Floor of the dwelling; at most the building's floors.")),
    Column("area", "面积", "area", ("建筑面积", "房屋面积", "area_m2"), True,
           _l("Floor area in m², more than 0, up to 2 decimals, e.g. 86.50.")),
    Column("occupancy", "入住状态", "occupancy", ("居住状态", "状态", "入住情况"), False,
           _l("自住, 空置 or 出租 (occupied, vacant, rented); blank: occupied.")),
    Column("owner_names", "业主", "owner", ("owners", "owner_name", "owner_names", "业主姓名",
                                             "户主", "业主名称"), False,
           _l("Owner name(s).")),
    Column("phones", "电话", "phone", ("phones", "联系电话", "手机", "手机号", "电话号码"), False,
           _l("Phone number(s).")),
    Column("category", "类别", "category", ("住户类别", "户类别", "户类型", "household_category"),
           False, _l("Household category: its name or code (see the list).")),
    Column("parking", "车位", "parking", ("parking_spaces", "车位号", "停车位"), False,
           _l("Numbers of the household's parking spaces, comma-separated, e.g. P12,P13.")),
    Column("parking_kind", "车位类型", "parking_kind", ("车位种类",), False,
           _l("地面, 地下, 车库 or 电动车 (surface, underground, garage, ebike).")),
    Column("notes", "备注", "notes", ("note", "remarks", "remark"), False, _l("Notes.")),
)  # fmt: skip
COLUMN_BY_KEY = {column.key: column for column in COLUMNS}
BUILDING_KEYS = ("floors", "has_lift", "kind")
HOUSEHOLD_TEXT_KEYS = ("owner_names", "phones", "notes")
MAX_LENGTH = {
    "building": 40,
    "unit": 10,
    "room": 20,
    "owner_names": 200,
    "phones": 100,
    "notes": 5000,
}


def _norm_header(value: str) -> str:
    """``面积（m²）*`` → ``面积``; ``Owner Names`` → ``ownernames``."""
    text = unicodedata.normalize("NFKC", value).strip().lower()
    text = re.sub(r"\(.*?\)|\[.*?\]", "", text)
    return re.sub(r"[\s_\-*:]+", "", text)


_HEADER_KEYS: dict[str, str] = {}
for _column in COLUMNS:
    for _name in (_column.header, _column.english, _column.key, *_column.aliases):
        _HEADER_KEYS[_norm_header(_name)] = _column.key


def _choices(mapping: dict[str, Any]) -> dict[str, Any]:
    return {_norm_header(key): value for key, value in mapping.items()}


YES_NO = _choices(
    {
        **dict.fromkeys(("有", "是", "y", "yes", "true", "1", "√", "✓", "有电梯"), True),
        **dict.fromkeys(("无", "否", "没有", "n", "no", "false", "0", "×", "x", "无电梯"), False),
    }
)
BUILDING_KINDS = _choices(
    {
        **{kind.value: kind for kind in BuildingKind},
        "多层": BuildingKind.LOW_RISE,
        "低层": BuildingKind.LOW_RISE,
        "小高层": BuildingKind.SMALL_HIGH_RISE,
        "高层": BuildingKind.HIGH_RISE,
        "平房": BuildingKind.BUNGALOW,
        "其他": BuildingKind.OTHER,
        "其它": BuildingKind.OTHER,
    }
)
OCCUPANCIES = _choices(
    {
        **{occupancy.value: occupancy for occupancy in Occupancy},
        **dict.fromkeys(("自住", "入住", "已入住", "居住", "在住"), Occupancy.OCCUPIED),
        **dict.fromkeys(("空置", "空房", "闲置", "未入住"), Occupancy.VACANT),
        **dict.fromkeys(("出租", "租住", "租赁", "已出租"), Occupancy.RENTED),
    }
)
PARKING_KINDS = _choices(
    {
        **{kind.value: kind for kind in ParkingKind},
        "地面": ParkingKind.SURFACE,
        "地上": ParkingKind.SURFACE,
        "地下": ParkingKind.UNDERGROUND,
        "车库": ParkingKind.GARAGE,
        "电动车": ParkingKind.EBIKE,
        "电瓶车": ParkingKind.EBIKE,
        "非机动车": ParkingKind.EBIKE,
    }
)
CHOICE_HINTS = {
    "has_lift": "有/无",
    "kind": "多层/小高层/高层/平房/其他",
    "occupancy": "自住/空置/出租",
    "parking_kind": "地面/地下/车库/电动车",
}
PARKING_SPLIT = re.compile(r"[,，、;；/\s]+")
AREA_UNITS = re.compile(r"(m2|平方米|平米|平方)$")


# --- reading a file ------------------------------------------------------------------------


@dataclass
class Table:
    headers: list[str]
    header_row: int
    rows: list[tuple[int, list[Any]]]  # (spreadsheet row number, cells), blank rows left out


def _file_error(message) -> ValidationFailed:
    return ValidationFailed(_l("The file cannot be imported."), fields={"file": [message]})


def _blank(cells: Iterable[Any]) -> bool:
    return all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells)


def _table(numbered_rows: Iterable[tuple[int, list[Any]]]) -> Table:
    headers: list[str] | None = None
    header_row = 0
    rows: list[tuple[int, list[Any]]] = []
    for number, cells in numbered_rows:
        if number > MAX_SCANNED_ROWS:
            raise _file_error(_l("The file has more than %(max)d rows.", max=MAX_ROWS))
        if _blank(cells):
            continue
        if headers is None:
            headers = ["" if cell is None else str(cell) for cell in cells]
            header_row = number
            continue
        rows.append((number, list(cells)))
        if len(rows) > MAX_ROWS:
            raise _file_error(_l("The file has more than %(max)d rows.", max=MAX_ROWS))
    if headers is None:
        raise _file_error(_l("The file is empty."))
    if not rows:
        raise _file_error(_l("The file has headers but no rows."))
    return Table(headers, header_row, rows)


def _trimmed(cells: Iterable[Any]) -> list[Any]:
    """A sheet row without its trailing empty cells (read-only sheets pad rows)."""
    cells = list(cells)
    while cells and cells[-1] is None:
        cells.pop()
    return cells


def _read_xlsx(data: bytes) -> Table:
    from openpyxl import load_workbook

    unreadable = _file_error(_l("The file is not a readable Excel workbook (.xlsx)."))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(member.file_size for member in archive.infolist())
        if unpacked > MAX_UNPACKED_BYTES:  # a zip bomb
            raise unreadable
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except ValidationFailed:
        raise
    except Exception:  # noqa: BLE001 - a malformed workbook is a 422, never a 500
        raise unreadable from None
    try:
        by_name = {name.strip().lower(): name for name in workbook.sheetnames}
        name = by_name.get(TEMPLATE_SHEET) or by_name.get("households")
        if name is None:
            candidates = [
                n for n in workbook.sheetnames if n.strip().lower() not in {"说明", "instructions"}
            ]
            name = (candidates or workbook.sheetnames)[0]
        sheet = workbook[name]
        numbered = enumerate(
            (
                _trimmed(r)
                for r in sheet.iter_rows(min_row=1, max_col=MAX_COLUMNS, values_only=True)
            ),
            start=1,
        )
        return _table(numbered)
    except ValidationFailed:
        raise
    except Exception:  # noqa: BLE001
        raise unreadable from None
    finally:
        workbook.close()


def _decode(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings = ("utf-16",)
    else:
        encodings = ("utf-8-sig", "gb18030")  # Excel in China saves CSV as GBK
    for encoding in encodings:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text
    raise _file_error(_l("The file is not readable text: save it as CSV (UTF-8 or GBK)."))


def _read_csv(data: bytes) -> Table:
    text = _decode(data)
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max((",", "\t", ";"), key=first.count)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        return _table(enumerate((row[:MAX_COLUMNS] for row in reader), start=1))
    except csv.Error:
        raise _file_error(_l("The file is not a readable CSV file.")) from None


def read_table(filename: str | None, data: bytes) -> Table:
    """The header and rows of an uploaded ``.xlsx`` or ``.csv`` file (422 if unreadable)."""
    if len(data) > MAX_BYTES:
        raise _file_error(_l("The file is larger than %(max)d MB.", max=MAX_BYTES // 2**20))
    if not data.strip():
        raise _file_error(_l("The file is empty."))
    extension = (filename or "").rpartition(".")[2].lower() if "." in (filename or "") else ""
    if extension == "xls" or data.startswith(b"\xd0\xcf\x11\xe0"):
        raise _file_error(
            _l("Old Excel files (.xls) are not supported: save the file as .xlsx or CSV.")
        )
    if extension not in {"", "xlsx", "xlsm", "csv", "txt"}:
        raise _file_error(_l("Upload an .xlsx or .csv file."))
    if data.startswith(b"PK\x03\x04"):
        return _read_xlsx(data)
    if extension in {"xlsx", "xlsm"}:
        raise _file_error(_l("The file is not a readable Excel workbook (.xlsx)."))
    return _read_csv(data)


# --- validating rows -----------------------------------------------------------------------


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


class _Problem(Exception):
    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime | date | time):
        raise _Problem(_l("Excel turned this into a date: format the column as text."))
    return unicodedata.normalize("NFKC", str(value)).strip()


def _integer(text: str, low: int, high: int, *suffixes: str) -> int:
    for suffix in suffixes:
        text = text.removesuffix(suffix)
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        raise _Problem(_l("Not a whole number.")) from None
    if not number.is_finite() or number != number.to_integral_value():
        raise _Problem(_l("Not a whole number."))
    if not low <= number <= high:
        raise _Problem(_l("Must be between %(low)d and %(high)d.", low=low, high=high))
    return int(number)


def _area(text: str) -> Decimal:
    text = AREA_UNITS.sub("", text.lower()).strip()
    try:
        area = Decimal(text)
    except InvalidOperation:
        raise _Problem(_l("Not a number.")) from None
    if not area.is_finite():
        raise _Problem(_l("Not a number."))
    area = area.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if area <= 0:
        raise _Problem(_l("Must be more than 0."))
    if area > 100_000:
        raise _Problem(_l("Must be at most 100000 m²."))
    return area


def _choice(text: str, choices: dict[str, Any], key: str):
    value = choices.get(_norm_header(text))
    if value is None:
        raise _Problem(
            _l("Unknown value %(value)s: use %(choices)s.", value=text, choices=CHOICE_HINTS[key])
        )
    return value


class _Categories:
    def __init__(self, categories: list[HouseholdCategory]):
        self.by_key: dict[str, HouseholdCategory] = {}
        for category in categories:
            self.by_key.setdefault(category.code.strip().lower(), category)
            self.by_key.setdefault(unicodedata.normalize("NFKC", category.name).strip(), category)
        self.names = "、".join(c.name for c in categories) or "—"

    def find(self, text: str) -> HouseholdCategory:
        found = self.by_key.get(text) or self.by_key.get(text.lower())
        if found is None:
            raise _Problem(
                _l("Unknown category %(value)s: use %(choices)s.", value=text, choices=self.names)
            )
        return found


def _parse_cell(key: str, text: str, categories: _Categories):
    """The value of one non-blank cell, or ``_Problem``."""
    if key in MAX_LENGTH and len(text) > MAX_LENGTH[key]:
        raise _Problem(_l("At most %(max)d characters.", max=MAX_LENGTH[key]))
    if key == "floors":
        return _integer(text, 1, 200, "层", "F", "f")
    if key == "floor":
        return _integer(text, -10, 200, "层", "楼", "F", "f")
    if key == "area":
        return _area(text)
    if key == "has_lift":
        return _choice(text, YES_NO, key)
    if key == "kind":
        return _choice(text, BUILDING_KINDS, key)
    if key == "occupancy":
        return _choice(text, OCCUPANCIES, key)
    if key == "parking_kind":
        return _choice(text, PARKING_KINDS, key)
    if key == "category":
        return categories.find(text)
    if key == "unit":
        return text.removesuffix("单元")
    if key == "parking":
        numbers = list(dict.fromkeys(n for n in PARKING_SPLIT.split(text) if n))
        for number in numbers:
            if len(number) > 20:
                raise _Problem(_l("A parking space number has at most 20 characters."))
        return numbers
    return text


def _map_headers(table: Table) -> tuple[dict[str, int], list[str]]:
    """``{column key: index}`` and the ignored headers; 422 on missing or repeated columns."""
    positions: dict[str, int] = {}
    ignored: list[str] = []
    problems = []
    for index, header in enumerate(table.headers):
        if not header.strip():
            continue
        key = _HEADER_KEYS.get(_norm_header(header))
        if key is None:
            ignored.append(header.strip())
        elif key in positions:
            problems.append(_l("Column %(column)s appears twice.", column=header.strip()))
        else:
            positions[key] = index
    for column in COLUMNS:
        if column.required and column.key not in positions:
            problems.append(
                _l(
                    "Missing column %(column)s (%(english)s).",
                    column=column.header,
                    english=column.english,
                )
            )
    if problems:
        raise ValidationFailed(_l("The file cannot be imported."), fields={"file": problems})
    return positions, ignored


# --- the plan ------------------------------------------------------------------------------


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


def _diff(obj, wanted: dict) -> dict:
    return {key: value for key, value in wanted.items() if getattr(obj, key) != value}


class _Importer:
    """One import: load the estate once, check every row, then write the differences."""

    def __init__(self, estate: Estate, table: Table):
        self.estate = estate
        self.table = table
        self.positions, self.ignored = _map_headers(table)
        self.errors: list[RowError] = []
        self.rows: list[Row] = []
        self.categories = _Categories(estate_services.categories())
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
                    text = _cell_text(raw)
                    if not text:
                        if COLUMN_BY_KEY[key].required:
                            raise _Problem(_l("Required."))
                        row.values[key] = None
                        continue
                    row.values[key] = _parse_cell(key, text, self.categories)
                except _Problem as problem:
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


# --- templates -----------------------------------------------------------------------------


def template_csv() -> bytes:
    """The CSV template: the header row only (UTF-8 with a BOM, so Excel opens it right)."""
    buffer = io.StringIO(newline="")
    csv.writer(buffer, lineterminator="\r\n").writerow([c.header for c in COLUMNS])
    return buffer.getvalue().encode("utf-8-sig")


def template_xlsx() -> bytes:
    """The XLSX template: a 房屋 sheet with the header row and a 说明 sheet explaining it."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = TEMPLATE_SHEET
    bold = Font(bold=True)
    required_fill = PatternFill("solid", fgColor="FFF2CC")
    for index, column in enumerate(COLUMNS, start=1):
        cell = sheet.cell(row=1, column=index, value=column.header)
        cell.font = bold
        if column.required:
            cell.fill = required_fill
        letter = cell.column_letter
        sheet.column_dimensions[letter].width = max(10, len(column.header) * 3)
        # Rooms, units and phones stay text: Excel would turn 1-101 into a date.
        if column.key in {"building", "unit", "room", "phones", "parking"}:
            sheet.column_dimensions[letter].number_format = "@"
    sheet.freeze_panes = "A2"

    notes = workbook.create_sheet(INSTRUCTIONS_SHEET)
    wrap = Alignment(wrap_text=True, vertical="top")
    lines = [
        [str(_l("Fill in the 房屋 sheet: one row per household, from row 2 on."))],
        [str(_l("A household is identified by building + unit + room: a row for an existing "
                "household updates it; households not in the file are left alone; nothing is "
                "ever deleted."))],
        [str(_l("If any row has an error, nothing is imported: fix the rows listed and upload "
                "the file again. Importing the same file twice changes nothing."))],
        [str(_l("A blank household cell clears that value (a blank occupancy: occupied); a "
                "blank building cell keeps the stored value; a column left out changes "
                "nothing. With a 车位 column, spaces a household no longer lists are freed."))],
        [str(_l("English headers are accepted too (building, unit, room, floor, area, owner, "
                "phone …). At most %(max)d rows. Save CSV files as UTF-8 or GBK.",
                max=MAX_ROWS))],
        [],
        [str(_l("Column")), str(_l("English header")), str(_l("Required")),
         str(_l("What to enter"))],
    ]  # fmt: skip
    for column in COLUMNS:
        lines.append(
            [column.header, column.english, "✓" if column.required else "", str(column.help)]
        )
    lines.append([])
    lines.append([str(_l("Household categories")), str(_l("Code"))])
    for category in estate_services.categories():
        lines.append([category.name, category.code])
    header_row = next(i for i, line in enumerate(lines, start=1) if len(line) == 4)
    for line in lines:
        notes.append(line)
    for cell in notes[header_row]:
        cell.font = bold
    for row in notes.iter_rows(min_row=header_row):
        for cell in row:
            cell.alignment = wrap
    for letter, width in (("A", 14), ("B", 16), ("C", 8), ("D", 70)):
        notes.column_dimensions[letter].width = width
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


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
