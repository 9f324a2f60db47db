"""One cell of an import file → its value: the per-cell checks of a household import.

``cell_text`` turns what a reader found in a cell (``reading``) into normalised text (NFKC:
full-width digits and letters become ASCII; a number Excel stored as ``101.0`` reads
``101``; a date Excel made of ``1-101`` is refused). ``parse_cell`` turns the non-blank
text of a column into its value: whole numbers (floors, floor, with 层/楼/F suffixes),
an area in m² (units dropped, rounded half-up to 0.01, more than 0, at most 100000), a
choice from ``formats``' vocabularies, a household category of the tenant (by code or
name, ``Categories``), a unit without 单元, a list of parking space numbers; text longer
than its column allows (``MAX_LENGTH``) is refused. Every refusal is a ``CellProblem``
whose message is the row error shown against that cell.

Pure functions: no database access (the caller loads the categories once).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from flask_babel import lazy_gettext as _l

from ruihe_saas.estates.models import HouseholdCategory
from ruihe_saas.imports.formats import (
    BUILDING_KINDS,
    CHOICE_HINTS,
    OCCUPANCIES,
    PARKING_KINDS,
    YES_NO,
    norm_header,
)

MAX_LENGTH = {
    "building": 40,
    "unit": 10,
    "room": 20,
    "owner_names": 200,
    "phones": 100,
    "notes": 5000,
}
PARKING_SPLIT = re.compile(r"[,，、;；/\s]+")
AREA_UNITS = re.compile(r"(m2|平方米|平米|平方)$")


class CellProblem(Exception):
    """A cell's value is refused; ``message`` (a lazy string) says why."""

    def __init__(self, message):
        super().__init__(str(message))
        self.message = message


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, datetime | date | time):
        raise CellProblem(_l("Excel turned this into a date: format the column as text."))
    return unicodedata.normalize("NFKC", str(value)).strip()


def _integer(text: str, low: int, high: int, *suffixes: str) -> int:
    for suffix in suffixes:
        text = text.removesuffix(suffix)
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        raise CellProblem(_l("Not a whole number.")) from None
    if not number.is_finite() or number != number.to_integral_value():
        raise CellProblem(_l("Not a whole number."))
    if not low <= number <= high:
        raise CellProblem(_l("Must be between %(low)d and %(high)d.", low=low, high=high))
    return int(number)


def _area(text: str) -> Decimal:
    text = AREA_UNITS.sub("", text.lower()).strip()
    try:
        area = Decimal(text)
    except InvalidOperation:
        raise CellProblem(_l("Not a number.")) from None
    if not area.is_finite():
        raise CellProblem(_l("Not a number."))
    area = area.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if area <= 0:
        raise CellProblem(_l("Must be more than 0."))
    if area > 100_000:
        raise CellProblem(_l("Must be at most 100000 m²."))
    return area


def _choice(text: str, choices: dict[str, Any], key: str):
    value = choices.get(norm_header(text))
    if value is None:
        raise CellProblem(
            _l("Unknown value %(value)s: use %(choices)s.", value=text, choices=CHOICE_HINTS[key])
        )
    return value


class Categories:
    def __init__(self, categories: list[HouseholdCategory]):
        self.by_key: dict[str, HouseholdCategory] = {}
        for category in categories:
            self.by_key.setdefault(category.code.strip().lower(), category)
            self.by_key.setdefault(unicodedata.normalize("NFKC", category.name).strip(), category)
        self.names = "、".join(c.name for c in categories) or "—"

    def find(self, text: str) -> HouseholdCategory:
        found = self.by_key.get(text) or self.by_key.get(text.lower())
        if found is None:
            raise CellProblem(
                _l("Unknown category %(value)s: use %(choices)s.", value=text, choices=self.names)
            )
        return found


def parse_cell(key: str, text: str, categories: Categories):
    """The value of one non-blank cell, or ``CellProblem``."""
    if key in MAX_LENGTH and len(text) > MAX_LENGTH[key]:
        raise CellProblem(_l("At most %(max)d characters.", max=MAX_LENGTH[key]))
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
                raise CellProblem(_l("A parking space number has at most 20 characters."))
        return numbers
    return text
