"""The household import file's format: its columns, value vocabularies and templates.

- **One sheet, one row per household**: an ``.xlsx`` workbook (the sheet named 房屋 or
  ``households``, else the first sheet; the template adds a 说明 instructions sheet) or a
  ``.csv`` file (UTF-8 with or without BOM, GB18030/GBK as Excel saves it in China, or UTF-16;
  comma, semicolon or tab separated), at most ``MAX_ROWS`` rows and ``MAX_BYTES`` bytes. The
  first non-empty row holds the headers; rows are numbered as the spreadsheet numbers them
  (the header is usually row 1). Reading a file is ``reading``'s job.
- **Columns** (``COLUMNS``), Chinese or English headers, in any order; unknown columns are
  ignored (and reported back). Required: 楼栋/building, 房号/room, 面积/area.
  Building columns 楼层数/floors, 电梯/has_lift, 楼栋类型/kind (``BUILDING_KEYS``) repeat on
  the rows of a building. Parking: 车位/parking lists the numbers of the spaces the household
  uses (``P1,P2``), 车位类型/parking_kind their kind. ``map_headers`` maps a file's headers
  to column keys.
- **Values**: enums in Chinese or English (有/无, 是/否; 多层/小高层/高层/平房/其他; 自住/空置/出租;
  地面/地下/车库/电动车: ``YES_NO``, ``BUILDING_KINDS``, ``OCCUPANCIES``, ``PARKING_KINDS``);
  categories by the tenant's code or name (普通, 低保 or ``low_income``); areas in m² with up
  to 2 decimals (units such as ㎡ are ignored); full-width digits are fine. Parsing a cell
  is ``cells``'s job.

``template_xlsx`` (a 房屋 sheet with the headers, a 说明 sheet explaining the columns and
listing the tenant's household categories) and ``template_csv`` (the header row) carry the
format to the people filling it in.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l

from ruihe_saas.errors import ValidationFailed
from ruihe_saas.estates import services as estate_services
from ruihe_saas.estates.models import BuildingKind, Occupancy, ParkingKind

MAX_ROWS = 20_000  # data rows per file
MAX_BYTES = 10 * 1024 * 1024
CSV_MIMETYPE = "text/csv"
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TEMPLATE_SHEET = "房屋"
INSTRUCTIONS_SHEET = "说明"


# --- columns -------------------------------------------------------------------------------


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


def norm_header(value: str) -> str:
    """``面积（m²）*`` → ``面积``; ``Owner Names`` → ``ownernames``."""
    text = unicodedata.normalize("NFKC", value).strip().lower()
    text = re.sub(r"\(.*?\)|\[.*?\]", "", text)
    return re.sub(r"[\s_\-*:]+", "", text)


_HEADER_KEYS: dict[str, str] = {}
for _column in COLUMNS:
    for _name in (_column.header, _column.english, _column.key, *_column.aliases):
        _HEADER_KEYS[norm_header(_name)] = _column.key


def map_headers(headers: Sequence[str]) -> tuple[dict[str, int], list[str]]:
    """``{column key: index}`` and the ignored headers; 422 on missing or repeated columns."""
    positions: dict[str, int] = {}
    ignored: list[str] = []
    problems = []
    for index, header in enumerate(headers):
        if not header.strip():
            continue
        key = _HEADER_KEYS.get(norm_header(header))
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


# --- values --------------------------------------------------------------------------------


def _choices(mapping: dict[str, Any]) -> dict[str, Any]:
    return {norm_header(key): value for key, value in mapping.items()}


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
