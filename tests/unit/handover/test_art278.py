"""Art. 278 of the Civil Code: participation ≥ 2/3 of area and owners, approval > 1/2 of the
participating area and owners, computed exactly."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from ruihe_saas.handover.art278 import art278_result, percent


def result(**changes):
    values = {
        "total_owners": 300,
        "total_area": Decimal("30000.00"),
        "participating_owners": 300,
        "participating_area": Decimal("30000.00"),
        "approving_owners": 300,
        "approving_area": Decimal("30000.00"),
    }
    values.update(changes)
    return art278_result(**values)


def test_exactly_two_thirds_participation_passes():
    outcome = result(
        participating_owners=200,
        participating_area=Decimal("20000.00"),
        approving_owners=101,
        approving_area=Decimal("10000.01"),
    )
    assert outcome.participation_owners == Fraction(2, 3)
    assert outcome.participation_area == Fraction(2, 3)
    assert outcome.participation_owners_passed and outcome.participation_area_passed
    assert outcome.passed


def test_one_owner_or_one_cent_below_two_thirds_fails():
    assert not result(participating_owners=199).participation_owners_passed
    assert not result(participating_area=Decimal("19999.99")).participation_area_passed
    assert not result(participating_owners=199).passed


def test_exactly_half_approval_fails():
    outcome = result(approving_owners=150, approving_area=Decimal("15000.00"))
    assert outcome.approval_owners == Fraction(1, 2)
    assert outcome.approval_area == Fraction(1, 2)
    assert not outcome.approval_owners_passed
    assert not outcome.approval_area_passed
    assert not outcome.passed


def test_one_more_than_half_approval_passes():
    outcome = result(approving_owners=151, approving_area=Decimal("15000.01"))
    assert outcome.approval_owners_passed and outcome.approval_area_passed and outcome.passed


@pytest.mark.parametrize(
    ("changes", "failing"),
    [
        ({"participating_area": Decimal("19999.99")}, "participation_area"),
        ({"participating_owners": 199}, "participation_owners"),
        ({"approving_area": Decimal("15000.00")}, "approval_area"),
        ({"approving_owners": 150}, "approval_owners"),
    ],
)
def test_each_condition_failing_alone_fails_the_vote(changes, failing):
    outcome = result(**changes)
    verdicts = {name: check.passed for name, check in outcome.checks.items()}
    assert verdicts == {
        "participation_area": failing != "participation_area",
        "participation_owners": failing != "participation_owners",
        "approval_area": failing != "approval_area",
        "approval_owners": failing != "approval_owners",
    }
    assert getattr(outcome, f"{failing}_passed") is False
    assert not outcome.passed


def test_approval_is_measured_against_participants_not_totals():
    # 210 of 300 took part; 106 approved: 35% of all owners, but 50.48% of participants
    outcome = result(
        participating_owners=210,
        participating_area=Decimal("21000.00"),
        approving_owners=106,
        approving_area=Decimal("10500.01"),
    )
    assert outcome.approval_owners == Fraction(106, 210)
    assert outcome.passed


def test_exact_arithmetic_on_odd_amounts():
    # 2/3 of 76,543.21 m² is 51,028.8066…: 51,028.81 passes, 51,028.80 does not
    total = Decimal("76543.21")
    assert result(
        total_area=total, participating_area=Decimal("51028.81")
    ).participation_area_passed
    assert not result(
        total_area=total, participating_area=Decimal("51028.80")
    ).participation_area_passed
    # the Mo'er factory quarter's size: 651 of 976 owners is ≥ 2/3, 650 is not
    assert result(total_owners=976, participating_owners=651).participation_owners_passed
    assert not result(total_owners=976, participating_owners=650).participation_owners_passed


def test_ratios_are_exact_fractions_not_floats():
    outcome = result(participating_area=Decimal("20000.10"))
    assert isinstance(outcome.participation_area, Fraction)
    assert outcome.participation_area == Fraction(2000010, 3000000)


def test_strings_and_floats_are_read_as_the_decimals_they_show():
    outcome = art278_result("976", "0.3", 651, 0.2, 326, "0.11")
    assert outcome.participation_area == Fraction(2, 3)
    assert outcome.participation_area_passed
    assert outcome.approval_area == Fraction(11, 20)


def test_zero_denominators_fail_without_errors():
    outcome = result(
        total_owners=0,
        total_area=Decimal(0),
        participating_owners=0,
        participating_area=Decimal(0),
        approving_owners=0,
        approving_area=Decimal(0),
    )
    assert outcome.participation_area == 0 and outcome.approval_owners == 0
    assert not any(check.passed for check in outcome.checks.values())
    assert not outcome.passed


@pytest.mark.parametrize(
    ("ratio", "shown"),
    [
        (Fraction(2, 3), "66.67"),
        (Fraction(1, 2), "50.00"),
        (Fraction(1, 3), "33.33"),
        (Fraction(0), "0.00"),
        (Fraction(1), "100.00"),
        (Fraction(66665, 100000), "66.67"),  # half up
        (Fraction(66664999, 100000000), "66.66"),
        (Fraction(651, 976), "66.70"),
    ],
)
def test_percent_shows_two_decimals_rounded_half_up(ratio, shown):
    assert percent(ratio) == shown


def test_percents_of_a_result():
    outcome = result(participating_owners=200, approving_owners=101)
    assert outcome.percents["participation_owners"] == "66.67"
    assert outcome.percents["approval_owners"] == "50.50"
    assert outcome.checks["approval_owners"].rule == "> 1/2"
    assert outcome.checks["participation_owners"].rule == "≥ 2/3"
