"""The household statement: bills, credits (红冲) and payments with a running balance."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ruihe_saas.billing import bills
from ruihe_saas.billing.statements import household_statement
from ruihe_saas.errors import ValidationFailed
from ruihe_saas.extensions import db as database
from ruihe_saas.payments.models import PaymentMethod
from ruihe_saas.tenancy import tenant_context
from tests.unit.billing.test_bills import World, credits_of, lines, pay

D = Decimal


@pytest.fixture
def world(db):
    return World("STMT")


def statement(world, household=0, start=None, end=None):
    with tenant_context(world.tenant_id):
        return household_statement(world.households[household], start, end)


def _credit_on(bill, day: date) -> None:
    with tenant_context(bill.tenant_id):
        for credit in credits_of(bill):
            credit.credited_on = day
        database.session.flush()


def test_running_balance_over_bills_credits_and_payments_with_prepaid_credit(world):
    household = world.households[0]
    july = world.bill("2024-07")  # 100.00, issued 2024-07-01
    with tenant_context(world.tenant_id):
        bills.void_line(lines(july)["garbage"].id, "重复收费")  # −40
    _credit_on(july, date(2024, 7, 15))
    august = world.bill("2024-08")  # 100.00, issued 2024-08-01
    world.bill("2024-08", household=1)  # another household's: not on this statement
    july_lines, august_lines = lines(july), lines(august)
    pay(
        household,
        "200.00",
        [
            (july_lines["property_service"], "60.00"),
            (august_lines["property_service"], "60.00"),
            (august_lines["garbage"], "40.00"),
        ],
        paid_at=datetime(2024, 8, 10, 3, 0, tzinfo=UTC),
        method=PaymentMethod.WECHAT_QR,
        ref="WX123",
    )  # 40.00 left as prepaid credit
    result = statement(world)
    rows = [(e.on, e.kind, e.amount, e.balance) for e in result.entries]
    assert rows == [
        (date(2024, 7, 1), "bill", D("100"), D("100")),
        (date(2024, 7, 15), "credit", D("-40"), D("60")),
        (date(2024, 8, 1), "bill", D("100"), D("160")),
        (date(2024, 8, 10), "payment", D("-200"), D("-40")),
    ]
    bill_entry, credit_entry, _, payment_entry = result.entries
    assert (bill_entry.bill_number, bill_entry.period) == (july.number, "2024-07")
    assert (credit_entry.reason, credit_entry.line_name) == ("重复收费", "垃圾清运费")
    assert (payment_entry.method, payment_entry.reference) == ("wechat_qr", "WX123")
    assert (payment_entry.debit, payment_entry.credit) == (None, D("200"))
    totals = result.totals
    assert (totals.billed, totals.credited, totals.paid) == (D("200"), D("40"), D("200"))
    assert (totals.outstanding, totals.prepaid_credit) == (D("0"), D("40"))
    assert result.closing_balance == D("-40") == totals.outstanding - totals.prepaid_credit


def test_a_window_opens_with_the_balance_before_it(world):
    household = world.households[0]
    july = world.bill("2024-07")
    pay(
        household,
        "30.00",
        [(lines(july)["garbage"], "30.00")],
        paid_at=datetime(2024, 7, 5, tzinfo=UTC),
    )
    world.bill("2024-08")
    world.bill("2024-09")
    result = statement(world, start=date(2024, 8, 1), end=date(2024, 8, 31))
    assert result.opening_balance == D("70")
    assert [(e.kind, e.period, e.balance) for e in result.entries] == [
        ("bill", "2024-08", D("170"))
    ]
    assert result.closing_balance == D("170")
    assert (result.totals.billed, result.totals.paid) == (D("100"), D("0"))
    assert result.totals.outstanding == D("270")  # now, whatever the window


def test_payment_dates_are_local_days(world):
    """A payment at 2024-07-31 17:30 UTC is 2024-08-01 01:30 in Shanghai."""
    household = world.households[0]
    pay(household, "50.00", paid_at=datetime(2024, 7, 31, 17, 30, tzinfo=UTC))
    july = statement(world, end=date(2024, 7, 31))
    assert july.entries == [] and july.closing_balance == D("0")
    august = statement(world, start=date(2024, 8, 1))
    assert [(e.on, e.amount) for e in august.entries] == [(date(2024, 8, 1), D("-50"))]
    assert august.totals.prepaid_credit == D("50")


def test_same_day_bill_comes_before_the_payment(world):
    household = world.households[0]
    bill = world.bill("2024-07")
    pay(household, "100.00", paid_at=datetime(2024, 6, 30, 16, 30, tzinfo=UTC))  # 07-01 local
    kinds = [e.kind for e in statement(world).entries]
    assert kinds == ["bill", "payment"] and bill.issued_on == date(2024, 7, 1)


def test_the_end_cannot_be_before_the_start(world):
    with pytest.raises(ValidationFailed) as raised:
        statement(world, start=date(2024, 8, 1), end=date(2024, 7, 1))
    assert "to" in raised.value.fields


def test_an_empty_statement(world):
    result = statement(world, household=3)
    assert result.entries == [] and result.closing_balance == 0
    assert result.totals.outstanding == 0 and result.totals.prepaid_credit == 0


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    months=st.lists(st.integers(0, 400), min_size=1, max_size=4),
    payments=st.lists(st.integers(1, 600), max_size=4),
    void_first=st.booleans(),
)
def test_closing_balance_is_outstanding_minus_prepaid_credit(world, months, payments, void_first):
    """Whatever the bills, credits and payments (allocated oldest first, the rest prepaid),
    the statement ends at what is owed minus what is paid ahead."""
    nested = database.session.begin_nested()
    try:
        household = world.households[0]
        issued = [
            world.bill(f"2024-{n + 1:02d}", service=str(D(amount)), garbage="10.00")
            for n, amount in enumerate(months)
        ]
        if void_first:
            with tenant_context(world.tenant_id):
                bills.void_line(lines(issued[0])["garbage"].id, "测试")
        for n, amount in enumerate(payments):
            left, allocations = D(amount), []
            for bill in issued:
                for line in lines(bill).values():
                    already = sum((a for ln, a in allocations if ln.id == line.id), D(0))
                    take = min(line.outstanding - already, left)
                    if take > 0:
                        allocations.append((line, take))
                        left -= take
            pay(household, amount, allocations, paid_at=datetime(2024, 6, 1 + n, tzinfo=UTC))
        result = statement(world)
        totals = result.totals
        assert result.closing_balance == totals.outstanding - totals.prepaid_credit
        assert result.closing_balance == totals.billed - totals.credited - totals.paid
        running = D(0)
        for entry in result.entries:
            running += entry.amount
            assert entry.balance == running
    finally:
        nested.rollback()


def _refund(payment, amount: str, day: datetime, status=None, reason="多缴退回"):
    from ruihe_saas.payments.models import Refund, RefundMethod, RefundStatus

    with tenant_context(payment.tenant_id):
        amount = D(amount)
        database.session.add(
            Refund(
                estate_id=payment.estate_id,
                household_id=payment.household_id,
                payment_id=payment.id,
                amount=amount,
                from_credit=amount,
                from_bills=D("0"),
                method=RefundMethod.CASH,
                status=status or RefundStatus.SUCCEEDED,
                reason=reason,
                reference="TK-1",
                refunded_at=day,
            )
        )
        payment.unallocated -= amount
        payment.refunded += amount
        database.session.flush()


def test_a_refund_adds_back_and_a_failed_one_is_left_out(world):
    from ruihe_saas.payments.models import RefundStatus

    household = world.households[0]
    world.bill("2024-07")  # 100.00 on 07-01
    payment = pay(household, "150.00", paid_at=datetime(2024, 7, 3, tzinfo=UTC))
    _refund(payment, "30.00", datetime(2024, 7, 9, 4, tzinfo=UTC))
    _refund(payment, "5.00", datetime(2024, 7, 10, tzinfo=UTC), status=RefundStatus.FAILED)
    result = statement(world)
    assert [(e.on, e.kind, e.amount, e.balance) for e in result.entries] == [
        (date(2024, 7, 1), "bill", D("100"), D("100")),
        (date(2024, 7, 3), "payment", D("-150"), D("-50")),
        (date(2024, 7, 9), "refund", D("30"), D("-20")),
    ]
    refund = result.entries[-1]
    assert (refund.reason, refund.method, refund.payment_id) == ("多缴退回", "cash", payment.id)
    assert (refund.debit, refund.credit) == (D("30"), None)
    assert result.totals.refunded == D("30")
    later = statement(world, start=date(2024, 7, 10))
    assert later.opening_balance == D("-20") and later.entries == []
