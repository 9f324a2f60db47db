"""Late fees (滞纳金): off unless enabled, simple daily interest on the outstanding principal
past the due date and grace days, capped, never compounding, rounded half-up per line."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ruihe_saas.billing import bills
from ruihe_saas.billing.late_fees import LateFeeTerms, days_overdue, late_fee_of, line_late_fee
from ruihe_saas.extensions import db as database
from ruihe_saas.tenancy import tenant_context
from tests.unit.billing.test_bills import World, lines, pay

D = Decimal
DUE = date(2024, 7, 31)
TERMS = LateFeeTerms(daily_rate=D("0.0005"), grace_days=0, cap_percent=D("10"))


def test_nothing_before_the_due_date_or_when_off():
    assert line_late_fee(D("100"), DUE, DUE, TERMS) == 0
    assert line_late_fee(D("100"), DUE, DUE - timedelta(days=5), TERMS) == 0
    assert line_late_fee(D("100"), DUE, DUE + timedelta(days=100), None) == 0
    assert line_late_fee(D("0"), DUE, DUE + timedelta(days=100), TERMS) == 0


def test_simple_daily_interest_on_the_principal():
    # 100 × 0.0005 × 10 days
    assert line_late_fee(D("100"), DUE, DUE + timedelta(days=10), TERMS) == D("0.50")
    assert line_late_fee(D("1234.56"), DUE, DUE + timedelta(days=30), TERMS) == D("18.52")


def test_grace_days_are_not_charged():
    terms = LateFeeTerms(D("0.0005"), grace_days=15, cap_percent=D("10"))
    assert line_late_fee(D("100"), DUE, DUE + timedelta(days=15), terms) == 0
    assert days_overdue(DUE, DUE + timedelta(days=25), 15) == 10
    assert line_late_fee(D("100"), DUE, DUE + timedelta(days=25), terms) == D("0.50")


def test_the_cap_limits_the_fee():
    # 100 × 0.001 × 500 days = 50, capped at 10 % of 100
    terms = LateFeeTerms(D("0.001"), 0, D("10"))
    assert line_late_fee(D("100"), DUE, DUE + timedelta(days=500), terms) == D("10.00")
    assert line_late_fee(D("100"), DUE, DUE + timedelta(days=99), terms) == D("9.90")
    nothing = LateFeeTerms(D("0.001"), 0, D("0"))  # a 0 % cap: no late fee at all
    assert line_late_fee(D("100"), DUE, DUE + timedelta(days=99), nothing) == 0


def test_rounded_half_up_per_line():
    # 33.33 × 0.0005 × 3 = 0.049995 → 0.05; 10 × 0.0005 × 1 = 0.005 → 0.01
    assert line_late_fee(D("33.33"), DUE, DUE + timedelta(days=3), TERMS) == D("0.05")
    assert line_late_fee(D("10"), DUE, DUE + timedelta(days=1), TERMS) == D("0.01")


@given(
    principal=st.decimals(min_value=D("0.01"), max_value=D("100000"), places=2),
    rate=st.decimals(min_value=D("0"), max_value=D("0.01"), places=6),
    cap=st.decimals(min_value=D("0"), max_value=D("100"), places=2),
    grace=st.integers(0, 60),
    days=st.integers(0, 3000),
)
def test_never_compounding_never_above_the_cap(principal, rate, cap, grace, days):
    terms = LateFeeTerms(rate, grace, cap)
    fee = line_late_fee(principal, DUE, DUE + timedelta(days=days), terms)
    charged_days = max(days - grace, 0)
    simple = (principal * rate * charged_days).quantize(D("0.01"))
    assert 0 <= fee <= (principal * cap / 100).quantize(D("0.01")) + D("0.005")
    assert fee <= simple + D("0.005")  # simple interest on the principal, nothing on fees
    later = line_late_fee(principal, DUE, DUE + timedelta(days=days + 1), terms)
    assert later >= fee  # grows with time (linearly until the cap), never jumps
    assert later - fee <= (principal * rate).quantize(D("0.01")) + D("0.01")


# --- on bills ------------------------------------------------------------------------------


@pytest.fixture
def world(db):
    return World("LATE")


def enable(world, rate="0.0005", grace=0, cap="10", enabled=True):
    with tenant_context(world.tenant_id):
        schedule = world.schedule
        schedule.late_fee_enabled = enabled
        schedule.late_fee_daily_rate = D(rate)
        schedule.late_fee_grace_days = grace
        schedule.late_fee_cap_percent = D(cap)
        database.session.flush()


def fee(bill, as_of):
    with tenant_context(bill.tenant_id):
        found = bills.get_bill(bill.id)
        return late_fee_of(found, bills.lines_of(found), as_of)


def test_off_by_default(world):
    bill = world.bill(due_date=DUE)
    result = fee(bill, DUE + timedelta(days=100))
    assert (result.enabled, result.amount, result.lines) == (False, 0, [])


def test_a_bill_accrues_on_each_lines_outstanding_principal(world):
    enable(world, grace=5)
    bill = world.bill(service="60.00", garbage="40.00", due_date=DUE)
    pay(world.households[0], "20.00", [(lines(bill)["garbage"], "20.00")])
    result = fee(bill, DUE + timedelta(days=25))  # 20 days past grace
    by_code = {line.fee_item_code: line for line in result.lines}
    # 60 × 0.0005 × 20 = 0.60; (40 − 20) × 0.0005 × 20 = 0.20
    assert (by_code["property_service"].amount, by_code["garbage"].amount) == (D("0.60"), D("0.20"))
    assert by_code["garbage"].principal == D("20") and by_code["garbage"].days == 20
    assert result.enabled and result.amount == D("0.80")
    capped = fee(bill, DUE + timedelta(days=1000))
    assert capped.amount == D("8.00") and all(line.capped for line in capped.lines)


def test_a_disabled_schedule_charges_nothing(world):
    enable(world, enabled=False, rate="0.001", cap="50")
    bill = world.bill(due_date=DUE)
    assert fee(bill, DUE + timedelta(days=300)).amount == 0


def test_paid_and_voided_bills_accrue_nothing(world):
    enable(world)
    paid = world.bill("2024-07", due_date=DUE)
    current = lines(paid)
    pay(
        world.households[0],
        "100",
        [(current["garbage"], "40"), (current["property_service"], "60")],
    )
    assert fee(paid, DUE + timedelta(days=60)).amount == 0
    voided = world.bill("2024-08", due_date=DUE)
    with tenant_context(world.tenant_id):
        bills.void_bill(voided.id, "作废")
    result = fee(voided, DUE + timedelta(days=60))
    assert result.amount == 0 and result.lines == []


def test_the_bill_detail_carries_the_late_fee(world):
    enable(world)
    bill = world.bill(due_date=date(2020, 1, 31))
    with tenant_context(world.tenant_id):
        detail = bills.bill_detail(bills.get_bill(bill.id), as_of=date(2020, 3, 1))
    # 30 days: 100 × 0.0005 × 30 = 1.50 (60 → 0.90, 40 → 0.60)
    assert detail.late_fee.amount == D("1.50")
