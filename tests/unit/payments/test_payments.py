"""Recording payments, allocating them oldest first, prepaid credit and applying it later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.billing.models import Bill, BillLine, BillStatus
from ruihe_saas.errors import NotFound, ValidationFailed
from ruihe_saas.estates.services import list_households
from ruihe_saas.extensions import db as database
from ruihe_saas.payments.models import AllocationSource, Payment, PaymentAllocation
from ruihe_saas.payments.services import (
    allocations_of,
    apply_prepaid_credit,
    prepaid_credit,
    record_payment,
)
from ruihe_saas.tenancy import tenant_context
from tests.billing_factories import bill_for, simple_schedule
from tests.estate_factories import estate_with_households
from tests.factories import member

D = Decimal


@pytest.fixture
def world(db):
    owner = member(Role.OWNER)
    estate = estate_with_households(owner.tenant_id, "PAY", buildings=1, rooms=2)
    schedule = simple_schedule(estate)
    with tenant_context(owner.tenant_id):
        households = list_households(estate, 1, 10).items
    return owner.tenant_id, estate, schedule, households


def _bill(world, period, service="100.00", garbage="10.00", household=0):
    _tenant, _estate, schedule, households = world
    return bill_for(
        households[household],
        period,
        {"property_service": service, "garbage": garbage},
        schedule,
    )


def _lines(bill) -> dict[str, BillLine]:
    rows = database.session.scalars(select(BillLine).where(BillLine.bill_id == bill.id))
    return {line.fee_item_code: line for line in rows}


def test_partial_payment_settles_the_first_item_first(world):
    tenant_id, _estate, _schedule, households = world
    bill = _bill(world, "2024-01")
    with tenant_context(tenant_id):
        payment = record_payment(households[0].id, "50.00", "cash")
        lines = _lines(bill)
        assert (lines["property_service"].paid, lines["garbage"].paid) == (D("50.00"), D("0"))
        assert (bill.paid, bill.status, bill.outstanding) == (
            D("50.00"),
            BillStatus.PARTIALLY_PAID,
            D("60.00"),
        )
        assert payment.unallocated == D("0.00")
        allocations = allocations_of(payment)
        assert [(a.amount, a.source) for a in allocations] == [
            (D("50.00"), AllocationSource.PAYMENT)
        ]
        assert allocations[0].allocated_at == payment.paid_at


def test_oldest_period_is_settled_first_then_the_next(world):
    tenant_id, _estate, _schedule, households = world
    february = _bill(world, "2024-02")
    january = _bill(world, "2024-01")
    with tenant_context(tenant_id):
        record_payment(households[0].id, D("150.00"), "wechat_qr")
        assert (january.status, january.paid) == (BillStatus.PAID, D("110.00"))
        assert (february.status, february.paid) == (BillStatus.PARTIALLY_PAID, D("40.00"))
        assert _lines(february)["property_service"].paid == D("40.00")


def test_overpayment_becomes_prepaid_credit(world):
    tenant_id, _estate, _schedule, households = world
    bill = _bill(world, "2024-01")
    with tenant_context(tenant_id):
        payment = record_payment(households[0].id, "300", "bank_transfer", reference="T-1")
        assert bill.status == BillStatus.PAID and bill.outstanding == 0
        assert payment.unallocated == D("190.00")
        assert prepaid_credit(households[0].id) == D("190.00")
        assert prepaid_credit(households[1].id) == D("0.00")


def test_chosen_bills_only(world):
    tenant_id, _estate, _schedule, households = world
    january = _bill(world, "2024-01")
    february = _bill(world, "2024-02")
    with tenant_context(tenant_id):
        payment = record_payment(households[0].id, "120", "cash", bill_ids=[str(february.id)])
        assert (january.status, january.paid) == (BillStatus.OPEN, D("0"))
        assert february.status == BillStatus.PAID
        assert payment.unallocated == D("10.00")


def test_a_bill_of_another_household_is_refused_and_nothing_is_stored(world):
    tenant_id, _estate, _schedule, households = world
    neighbours = _bill(world, "2024-01", household=1)
    with tenant_context(tenant_id):
        with pytest.raises(ValidationFailed) as raised:
            record_payment(households[0].id, "10", "cash", bill_ids=[neighbours.id])
        assert "bill_ids" in raised.value.fields
        with pytest.raises(ValidationFailed):
            record_payment(households[0].id, "10", "cash", bill_ids=["not-a-uuid"])
        with pytest.raises(ValidationFailed):
            record_payment(households[0].id, "10", "cash", bill_ids=[])
        assert database.session.scalar(select(func.count()).select_from(Payment)) == 0


@pytest.mark.parametrize(
    ("amount", "method", "field"),
    [
        ("0", "cash", "amount"),
        ("-5", "cash", "amount"),
        ("1.005", "cash", "amount"),
        ("NaN", "cash", "amount"),
        ("abc", "cash", "amount"),
        ("1e13", "cash", "amount"),
        ("10", "cheque", "method"),
    ],
)
def test_bad_payments_are_refused(world, amount, method, field):
    tenant_id, _estate, _schedule, households = world
    with tenant_context(tenant_id):
        with pytest.raises(ValidationFailed) as raised:
            record_payment(households[0].id, amount, method)
        assert field in raised.value.fields


def test_payment_in_the_future_is_refused_and_a_naive_time_is_local(world):
    tenant_id, _estate, _schedule, households = world
    with tenant_context(tenant_id):
        with pytest.raises(ValidationFailed) as raised:
            record_payment(
                households[0].id, "10", "cash", paid_at=datetime.now(UTC) + timedelta(hours=1)
            )
        assert "paid_at" in raised.value.fields
        payment = record_payment(households[0].id, "10", "cash", paid_at=datetime(2024, 3, 1, 8))
        assert payment.paid_at == datetime(2024, 3, 1, 0, tzinfo=UTC)  # 08:00 in Shanghai


def test_unknown_or_foreign_household_is_not_found(world):
    _tenant_id, _estate, _schedule, households = world
    stranger = member(Role.OWNER)
    with tenant_context(stranger.tenant_id):
        with pytest.raises(NotFound):
            record_payment(households[0].id, "10", "cash")
        with pytest.raises(NotFound):
            record_payment("not-an-id", "10", "cash")


def test_void_and_paid_bills_are_skipped(world):
    tenant_id, _estate, _schedule, households = world
    void = _bill(world, "2024-01")
    with tenant_context(tenant_id):
        void.credited, void.status = void.amount, BillStatus.VOID
        for line in _lines(void).values():
            line.credited = line.amount
        database.session.flush()
    february = _bill(world, "2024-02")
    with tenant_context(tenant_id):
        payment = record_payment(households[0].id, "110", "cash")
        assert void.paid == 0 and february.status == BillStatus.PAID
        assert payment.unallocated == 0


def test_prepaid_credit_is_applied_to_later_bills_oldest_payment_first(world):
    tenant_id, _estate, _schedule, households = world
    with tenant_context(tenant_id):
        older = record_payment(households[0].id, "30", "cash", paid_at=datetime(2024, 1, 5))
        newer = record_payment(households[0].id, "100", "cash", paid_at=datetime(2024, 1, 6))
        assert prepaid_credit(households[0].id) == D("130.00")
    bill = _bill(world, "2024-02", service="40.00", garbage="10.00")
    with tenant_context(tenant_id):
        moment = datetime(2024, 2, 1, tzinfo=UTC)
        applied = apply_prepaid_credit([households[0].id, households[1].id], at=moment)
        assert applied == D("50.00")
        assert bill.status == BillStatus.PAID
        assert (older.unallocated, newer.unallocated) == (D("0.00"), D("80.00"))
        sources = {a.source for a in allocations_of(newer)} | {
            a.source for a in allocations_of(older)
        }
        assert sources == {AllocationSource.PREPAID_CREDIT}
        assert {a.allocated_at for a in allocations_of(newer)} == {moment}
        assert prepaid_credit(households[0].id) == D("80.00")
        # nothing left to settle: applying again changes nothing
        assert apply_prepaid_credit([households[0].id]) == D("0.00")


def test_applying_credit_is_one_query_when_nobody_has_credit(world):
    tenant_id, _estate, _schedule, households = world
    _bill(world, "2024-01")
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = database.session.get_bind().engine
    with tenant_context(tenant_id):
        record_payment(households[1].id, "5", "cash")  # credit, but not among the ids
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert apply_prepaid_credit([households[0].id]) == D("0.00")
        finally:
            event.remove(engine, "before_cursor_execute", count)
    assert len([s for s in statements if s.lstrip().upper().startswith("SELECT")]) == 1
    assert apply_prepaid_credit([]) == D("0.00")


def test_credit_without_bills_stays_credit(world):
    tenant_id, _estate, _schedule, households = world
    with tenant_context(tenant_id):
        record_payment(households[0].id, "25", "alipay_qr")
        assert apply_prepaid_credit([households[0].id]) == D("0.00")
        assert prepaid_credit(households[0].id) == D("25.00")


AMOUNTS = st.decimals(min_value=D("0.01"), max_value=D("500"), places=2)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    bills=st.lists(st.tuples(AMOUNTS, AMOUNTS), min_size=1, max_size=4),
    payments=st.lists(AMOUNTS, min_size=1, max_size=4),
    late_bill=st.tuples(AMOUNTS, AMOUNTS),
)
def test_allocations_always_balance(world, bills, payments, late_bill):
    """Whatever is billed and paid: Σ allocations + credit = Σ payments, no line or bill is
    overpaid, every bill's paid is the sum of its lines', its status follows its amounts."""
    tenant_id, _estate, _schedule, households = world
    savepoint = database.session.begin_nested()
    try:
        for month, (service, garbage) in enumerate(bills, start=1):
            _bill(world, f"2023-{month:02d}", str(service), str(garbage))
        with tenant_context(tenant_id):
            for amount in payments:
                record_payment(households[0].id, amount, "cash")
        _bill(world, "2024-01", str(late_bill[0]), str(late_bill[1]))
        with tenant_context(tenant_id):
            apply_prepaid_credit([households[0].id])
            _check_balances(households[0].id, sum(payments, D("0")))
    finally:
        savepoint.rollback()


def _check_balances(household_id, paid_in: Decimal) -> None:
    allocated = database.session.scalar(
        select(func.coalesce(func.sum(PaymentAllocation.amount), 0))
    )
    credit = prepaid_credit(household_id)
    assert Decimal(allocated) + credit == paid_in
    for bill in database.session.scalars(select(Bill)):
        lines = _lines(bill).values()
        assert bill.paid == sum((line.paid for line in lines), D("0"))
        assert all(line.paid + line.credited <= line.amount for line in lines)
        expected = (
            BillStatus.PAID
            if bill.outstanding == 0
            else BillStatus.PARTIALLY_PAID
            if bill.paid
            else BillStatus.OPEN
        )
        assert bill.status == expected
    # credit is only left when nothing is outstanding any more
    outstanding = sum((b.outstanding for b in database.session.scalars(select(Bill))), D("0"))
    assert credit == 0 or outstanding == 0
