"""Billing periods: a calendar month named ``YYYY-MM``, and the spans items are billed for.

Pure functions, no database. A monthly item covers its month; a quarterly item is billed in
the first month of each quarter for three months; a yearly item in January for twelve; a
one-off item once, in its ``charge_period``.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from ruihe_saas.fees.models import BillingFrequency

PERIOD_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
FIRST_YEAR, LAST_YEAR = 2000, 2100


class PeriodError(ValueError):
    """A period string that is not ``YYYY-MM`` (message in the UI language)."""


@dataclass(frozen=True, order=True)
class Period:
    year: int
    month: int

    @classmethod
    def parse(cls, value: object) -> Period:
        from flask_babel import gettext as _

        if isinstance(value, Period):
            return value
        match = PERIOD_PATTERN.match(value) if isinstance(value, str) else None
        if match is None:
            raise PeriodError(_("Use the form YYYY-MM, e.g. 2024-07."))
        year, month = int(match.group(1)), int(match.group(2))
        if not FIRST_YEAR <= year <= LAST_YEAR:
            raise PeriodError(
                _(
                    "The year must be between %(first)d and %(last)d.",
                    first=FIRST_YEAR,
                    last=LAST_YEAR,
                )
            )
        return cls(year, month)

    @classmethod
    def of(cls, day: date) -> Period:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def start(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def end(self) -> date:
        return date(self.year, self.month, self.days)

    @property
    def days(self) -> int:
        return calendar.monthrange(self.year, self.month)[1]

    def shift(self, months: int) -> Period:
        index = self.year * 12 + (self.month - 1) + months
        return Period(index // 12, index % 12 + 1)

    def next(self) -> Period:
        return self.shift(1)

    def previous(self) -> Period:
        return self.shift(-1)


@dataclass(frozen=True)
class Span:
    """The days an item's line covers: ``start``…``end`` inclusive, ``months`` months."""

    start: date
    end: date
    months: int

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end


def span_for(frequency: BillingFrequency, period: Period, charge_period: str | None = None):
    """The span an item of ``frequency`` bills in ``period``, or None if it bills nothing."""
    if frequency == BillingFrequency.MONTHLY:
        return Span(period.start, period.end, 1)
    if frequency == BillingFrequency.QUARTERLY:
        if (period.month - 1) % 3:
            return None
        return Span(period.start, period.shift(2).end, 3)
    if frequency == BillingFrequency.YEARLY:
        if period.month != 1:
            return None
        return Span(period.start, period.shift(11).end, 12)
    # one-off: once, in its charge period (a single day's worth of "span" is not prorated)
    if charge_period is None or str(period) != charge_period:
        return None
    return Span(period.start, period.end, 1)


def due_date(period: Period, due_day: int, due_days: int) -> date:
    """First day of the period + (``due_day`` − 1) days + ``due_days`` days."""
    return period.start + timedelta(days=due_day - 1 + due_days)


def periods_between(first: Period, last: Period) -> list[Period]:
    out, current = [], first
    while current <= last:
        out.append(current)
        current = current.next()
    return out
