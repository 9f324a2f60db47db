"""Which days of a line's span a fee item is charged for: proration by days.

Pure functions on inclusive date segments ``(first, last)``. A fee item is in force on the
days where its schedule version is effective **and** the estate is in a handover stage the
schedule applies to; a household's days are further weighted by its occupancy (vacant units
may pay a reduced rate, some items apply to some occupancies only). The charged share of the
span is ``weighted days / span days``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta

from ruihe_saas.estates.models import HandoverStage, Occupancy

Segment = tuple[date, date]  # inclusive
FULL_WEIGHT = 10_000  # weights are in 1/100 of a percent: 10_000 = 100 %
ONE_DAY = timedelta(days=1)


def days_in(segments: Iterable[Segment]) -> int:
    return sum((last - first).days + 1 for first, last in segments)


def clip(segments: Iterable[Segment], first: date, last: date) -> list[Segment]:
    """The parts of ``segments`` between ``first`` and ``last``."""
    out = []
    for start, end in segments:
        start, end = max(start, first), min(end, last)
        if start <= end:
            out.append((start, end))
    return out


def stage_segments(
    timeline: Sequence[tuple[date, HandoverStage]],
    first: date,
    last: date,
    stages: frozenset[HandoverStage],
) -> list[Segment]:
    """The days of ``first..last`` on which the estate is in one of ``stages``.

    ``timeline`` is ``(effective date, stage from that day)`` oldest first; before its first
    entry the estate is a prospect.
    """
    out: list[Segment] = []
    bounds = [(day, stage) for day, stage in timeline]
    current, since = HandoverStage.PROSPECT, first
    for day, stage in bounds:
        if day <= first:
            current = stage
            continue
        if day > last:
            break
        if current in stages:
            out.append((since, day - ONE_DAY))
        current, since = stage, day
    if current in stages:
        out.append((since, last))
    return _merge(out)


def _merge(segments: list[Segment]) -> list[Segment]:
    merged: list[Segment] = []
    for start, end in sorted(s for s in segments if s[0] <= s[1]):
        if merged and start <= merged[-1][1] + ONE_DAY:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def occupancy_segments(
    segments: Sequence[Segment],
    changes: Sequence[tuple[date, Occupancy, Occupancy]],
    current: Occupancy,
) -> list[tuple[Segment, Occupancy]]:
    """Split ``segments`` by the household's occupancy on each day.

    ``changes`` are ``(effective date, from, to)`` oldest first; with none, every day has
    ``current``.
    """
    if not changes:
        return [(segment, current) for segment in segments]
    out = []
    for start, end in segments:
        occupancy = changes[0][1]
        for day, _from, to in changes:
            if day <= start:
                occupancy = to
        cursor = start
        for day, _from, to in changes:
            if start < day <= end:
                out.append(((cursor, day - ONE_DAY), occupancy))
                cursor, occupancy = day, to
        out.append(((cursor, end), occupancy))
    return out


def occupancy_weight(
    occupancy: Occupancy, allowed: frozenset[Occupancy] | None, vacant_weight: int
) -> int:
    """The weight of one day with ``occupancy``: 0 if the item excludes it, the vacant
    rate for vacant units, else full."""
    if allowed is not None and occupancy not in allowed:
        return 0
    return vacant_weight if occupancy == Occupancy.VACANT else FULL_WEIGHT


def weighted_days(
    parts: Sequence[tuple[Segment, Occupancy]],
    allowed: frozenset[Occupancy] | None,
    vacant_weight: int,
) -> tuple[int, int, list[tuple[int, int]]]:
    """``(days charged, weighted days × 10_000, [(days, weight), …])`` of the parts."""
    days = weighted = 0
    pieces: dict[int, int] = {}
    for segment, occupancy in parts:
        weight = occupancy_weight(occupancy, allowed, vacant_weight)
        if weight == 0:
            continue
        count = days_in([segment])
        days += count
        weighted += count * weight
        pieces[weight] = pieces.get(weight, 0) + count
    return days, weighted, sorted(((c, w) for w, c in pieces.items()), key=lambda p: -p[1])
