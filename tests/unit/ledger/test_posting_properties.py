"""Property test: whatever sequence of bills, desk payments, partial refunds, voids (红冲),
prepaid-credit runs and manual entries happens, after every step every entry balances
with at least two lines, the trial balance is zero, the ledger agrees with the records
(``ledger.checks``: 应收 per household = its outstanding bills, 预收 = its prepaid credit,
Stripe clearing = what was not paid out), and the consolidated income statement is the sum
of the entities' own statements less the inter-entity postings (management fees charged by
the collective economy to the estate, costs recharged), whatever they were."""

from __future__ import annotations

import contextlib
import uuid
from datetime import date
from decimal import ROUND_DOWN, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ruihe_saas.billing import bills as bill_service
from ruihe_saas.errors import Conflict
from ruihe_saas.extensions import db as database
from ruihe_saas.ledger import postings, services
from ruihe_saas.ledger.checks import run_checks
from ruihe_saas.ledger.models import EntrySource
from ruihe_saas.ledger.reports import ALL, income_statement
from ruihe_saas.ledger.services import Posting
from ruihe_saas.payments.services import apply_prepaid_credit, record_payment
from ruihe_saas.refunds import services as refunds
from ruihe_saas.tenancy import tenant_context
from tests.unit.refunds.test_refunds import World

D = Decimal
CENTS = st.integers(min_value=1, max_value=30000).map(lambda c: D(c) / 100)
METHODS = st.sampled_from(["cash", "bank_transfer", "wechat_qr", "pos_card"])
EXPENSES = st.sampled_from(["wages", "cleaning", "greening", "repairs", "energy"])

BILL = st.tuples(st.just("bill"), st.integers(0, 1), CENTS, CENTS)
PAY = st.tuples(st.just("pay"), st.integers(0, 1), CENTS, st.booleans(), METHODS)
REFUND = st.tuples(st.just("refund"), st.integers(0, 20), st.integers(1, 100))
MANUAL = st.tuples(st.just("manual"), EXPENSES, CENTS, st.booleans())
INTER = st.tuples(st.just("inter"), st.sampled_from(["fee", "recharge"]), EXPENSES, CENTS)
STEP = st.one_of(
    INTER,
    BILL,
    PAY,
    REFUND,
    st.tuples(st.just("void"), st.integers(0, 20)),
    st.tuples(st.just("credit")),
    MANUAL,
)


@pytest.fixture
def world(db):
    return World("LGP")


def run_step(world: World, step, state) -> None:
    kind = step[0]
    if kind == "bill":
        _kind, who, service, garbage = step
        state["months"][who] += 1
        month = state["months"][who]
        period = f"{2020 + (month - 1) // 12}-{(month - 1) % 12 + 1:02d}"
        bill = world.bill(period, str(service), str(garbage), household=who)
        with tenant_context(world.tenant_id):
            postings.post_bill(bill)
        state["bills"].append(bill)
        return
    with tenant_context(world.tenant_id):
        if kind == "pay":
            _kind, who, amount, chosen, method = step
            own = [b for b in state["bills"] if b.household_id == world.households[who].id]
            bill_ids = [own[-1].id] if chosen and own else None
            state["payments"].append(
                record_payment(world.households[who].id, amount, method, bill_ids=bill_ids)
            )
        elif kind == "refund":
            _kind, index, percent = step
            if not state["payments"]:
                return
            payment = state["payments"][index % len(state["payments"])]
            left = refunds.refundable(payment)
            amount = (left * percent / 100).quantize(D("0.01"), rounding=ROUND_DOWN)
            if amount > 0:
                refunds.refund_payment(payment.id, amount, "property test")
        elif kind == "void":
            if not state["bills"]:
                return
            bill = state["bills"][step[1] % len(state["bills"])]
            with contextlib.suppress(Conflict):  # paid, or nothing left to void
                bill_service.void_bill(bill.id, "property test")
        elif kind == "manual":
            _kind, expense, amount, central = step
            estate_id = None if central else world.estate.id  # the collective economy
            services.post_entry(
                date(2024, 7, 15),
                [
                    Posting(role=expense, estate_id=estate_id, debit=amount),
                    Posting(role="bank", estate_id=estate_id, credit=amount),
                ],
                source=EntrySource.MANUAL,
                reference="property test",
            )
        elif kind == "inter":
            post_inter_entity(world, step, state)
        else:
            apply_prepaid_credit([h.id for h in world.households])


def post_inter_entity(world: World, step, state) -> None:
    """One paired entry between the estate and the collective economy: a management fee
    (the estate's expense, the collective's other income) or a recharged cost (the
    estate's expense, the collective's same expense reduced)."""
    _kind, how, expense, amount = step
    estate = world.estate.id
    collective_side = (
        Posting(role="other_income", estate_id=None, credit=amount)
        if how == "fee"
        else Posting(role=expense, estate_id=None, credit=amount)
    )
    services.post_entry(
        date(2024, 7, 20),
        [
            Posting(role=expense, estate_id=estate, debit=amount),
            Posting(role="inter_entity", estate_id=estate, credit=amount),
            Posting(role="inter_entity", estate_id=None, debit=amount),
            collective_side,
        ],
        source=EntrySource.MANUAL,
        reference="property test",
        pair_id=uuid.uuid4(),
    )
    if how == "fee":  # eliminated on both sides when consolidated
        state["fees"] += amount


def assert_consolidated(world: World, state) -> None:
    """Consolidated = Σ the entities' own statements − the inter-entity fees; each entity's
    column is its own statement."""
    start, end = date(2000, 1, 1), date(2030, 12, 31)
    whole = income_statement(start, end, ALL)
    entities = [world.estate.id, None]
    own = {entity: income_statement(start, end, entity) for entity in entities}
    fees = state["fees"]
    income = sum((own[e].total_income(e) for e in entities), D(0))
    expenses = sum((own[e].total_expenses(e) for e in entities), D(0))
    assert whole.total_income() == income - fees
    assert whole.total_expenses() == expenses - fees
    assert whole.net_income() == income - expenses
    assert whole.eliminations == D(0)  # income and expense eliminations cancel out
    for entity in entities:
        assert whole.total_income(entity) == own[entity].total_income(entity)
        assert whole.total_expenses(entity) == own[entity].total_expenses(entity)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    opening=st.tuples(
        st.lists(BILL, min_size=1, max_size=3), st.lists(PAY, min_size=1, max_size=2)
    ),
    steps=st.lists(STEP, min_size=1, max_size=8),
)
def test_the_ledger_follows_the_records_after_every_step(world, opening, steps):
    savepoint = database.session.begin_nested()
    try:
        state = {"months": [0, 0], "bills": [], "payments": [], "fees": D(0)}
        for step in [*opening[0], *opening[1], *steps]:
            run_step(world, step, state)
            with tenant_context(world.tenant_id):
                assert run_checks() == [], step
                assert_consolidated(world, state)
    finally:
        savepoint.rollback()
