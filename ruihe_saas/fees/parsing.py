"""Tolerant parsing of what the API and the forms send (strings, numbers, dates, enums):
each parser returns the value, or records a field error in ``Errors`` and returns None, so a
check can report every problem at once (``Errors.raise_if_any``). Shared by the fee
services (schedules, adjustments, shared meters, readings) and occupancy changes."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import Enum
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ruihe_saas.billing.periods import Period, PeriodError
from ruihe_saas.errors import ValidationFailed
from ruihe_saas.estates.models import Estate, HouseholdCategory
from ruihe_saas.extensions import db

CODE_RE = re.compile(r"^[a-z0-9_]{1,40}$")
MAX_ITEMS = 30
MAX_RATE = Decimal("1000000")
MAX_MONEY = Decimal("1000000")
MAX_LIST = 2000  # ids in one filter or one-off target list
CENT = Decimal("0.01")
RATE_PLACES = Decimal("0.0001")
MISSING = object()

REQUIRED = _l("Required.")


class Errors:
    """Collects field errors; ``raise_if_any`` ends a check with all of them at once."""

    def __init__(self) -> None:
        self.fields: dict[str, list] = {}

    def add(self, key: str, message) -> None:
        self.fields.setdefault(key, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.fields)

    def raise_if_any(self, message=None) -> None:
        if self.fields:
            raise ValidationFailed(message or _l("Some values are invalid."), fields=self.fields)


def local_today() -> date:
    """Today where the tenant works (as the handover pages count it)."""
    from ruihe_saas.handover.services import local_today as today

    return today()


# --- tolerant parsers: the value, or None after recording an error ---------------------------


def blank(value: Any) -> bool:
    return value is None or value is MISSING or (isinstance(value, str) and not value.strip())


def parse_decimal(
    value: Any,
    key: str,
    errors: Errors,
    *,
    low: Decimal = Decimal("0"),
    high: Decimal = MAX_MONEY,
    places: Decimal = CENT,
    low_open: bool = False,
) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        errors.add(key, _l("Not a number."))
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        errors.add(key, _l("Not a number."))
        return None
    if not number.is_finite():
        errors.add(key, _l("Not a number."))
        return None
    if low - 1 <= number <= high + 1:  # (quantizing a huge exponent would overflow)
        number = number.quantize(places, rounding=ROUND_HALF_UP)
    if number < low or (low_open and number == low) or number > high:
        if low_open:
            errors.add(
                key, _l("Must be more than %(low)s and at most %(high)s.", low=low, high=high)
            )
        else:
            errors.add(key, _l("Must be between %(low)s and %(high)s.", low=low, high=high))
        return None
    return number


def parse_int(value: Any, key: str, errors: Errors, *, low: int, high: int) -> int | None:
    if isinstance(value, bool):
        errors.add(key, _l("Not a whole number."))
        return None
    if isinstance(value, str):
        value = value.strip()
        if not re.fullmatch(r"[+-]?\d{1,9}", value):
            errors.add(key, _l("Not a whole number."))
            return None
        value = int(value)
    if not isinstance(value, int):
        errors.add(key, _l("Not a whole number."))
        return None
    if not low <= value <= high:
        errors.add(key, _l("Must be between %(low)s and %(high)s.", low=low, high=high))
        return None
    return value


def parse_date(value: Any, key: str, errors: Errors) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            parsed = date.fromisoformat(value.strip())
        except ValueError:
            parsed = None
        if parsed is not None and 2000 <= parsed.year <= 2100:
            return parsed
    errors.add(key, _l("Not a date between 2000 and 2100 (YYYY-MM-DD)."))
    return None


def parse_enum(enum_cls: type[Enum], value: Any, key: str, errors: Errors):
    try:
        return enum_cls(value.value if isinstance(value, Enum) else value)
    except (ValueError, TypeError):
        choices = ", ".join(member.value for member in enum_cls)
        errors.add(key, _l("Must be one of: %(choices)s.", choices=choices))
        return None


def parse_bool(value: Any, key: str, errors: Errors) -> bool:
    if blank(value):
        return False
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "y", "on"}:
        return True
    if text in {"0", "false", "no", "n", "off"}:
        return False
    errors.add(key, _l("Must be true or false."))
    return False


def parse_uuid(value: Any) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value).strip())
    except (ValueError, AttributeError):
        return None


def parse_period(value: Any, key: str, errors: Errors) -> str | None:
    try:
        return str(Period.parse(value.strip() if isinstance(value, str) else value))
    except PeriodError as error:
        errors.add(key, str(error))
        return None


def parse_text(value: Any, key: str, errors: Errors, *, max_length: int, required=False) -> str:
    text = "" if blank(value) else str(value).strip()
    if required and not text:
        errors.add(key, REQUIRED)
    elif len(text) > max_length:
        errors.add(key, _l("At most %(max)d characters.", max=max_length))
    return text


def as_list(value: Any, key: str, errors: Errors) -> list | None:
    """A list value (None or [] → None)."""
    if blank(value):
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        errors.add(key, _l("Must be a list."))
        return None
    values = list(value)
    if len(values) > MAX_LIST:
        errors.add(key, _l("At most %(max)d entries.", max=MAX_LIST))
        return None
    return values or None


# --- references to the estate's rows ----------------------------------------------------------


def _ids_of(model, estate: Estate | None, ids: set[uuid.UUID]) -> set[uuid.UUID]:
    if not ids:
        return set()
    statement = select(model.id).where(model.id.in_(ids))
    if estate is not None:
        statement = statement.where(model.estate_id == estate.id)
    return set(db.session.scalars(statement))


def resolve_ids(
    values: list | None, key: str, errors: Errors, model, estate: Estate | None, message
) -> list[str] | None:
    """Ids of rows of ``model`` (of ``estate``) as strings, in order, without repeats."""
    if not values:
        return None
    parsed = [parse_uuid(value) for value in values]
    known = _ids_of(model, estate, {i for i in parsed if i is not None})
    if any(i is None or i not in known for i in parsed):
        errors.add(key, message)
        return None
    return list(dict.fromkeys(str(i) for i in parsed))


def resolve_categories(values: list | None, key: str, errors: Errors) -> list[str] | None:
    """Household categories by id or code → their ids (as strings)."""
    if not values:
        return None
    categories = list(db.session.scalars(select(HouseholdCategory)))
    by_key = {str(c.id): c for c in categories} | {c.code: c for c in categories}
    found = []
    for value in values:
        category = by_key.get(str(value).strip())
        if category is None:
            errors.add(key, _l("Unknown household category %(value)s.", value=str(value)[:40]))
            return None
        found.append(str(category.id))
    return list(dict.fromkeys(found))
