"""Importing household meter readings from one XLSX/CSV file, all or nothing.

Columns (Chinese or English headers, any order; unknown columns are ignored): 楼栋/building,
单元/unit (optional), 房号/room, 表类型/meter_kind (水/电/充电/燃气 or water/electricity/
ebike_charging/gas), 期间/period (``YYYY-MM``; ``2024/07``, ``2024年7月`` and a date cell
work too), 本期读数/current_reading, optional 上期读数/previous_reading, 换表/replacement
(是/否), 抄表日期/read_on.

Files are read by ``imports.reading`` (encodings, XLSX, size and row guards) and cells
normalised by ``imports.cells.cell_text``. Every row is checked first, against the stored
readings and the file's other rows (in period order, so a file may hold several months of
one meter); any bad row → 422 listing every one as ``fields.rows`` = ``[{row, column,
message}]`` and nothing is stored. Otherwise each row is recorded as ``readings`` records
one reading; the result counts created, replaced and unchanged readings.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext as _ln
from sqlalchemy import select

from ruihe_saas.errors import ValidationFailed
from ruihe_saas.estates.models import Building, Estate, Household
from ruihe_saas.extensions import db
from ruihe_saas.fees.models import MeterKind, MeterReading
from ruihe_saas.fees.readings import (
    MAX_READING,
    ReadingProblem,
    apply_plan,
    household_histories,
    plan_reading,
)
from ruihe_saas.imports.cells import CellProblem, cell_text
from ruihe_saas.imports.formats import YES_NO, norm_header
from ruihe_saas.imports.reading import read_table
from ruihe_saas.imports.services import RowError

# key: (template header, English header, aliases, required)
COLUMNS: dict[str, tuple[str, str, tuple[str, ...], bool]] = {
    "building": ("楼栋", "building", ("楼号", "楼栋号", "栋号", "楼幢"), True),
    "unit": ("单元", "unit", ("单元号",), False),
    "room": ("房号", "room", ("房间号", "门牌号", "室号", "room_number"), True),
    "meter_kind": ("表类型", "meter_kind", ("表", "表计", "类型", "meter"), True),
    "period": ("期间", "period", ("月份", "抄表月份", "账期", "抄表期间"), True),
    "current_reading": ("本期读数", "current_reading", ("本月读数", "读数", "current"), True),
    "previous_reading": ("上期读数", "previous_reading", ("上月读数", "previous"), False),
    "replacement": ("换表", "replacement", ("is_replacement", "是否换表"), False),
    "read_on": ("抄表日期", "read_on", ("读表日期",), False),
}
HEADER_KEYS = {
    norm_header(name): key
    for key, (header, english, aliases, _required) in COLUMNS.items()
    for name in (header, english, key, *aliases)
}
METER_KINDS = {
    norm_header(name): kind
    for kind, names in {
        MeterKind.WATER: ("水", "水表", "自来水", "water"),
        MeterKind.ELECTRICITY: ("电", "电表", "electricity", "power"),
        MeterKind.EBIKE_CHARGING: ("充电", "充电桩", "电动车充电", "ebike_charging", "charging"),
        MeterKind.GAS: ("燃气", "燃气表", "气", "gas"),
    }.items()
    for name in names
}
PERIOD_RE = re.compile(r"^(\d{4})\s*[-/.年]?\s*(\d{1,2})\s*月?$")


@dataclass
class ReadingImportResult:
    rows: int
    created: int = 0
    replaced: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict:
        return {
            "rows": self.rows,
            "created": self.created,
            "replaced": self.replaced,
            "unchanged": self.unchanged,
        }


@dataclass
class Entry:
    row: int
    household: Household
    kind: MeterKind
    period: str
    current: Decimal
    previous: Decimal | None
    is_replacement: bool
    read_on: date | None


def _period(value: Any) -> str:
    if isinstance(value, datetime | date):
        return f"{value.year:04d}-{value.month:02d}"
    match = PERIOD_RE.match(cell_text(value))
    if not match or not 1 <= int(match.group(2)) <= 12 or not 2000 <= int(match.group(1)) <= 2100:
        raise CellProblem(_l("Use the form YYYY-MM, e.g. 2024-07."))
    return f"{match.group(1)}-{int(match.group(2)):02d}"


def _reading(value: Any) -> Decimal:
    text = cell_text(value).replace(",", "")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise CellProblem(_l("Not a number.")) from None
    if not number.is_finite() or number < 0 or number > MAX_READING:
        raise CellProblem(_l("Must be a number from 0 to %(max)s.", max=MAX_READING))
    return number.quantize(Decimal("0.01"))


def _read_on(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(cell_text(value).replace("/", "-"))
    except ValueError:
        raise CellProblem(_l("Not a date (YYYY-MM-DD).")) from None


class _Import:
    def __init__(self, estate: Estate, headers: list[str]):
        self.estate = estate
        self.errors: list[RowError] = []
        self.positions: dict[str, int] = {}
        self.headers = headers
        problems = []
        for index, header in enumerate(headers):
            key = HEADER_KEYS.get(norm_header(header)) if header.strip() else None
            if key is None:
                continue
            if key in self.positions:
                problems.append(_l("Column %(column)s appears twice.", column=header.strip()))
            self.positions.setdefault(key, index)
        for key, (header, english, _aliases, required) in COLUMNS.items():
            if required and key not in self.positions:
                problems.append(
                    _l("Missing column %(column)s (%(english)s).", column=header, english=english)
                )
        if problems:
            raise ValidationFailed(_l("The file cannot be imported."), fields={"file": problems})
        buildings = {
            b.id: b.name
            for b in db.session.scalars(select(Building).where(Building.estate_id == estate.id))
        }
        self.households = {
            (buildings[h.building_id], h.unit, h.room): h
            for h in db.session.scalars(select(Household).where(Household.estate_id == estate.id))
        }

    def error(self, row: int, key: str, message) -> None:
        position = self.positions.get(key, 0)
        column = self.headers[position].strip() if key in self.positions else COLUMNS[key][0]
        self.errors.append(RowError(row, column, message, position))

    def cell(self, cells: list, key: str) -> Any:
        index = self.positions.get(key)
        return cells[index] if index is not None and index < len(cells) else None

    def parse(self, number: int, cells: list) -> Entry | None:
        values: dict[str, Any] = {}
        parsers = {
            "meter_kind": lambda v: self._kind(v),
            "period": _period,
            "current_reading": _reading,
            "previous_reading": _reading,
            "replacement": self._yes_no,
            "read_on": _read_on,
        }
        ok = True
        for key in COLUMNS:
            raw = self.cell(cells, key)
            try:
                if raw is None or (isinstance(raw, str) and not raw.strip()):
                    if COLUMNS[key][3]:
                        raise CellProblem(_l("Required."))
                    values[key] = None
                    continue
                values[key] = parsers.get(key, cell_text)(raw)
            except CellProblem as problem:
                self.error(number, key, problem.message)
                ok = False
        if not ok:
            return None
        unit = (values["unit"] or "").removesuffix("单元")
        household = self.households.get((values["building"], unit, values["room"]))
        if household is None:
            self.error(number, "room", _l("No such household in this estate."))
            return None
        return Entry(
            number,
            household,
            values["meter_kind"],
            values["period"],
            values["current_reading"],
            values["previous_reading"],
            bool(values["replacement"]),
            values["read_on"],
        )

    @staticmethod
    def _kind(value: Any) -> MeterKind:
        kind = METER_KINDS.get(norm_header(cell_text(value)))
        if kind is None:
            raise CellProblem(_l("Unknown meter kind: use 水, 电, 充电 or 燃气."))
        return kind

    @staticmethod
    def _yes_no(value: Any) -> bool:
        answer = YES_NO.get(norm_header(cell_text(value)))
        if answer is None:
            raise CellProblem(_l("Use 是 or 否."))
        return answer


def import_readings(estate: Estate, filename: str | None, data: bytes) -> ReadingImportResult:
    table = read_table(filename, data)
    run = _Import(estate, table.headers)
    entries: list[Entry] = []
    seen: dict[tuple[uuid.UUID, MeterKind, str], int] = {}
    for number, cells in table.rows:
        entry = run.parse(number, cells)
        if entry is None:
            continue
        key = (entry.household.id, entry.kind, entry.period)
        if key in seen:
            run.error(
                number,
                "period",
                _l("Same household, meter and period as row %(row)d.", row=seen[key]),
            )
            continue
        seen[key] = number
        entries.append(entry)
    histories = household_histories({e.household.id for e in entries}, {e.kind for e in entries})
    plans = []
    for entry in sorted(entries, key=lambda e: (str(e.household.id), e.kind.value, e.period)):
        history = histories.setdefault((entry.household.id, entry.kind), {})
        before = history.get(entry.period)
        unchanged = before is not None and (
            (before.current, before.is_replacement) == (entry.current, entry.is_replacement)
            and (entry.previous is None or entry.previous == before.previous)
        )
        try:
            plan = plan_reading(
                history, entry.period, entry.current, entry.previous, entry.is_replacement
            )
        except ReadingProblem as problem:
            key = {"current_reading": "current_reading", "period": "period"}.get(problem.field)
            run.error(entry.row, key or "current_reading", problem.message)
            continue
        plans.append((entry, plan, unchanged))
    if run.errors:
        run.errors.sort(key=lambda e: (e.row, e.position))
        raise ValidationFailed(
            _ln(
                "The file has %(num)d error; nothing was imported.",
                "The file has %(num)d errors; nothing was imported.",
                len(run.errors),
            ),
            fields={"rows": [e.as_dict() for e in run.errors]},
        )
    result = ReadingImportResult(rows=len(table.rows))
    for entry, plan, unchanged in plans:
        if unchanged and plan.chain is None and plan.existing.previous_reading == plan.previous:
            result.unchanged += 1
            continue
        row, replaced = apply_plan(
            plan,
            lambda entry=entry: MeterReading(
                estate_id=estate.id,
                household_id=entry.household.id,
                meter_kind=entry.kind,
                period=entry.period,
            ),
        )
        if entry.read_on is not None:
            row.read_on = entry.read_on
        if replaced:
            result.replaced += 1
        else:
            result.created += 1
    db.session.flush()
    return result
