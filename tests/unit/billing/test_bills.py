"""Bills: listing with filters, reading, voiding (红冲) a line or a whole bill.

Payments are written straight through the ORM here (``pay``), as the payments service
would: allocations to lines, ``paid`` on lines and bills, the status, prepaid credit.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.billing import bills
from ruihe_saas.billing.models import Bill, BillCredit, BillLine, BillStatus, bill_status_for
from ruihe_saas.errors import Conflict, NotFound, ValidationFailed
from ruihe_saas.estates.services import buildings_of, list_households
from ruihe_saas.extensions import db as database
from ruihe_saas.payments.models import Payment, PaymentAllocation, PaymentMethod
from ruihe_saas.tenancy import tenant_context
from ruihe_saas.tenancy.context import estate_scope
from tests.billing_factories import bill_for, simple_schedule
from tests.estate_factories import estate_with_households
from tests.factories import member

D = Decimal


# --- helpers (also used by the statement and functional tests) -----------------------------


class World:
    """A tenant with an estate (2 buildings × 2 households), a schedule, an owner."""

    def __init__(self, code: str = "BILL", owner=None):
        self.owner = owner or member(Role.OWNER)
        self.tenant_id = self.owner.tenant_id
        self.estate = estate_with_households(self.tenant_id, code, buildings=2, rooms=2)
        self.schedule = simple_schedule(self.estate)
        with tenant_context(self.tenant_id):
            self.households = list_households(self.estate, 1, 10).items
            self.buildings = buildings_of(self.estate)

    def bill(self, period="2024-07", service="60.00", garbage="40.00", household=0, **kwargs):
        amounts = {"property_service": service, "garbage": garbage}
        return bill_for(self.households[household], period, amounts, self.schedule, **kwargs)


def lines(bill) -> dict[str, BillLine]:
    with tenant_context(bill.tenant_id):
        rows = database.session.scalars(
            select(BillLine)
            .where(BillLine.bill_id == bill.id)
            .execution_options(populate_existing=True)
        )
        return {line.fee_item_code: line for line in rows}


def pay(household, amount, allocations=(), *, paid_at=None, method=PaymentMethod.CASH, ref=""):
    """A payment of ``amount`` allocated ``[(line, amount), …]``; the rest is prepaid."""
    amount = D(str(amount))
    with tenant_context(household.tenant_id):
        allocated = sum((D(str(a)) for _line, a in allocations), D("0.00"))
        payment = Payment(
            estate_id=household.estate_id,
            household_id=household.id,
            amount=amount,
            unallocated=amount - allocated,
            method=method,
            reference=ref,
            paid_at=paid_at or datetime(2024, 7, 20, 2, 0, tzinfo=UTC),
        )
        database.session.add(payment)
        database.session.flush()
        for line, part in allocations:
            part = D(str(part))
            bill = database.session.get(Bill, (line.tenant_id, line.bill_id))
            database.session.add(
                PaymentAllocation(
                    estate_id=line.estate_id,
                    household_id=line.household_id,
                    payment_id=payment.id,
                    bill_id=bill.id,
                    bill_line_id=line.id,
                    amount=part,
                )
            )
            line.paid += part
            bill.paid += part
            bill.status = bill_status_for(bill.amount, bill.credited, bill.paid)
        database.session.flush()
    return payment


def credits_of(bill) -> list[BillCredit]:
    with tenant_context(bill.tenant_id):
        return list(
            database.session.scalars(select(BillCredit).where(BillCredit.bill_id == bill.id))
        )


@pytest.fixture
def world(db):
    return World()


# --- voiding -------------------------------------------------------------------------------


def test_voiding_a_line_credits_its_remainder_and_keeps_everything(world):
    bill = world.bill()
    garbage = lines(bill)["garbage"]
    with tenant_context(world.tenant_id):
        voided = bills.void_line(garbage.id, "  重复收费  ")
    assert voided.id == bill.id
    assert (voided.amount, voided.credited, voided.outstanding) == (D("100"), D("40"), D("60"))
    assert voided.status == BillStatus.OPEN
    after = lines(bill)
    assert (after["garbage"].credited, after["garbage"].outstanding) == (D("40"), D("0"))
    assert after["property_service"].credited == D("0")
    [credit] = credits_of(bill)
    assert (credit.amount, credit.reason, credit.bill_line_id) == (D("40"), "重复收费", garbage.id)
    assert credit.household_id == bill.household_id and credit.estate_id == bill.estate_id
    assert len(after) == 2  # nothing deleted


def test_voiding_a_bill_credits_every_line_and_makes_it_void(world):
    bill = world.bill()
    with tenant_context(world.tenant_id):
        voided = bills.void_bill(bill.id, "户主已搬离")
    assert (voided.credited, voided.outstanding, voided.status) == (
        D("100"),
        D("0"),
        BillStatus.VOID,
    )
    assert sorted(c.amount for c in credits_of(bill)) == [D("40"), D("60")]
    assert {line.credited for line in lines(bill).values()} == {D("40"), D("60")}


def test_voiding_a_partly_paid_line_credits_only_the_unpaid_remainder(world):
    bill = world.bill()
    service = lines(bill)["property_service"]
    pay(world.households[0], "20.00", [(service, "20.00")])
    with tenant_context(world.tenant_id):
        voided = bills.void_line(service.id, "面积有误")
    line = lines(bill)["property_service"]
    assert (line.amount, line.credited, line.paid, line.outstanding) == (
        D("60"),
        D("40"),
        D("20"),
        D("0"),
    )
    assert [c.amount for c in credits_of(bill)] == [D("40")]
    # 40 garbage still open, 20 paid: partially paid
    assert (voided.credited, voided.paid, voided.outstanding) == (D("40"), D("20"), D("40"))
    assert voided.status == BillStatus.PARTIALLY_PAID


def test_voiding_a_partly_paid_bill_leaves_it_settled_not_void(world):
    bill = world.bill()
    service = lines(bill)["property_service"]
    pay(world.households[0], "60.00", [(service, "60.00")])
    with tenant_context(world.tenant_id):
        voided = bills.void_bill(bill.id, "减免")
    assert [c.amount for c in credits_of(bill)] == [D("40")]  # the paid line is left alone
    assert (voided.credited, voided.paid, voided.outstanding) == (D("40"), D("60"), D("0"))
    assert voided.status == BillStatus.PAID  # what is paid stays paid: not void


def test_a_fully_paid_line_cannot_be_voided(world):
    bill = world.bill()
    garbage = lines(bill)["garbage"]
    pay(world.households[0], "40.00", [(garbage, "40.00")])
    with tenant_context(world.tenant_id), pytest.raises(Conflict) as raised:
        bills.void_line(garbage.id, "退费")
    assert raised.value.code == "paid"
    assert credits_of(bill) == []


def test_a_fully_paid_bill_cannot_be_voided(world):
    bill = world.bill()
    current = lines(bill)
    pay(
        world.households[0],
        "100.00",
        [(current["garbage"], "40"), (current["property_service"], "60")],
    )
    with tenant_context(world.tenant_id), pytest.raises(Conflict) as raised:
        bills.void_bill(bill.id, "退费")
    assert raised.value.code == "paid" and credits_of(bill) == []


def test_voiding_twice_is_a_conflict(world):
    bill = world.bill()
    with tenant_context(world.tenant_id):
        bills.void_bill(bill.id, "作废")
        with pytest.raises(Conflict) as raised:
            bills.void_bill(bill.id, "再次作废")
        assert raised.value.code == "nothing_to_void"
        with pytest.raises(Conflict):
            bills.void_line(lines(bill)["garbage"].id, "再次作废")
    assert len(credits_of(bill)) == 2


@pytest.mark.parametrize("reason", [None, "", "   ", "长" * 201])
def test_a_reason_is_required_and_short(world, reason):
    bill = world.bill()
    with tenant_context(world.tenant_id):
        with pytest.raises(ValidationFailed) as raised:
            bills.void_bill(bill.id, reason)
        assert "reason" in raised.value.fields
        with pytest.raises(ValidationFailed):
            bills.void_line(lines(bill)["garbage"].id, reason)
    assert credits_of(bill) == []


def test_a_line_of_another_bill_is_not_found(world):
    first, second = world.bill(), world.bill(household=1)
    with tenant_context(world.tenant_id), pytest.raises(NotFound):
        bills.void_line(lines(second)["garbage"].id, "错单", first)
    assert credits_of(second) == []


def test_another_tenants_or_estates_bills_are_not_found(world):
    bill = world.bill()
    other = World("OTHER")
    line = lines(bill)["garbage"]
    with tenant_context(other.tenant_id):
        for call in (
            lambda: bills.get_bill(bill.id),
            lambda: bills.void_bill(bill.id, "x"),
            lambda: bills.void_line(line.id, "x"),
        ):
            with pytest.raises(NotFound):
                call()
    second = estate_with_households(world.tenant_id, "SECOND", buildings=1, rooms=1)
    with tenant_context(world.tenant_id), estate_scope([second.id]):
        with pytest.raises(NotFound):
            bills.get_bill(bill.id)
        with pytest.raises(NotFound):
            bills.void_line(line.id, "x")
    assert credits_of(bill) == []


QUARTER = D("0.25")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    quarters=st.tuples(st.integers(0, 20_000), st.integers(0, 20_000)),
    paid=st.tuples(st.floats(0, 1), st.floats(0, 1)),
)
def test_voiding_never_credits_more_than_is_unpaid(world, quarters, paid):
    # Multiples of 0.25 yuan: exact in binary floating point too, so SQLite's CHECK (which
    # adds REALs, see the test below) does not get in the way of the property.
    amounts = [QUARTER * n for n in quarters]
    nested = database.session.begin_nested()
    try:
        bill = world.bill(service=str(amounts[0]), garbage=str(amounts[1]))
        current = lines(bill)
        allocations = []
        for code, amount, share in zip(("property_service", "garbage"), amounts, paid, strict=True):
            part = (amount * D(str(share)) / QUARTER).to_integral_value(ROUND_FLOOR) * QUARTER
            if part > 0:
                allocations.append((current[code], part))
        if allocations:
            pay(world.households[0], sum(a for _l, a in allocations), allocations)
        unpaid = {code: line.outstanding for code, line in lines(bill).items()}
        with tenant_context(world.tenant_id):
            try:
                voided = bills.void_bill(bill.id, "属性测试")
            except Conflict:
                assert all(value == 0 for value in unpaid.values())
                return
        assert sum(c.amount for c in credits_of(bill)) == sum(unpaid.values())
        assert voided.outstanding == 0 and voided.credited + voided.paid == voided.amount
        assert all(line.outstanding == 0 for line in lines(bill).values())
        assert voided.status == bill_status_for(voided.amount, voided.credited, voided.paid)
        assert (voided.status == BillStatus.VOID) == (voided.paid == 0)
    finally:
        nested.rollback()


def test_voiding_cent_amounts_fits_the_not_overpaid_check(world):
    """0.01 credited + 0.14 paid = 0.15: SQLite adds binary floats in CHECKs
    (0.15000000000000002 > 0.15), hence ``ROUND(credited + paid, 2) <= amount``."""
    bill = world.bill(service="0.01", garbage="0.14")
    pay(world.households[0], "0.14", [(lines(bill)["garbage"], "0.14")])
    with tenant_context(world.tenant_id):
        voided = bills.void_bill(bill.id, "分位")
        database.session.flush()
    assert (voided.credited, voided.paid, voided.outstanding) == (D("0.01"), D("0.14"), 0)


# --- listing and reading -------------------------------------------------------------------


def test_bills_are_listed_newest_period_first_and_filtered(world):
    july = world.bill("2024-07")
    august = world.bill("2024-08")
    other_building = world.bill("2024-07", household=2)
    with tenant_context(world.tenant_id):
        bills.void_bill(other_building.id, "作废")
        listed = bills.list_bills(estate_id=world.estate.id)
        assert [b.period for b in listed.items][:1] == ["2024-08"] and listed.total == 3
        assert bills.list_bills(period="2024-07").total == 2
        assert [b.id for b in bills.list_bills(status="void").items] == [other_building.id]
        assert [b.id for b in bills.list_bills(building_id=world.buildings[0].id).items] == [
            august.id,
            july.id,
        ]
        by_household = bills.list_bills(household_id=world.households[0].id, period="2024-08")
        assert [b.id for b in by_household.items] == [august.id]
        assert bills.list_bills(per_page=1, page=2).items[0].period == "2024-07"
        labelled = bills.summaries(bills.list_bills(household_id=world.households[0].id))
        assert {b.household_label for b in labelled.items} == {world.households[0].label}


@pytest.mark.parametrize(
    ("filters", "field"),
    [
        ({"period": "2024-13"}, "period"),
        ({"period": "24-07"}, "period"),
        ({"status": "x"}, "status"),
    ],
)
def test_bad_filters_are_validation_errors(world, filters, field):
    with tenant_context(world.tenant_id), pytest.raises(ValidationFailed) as raised:
        bills.list_bills(**filters)
    assert field in raised.value.fields


def test_filters_naming_something_elsewhere_are_not_found(world):
    other = World("ELSE", owner=member(Role.OWNER, tenant=world.owner.tenant))
    with tenant_context(world.tenant_id):
        with pytest.raises(NotFound):
            bills.list_bills(estate_id=world.estate.id, building_id=other.buildings[0].id)
        with pytest.raises(NotFound):
            bills.list_bills(estate_id=world.estate.id, household_id=other.households[0].id)
        with pytest.raises(NotFound):
            bills.list_bills(building_id=world.buildings[1].id, household_id=world.households[0].id)
        with estate_scope([other.estate.id]), pytest.raises(NotFound):
            bills.list_bills(estate_id=world.estate.id)
    foreign = World("FOREIGN")
    with tenant_context(foreign.tenant_id), pytest.raises(NotFound):
        bills.list_bills(estate_id=world.estate.id)


def test_a_bill_reads_with_lines_credits_and_label(world):
    bill = world.bill()
    with tenant_context(world.tenant_id):
        bills.void_line(lines(bill)["garbage"].id, "重复")
        detail = bills.bill_detail(bills.get_bill(bill.id))
    assert detail.household_label == world.households[0].label
    assert [line.fee_item_code for line in detail.lines] == ["garbage", "property_service"]
    assert [c.amount for c in detail.credits] == [D("40")]
    assert detail.outstanding == D("60") and detail.period == "2024-07"
    assert detail.late_fee.amount == D("0") and not detail.late_fee.enabled


# --- concurrency ---------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.committed
def test_concurrent_voids_of_one_bill_credit_it_once(app, db):
    world = World("RACE")
    bill = world.bill()
    tenant_id, bill_id = world.tenant_id, bill.id
    db.session.commit()

    start = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt() -> None:
        with app.app_context(), tenant_context(tenant_id):
            try:
                bills.get_bill(bill_id)
                start.wait(timeout=10)
                bills.void_bill(bill_id, "并发作废")
                database.session.commit()
                outcomes.append("voided")
            except Conflict:
                database.session.rollback()
                outcomes.append("conflict")
            finally:
                database.session.remove()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["conflict", "voided"]
    with tenant_context(tenant_id):
        count = database.session.scalar(select(func.count()).select_from(BillCredit))
        total = database.session.scalar(select(func.sum(BillCredit.amount)))
        assert (count, total) == (2, D("100.00"))
