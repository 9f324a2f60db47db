"""Pricing and proration without a database: exact rounding, days that add up."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ruihe_saas.billing.charges import (
    fen_str,
    metered_fen,
    percent_discount_fen,
    round_half_up,
    scaled,
    time_based_fen,
)
from ruihe_saas.billing.periods import Period, PeriodError, Span, due_date, span_for
from ruihe_saas.billing.proration import (
    FULL_WEIGHT,
    days_in,
    occupancy_segments,
    stage_segments,
    weighted_days,
)
from ruihe_saas.estates.models import HandoverStage, Occupancy
from ruihe_saas.fees.models import BillingFrequency

CENT = Decimal("0.01")
TAKEOVER = frozenset({HandoverStage.FULL_TAKEOVER})
CARETAKING = frozenset({HandoverStage.PARTIAL_CARETAKING})
rates = st.decimals(min_value=0, max_value=100, places=4)
areas = st.decimals(min_value=Decimal("0.01"), max_value=2000, places=2)
periods = st.builds(Period, st.integers(2000, 2099), st.integers(1, 12))


def reference(rate, area, months, days, span_days) -> Decimal:
    exact = Decimal(rate) * Decimal(area) * months * days / span_days
    return exact.quantize(CENT, rounding=ROUND_HALF_UP)


@given(rates, areas, st.integers(1, 12), st.integers(0, 31))
def test_time_based_amount_is_the_decimal_formula_rounded_half_up(rate, area, months, days):
    span_days = 31
    fen = time_based_fen(
        scaled(rate, 10_000), scaled(area, 100), months, days * FULL_WEIGHT, span_days
    )
    assert Decimal(fen_str(fen)) == reference(rate, area, months, days, span_days)


def test_half_a_fen_rounds_up():
    assert round_half_up(5, 10) == 1 and round_half_up(4, 10) == 0
    # 0.05 元/m² × 0.10 m² = 0.005 元 → 0.01
    assert time_based_fen(500, 10, 1, 31 * FULL_WEIGHT, 31) == 1


def test_metered_is_usage_times_price_plus_the_prorated_fixed_part():
    # (135.50 − 120.25) × 3.50 = 53.375; + 5.00 × 15/30 = 2.50 → 55.875 → 55.88
    assert metered_fen(13_550 - 12_025, 35_000, 500, 1, 15 * FULL_WEIGHT, 30) == 5588


def test_percent_discount_covers_only_the_days_it_is_valid():
    assert percent_discount_fen(3100, 5000, 31, 31) == 1550
    assert percent_discount_fen(3100, 10_000, 10, 31) == 1000


@pytest.mark.parametrize("bad", ["2024-13", "2024-7", "24-07", "2024/07", "", None, 202407])
def test_bad_periods_are_refused(app, bad):
    with app.test_request_context(), pytest.raises(PeriodError):
        Period.parse(bad)


def test_spans_per_frequency():
    july = Period(2024, 7)
    assert span_for(BillingFrequency.MONTHLY, july) == Span(date(2024, 7, 1), date(2024, 7, 31), 1)
    assert span_for(BillingFrequency.QUARTERLY, july).end == date(2024, 9, 30)
    assert span_for(BillingFrequency.QUARTERLY, Period(2024, 8)) is None
    assert span_for(BillingFrequency.YEARLY, Period(2024, 1)).days == 366
    assert span_for(BillingFrequency.ONE_OFF, july, "2024-07").months == 1
    assert span_for(BillingFrequency.ONE_OFF, july, "2024-08") is None
    assert due_date(july, 10, 15) == date(2024, 7, 25)


def test_takeover_on_the_first_bills_the_whole_month():
    timeline = [(date(2023, 12, 1), HandoverStage.PARTIAL_CARETAKING),
                (date(2024, 12, 1), HandoverStage.FULL_TAKEOVER)]  # fmt: skip
    december = Period(2024, 12)
    assert stage_segments(timeline, december.start, december.end, TAKEOVER) == [
        (date(2024, 12, 1), date(2024, 12, 31))
    ]
    assert stage_segments(timeline, december.start, december.end, CARETAKING) == []
    november = Period(2024, 11)
    assert days_in(stage_segments(timeline, november.start, november.end, CARETAKING)) == 30


@given(periods, st.integers(0, 30), st.booleans())
def test_prorated_days_of_both_stages_sum_to_the_period(period, offset, with_change):
    day = period.start + timedelta(days=offset)
    timeline = [(period.start - timedelta(days=40), HandoverStage.PARTIAL_CARETAKING)]
    if with_change and day <= period.end:
        timeline.append((day, HandoverStage.FULL_TAKEOVER))
    before = stage_segments(timeline, period.start, period.end, CARETAKING)
    after = stage_segments(timeline, period.start, period.end, TAKEOVER)
    assert days_in(before) + days_in(after) == period.days


def test_vacancy_mid_month_is_weighted():
    segments = [(date(2024, 7, 1), date(2024, 7, 31))]
    changes = [(date(2024, 7, 21), Occupancy.VACANT, Occupancy.OCCUPIED)]
    parts = occupancy_segments(segments, changes, Occupancy.OCCUPIED)
    days, weighted, pieces = weighted_days(parts, None, 5000)
    assert (days, weighted) == (31, 11 * FULL_WEIGHT + 20 * 5000)
    assert pieces == [(11, FULL_WEIGHT), (20, 5000)]
    only_occupied = frozenset({Occupancy.OCCUPIED})
    assert weighted_days(parts, only_occupied, 5000)[0] == 11
