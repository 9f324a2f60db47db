"""Property test: whatever sequence of bills, desk payments (to chosen bills or oldest
first), partial refunds, voids (红冲) and prepaid-credit runs happens, the books balance
after every step:

- no allocation's net (amount − reversed) is negative or more than its line can hold;
- a line's paid is the sum of its allocations' nets, a bill's paid and credited the sums of
  its lines', credited + paid ≤ amount, and the status follows the amounts;
- per payment: amount − refunded = Σ allocation nets + unallocated (prepaid credit), and
  refunded = Σ its refunds;
- per household: Σ payments − Σ refunds = Σ allocation nets + prepaid credit, and the
  balance billed − credited − paid + refunded = outstanding − prepaid credit, which is also
  the household statement's closing balance.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from decimal import ROUND_DOWN, Decimal

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from ruihe_saas.billing import bills as bill_service
from ruihe_saas.billing.models import Bill, BillLine, bill_status_for
from ruihe_saas.billing.statements import household_statement
from ruihe_saas.errors import Conflict
from ruihe_saas.extensions import db as database
from ruihe_saas.payments.models import Payment, PaymentAllocation, Refund
from ruihe_saas.payments.services import apply_prepaid_credit, record_payment
from ruihe_saas.refunds import services
from ruihe_saas.tenancy import tenant_context
from tests.unit.refunds.test_refunds import World

D = Decimal
ZERO = D("0.00")
CENTS = st.integers(min_value=1, max_value=30000).map(lambda c: D(c) / 100)

BILL = st.tuples(st.just("bill"), st.integers(0, 1), CENTS, CENTS)
PAY = st.tuples(st.just("pay"), st.integers(0, 1), CENTS, st.booleans())
REFUND = st.tuples(st.just("refund"), st.integers(0, 20), st.integers(1, 100))
STEP = st.one_of(
    BILL,
    PAY,
    REFUND,
    REFUND,
    st.tuples(st.just("void"), st.integers(0, 20)),
    st.tuples(st.just("credit")),
)


@pytest.fixture
def world(db):
    return World("PROP")


def _fresh(statement):
    return database.session.scalars(statement.execution_options(populate_existing=True)).all()


def check_books(world: World) -> None:
    allocations = _fresh(select(PaymentAllocation))
    lines = {line.id: line for line in _fresh(select(BillLine))}
    bills = _fresh(select(Bill))
    payments = _fresh(select(Payment))
    refunds = [r for r in _fresh(select(Refund)) if r.status in services.EFFECTIVE]

    line_nets: dict = defaultdict(lambda: ZERO)
    payment_nets: dict = defaultdict(lambda: ZERO)
    household_nets: dict = defaultdict(lambda: ZERO)
    for allocation in allocations:
        net = allocation.amount - allocation.reversed
        line = lines[allocation.bill_line_id]
        assert ZERO <= net <= line.amount - line.credited, allocation.id
        line_nets[line.id] += net
        payment_nets[allocation.payment_id] += net
        household_nets[allocation.household_id] += net
    for line in lines.values():
        assert line.paid == line_nets[line.id]
        assert line.credited + line.paid <= line.amount
    for bill in bills:
        own = [line for line in lines.values() if line.bill_id == bill.id]
        assert bill.paid == sum((line.paid for line in own), ZERO)
        assert bill.credited == sum((line.credited for line in own), ZERO)
        assert bill.credited + bill.paid <= bill.amount
        assert bill.status == bill_status_for(bill.amount, bill.credited, bill.paid)
    refunded_of: dict = defaultdict(lambda: ZERO)
    for refund in refunds:
        refunded_of[refund.payment_id] += refund.amount
        assert refund.from_credit + refund.from_bills == refund.amount
    for payment in payments:
        assert payment.refunded == refunded_of[payment.id]
        assert payment.amount - payment.refunded == payment_nets[payment.id] + payment.unallocated
        assert ZERO <= payment.unallocated <= payment.amount
    for household in world.households:
        own_payments = [p for p in payments if p.household_id == household.id]
        paid = sum((p.amount for p in own_payments), ZERO)
        credit = sum((p.unallocated for p in own_payments), ZERO)
        refunded = sum((r.amount for r in refunds if r.household_id == household.id), ZERO)
        assert paid - refunded == household_nets[household.id] + credit
        own_bills = [b for b in bills if b.household_id == household.id]
        billed = sum((b.amount for b in own_bills), ZERO)
        credited = sum((b.credited for b in own_bills), ZERO)
        outstanding = sum((b.outstanding for b in own_bills), ZERO)
        assert billed - credited - paid + refunded == outstanding - credit
        assert services.household_refunded(household.id) == refunded
        statement = household_statement(household)  # refunds add to the balance
        assert statement.closing_balance == outstanding - credit
        assert statement.totals.refunded == refunded


def run_step(world: World, step, state) -> None:
    kind = step[0]
    if kind == "bill":
        _kind, who, service, garbage = step
        state["months"][who] += 1
        month = state["months"][who]
        period = f"{2020 + (month - 1) // 12}-{(month - 1) % 12 + 1:02d}"
        state["bills"].append(world.bill(period, str(service), str(garbage), household=who))
        return
    with tenant_context(world.tenant_id):
        if kind == "pay":
            _kind, who, amount, chosen = step
            own = [b for b in state["bills"] if b.household_id == world.households[who].id]
            bill_ids = [own[-1].id] if chosen and own else None
            state["payments"].append(
                record_payment(world.households[who].id, amount, "cash", bill_ids=bill_ids)
            )
        elif kind == "refund":
            _kind, index, percent = step
            if not state["payments"]:
                return
            payment = state["payments"][index % len(state["payments"])]
            left = services.refundable(payment)
            amount = (left * percent / 100).quantize(D("0.01"), rounding=ROUND_DOWN)
            if amount > 0:
                refund = services.refund_payment(payment.id, amount, "property test")
                event("refund from bills" if refund.from_bills else "refund from credit")
        elif kind == "void":
            if not state["bills"]:
                return
            bill = state["bills"][step[1] % len(state["bills"])]
            # paid or nothing left: refused (409) before anything is written
            with contextlib.suppress(Conflict):
                bill_service.void_bill(bill.id, "property test")
        else:
            apply_prepaid_credit([h.id for h in world.households])


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    opening=st.tuples(
        st.lists(BILL, min_size=1, max_size=3), st.lists(PAY, min_size=1, max_size=2)
    ),
    steps=st.lists(STEP, min_size=1, max_size=8),
)
def test_books_balance_after_every_step(world, opening, steps):
    savepoint = database.session.begin_nested()
    try:
        state = {"months": [0, 0], "bills": [], "payments": []}
        for step in [*opening[0], *opening[1], *steps]:
            run_step(world, step, state)
            with tenant_context(world.tenant_id):
                check_books(world)
    finally:
        savepoint.rollback()
