"""Desk payments without HTTP: allocation to chosen bills or oldest first, prepaid credit,
receipts, business dates and closed cash-up days, idempotent replays, bad input (422,
nothing stored), listing with filters and the payment detail."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.billing.models import BillStatus
from ruihe_saas.errors import NotFound, ValidationFailed
from ruihe_saas.estates.services import list_households
from ruihe_saas.extensions import db as database
from ruihe_saas.payments import desk
from ruihe_saas.payments.models import CashUpDay, Payment, PaymentAllocation, Receipt
from ruihe_saas.tenancy import tenant_context
from ruihe_saas.tenancy.context import acting_as, estate_scope
from tests.estate_factories import estate_with_households, scope_member
from tests.factories import member
from tests.unit.billing.test_bills import World, lines

D = Decimal
RECEIPT = re.compile(r"^RC-\d{4}-\d{6}$")


class DeskWorld(World):
    def __init__(self, code="DESK"):
        super().__init__(code)
        self.cashier = member(Role.CASHIER, tenant=self.owner.tenant, name="收银员甲")
        scope_member(self.cashier, self.estate)


@pytest.fixture
def world(db):
    return DeskWorld()


def count(model) -> int:
    return database.session.scalar(select(func.count()).select_from(model))


def pay(world, *args, **kwargs):
    with tenant_context(world.tenant_id), acting_as(world.cashier.user_id):
        return desk.record_desk_payment(*args, **kwargs)


def test_chosen_bills_are_settled_and_the_excess_is_prepaid_credit(world):
    july = world.bill("2024-07")  # 60 + 40
    august = world.bill("2024-08")
    household = world.households[0]
    payment, created = pay(world, household.id, "150", "cash", bill_ids=[august.id])
    assert created
    with tenant_context(world.tenant_id):
        assert (july.status, august.status) == (BillStatus.OPEN, BillStatus.PAID)
        assert payment.unallocated == D("50.00")
        assert payment.received_by == world.cashier.user_id
        assert payment.business_date == datetime.now(UTC).astimezone(desk.local_zone()).date()
        detail = desk.payment_detail(payment)
        assert RECEIPT.match(detail.receipt_number)
        assert detail.receipt_status.value == "issued"
        assert detail.prepaid_credit == D("50.00")
        assert {row["bill_number"] for row in detail.allocations} == {august.number}
        assert sorted((row["fee_item"], row["amount"]) for row in detail.allocations) == [
            ("垃圾清运费", D("40.00")),
            ("物业服务费", D("60.00")),
        ]
        assert detail.household_label == household.label
        assert detail.cashier_name == "收银员甲"


def test_without_chosen_bills_the_oldest_period_is_settled_first(world):
    august = world.bill("2024-08")
    july = world.bill("2024-07")
    payment, _ = pay(world, world.households[0].id, "130.00", "wechat_qr", reference="WX1")
    with tenant_context(world.tenant_id):
        assert july.status == BillStatus.PAID
        assert (august.status, august.paid) == (BillStatus.PARTIALLY_PAID, D("30.00"))
        # within a bill: the fee items in schedule order (property service before garbage)
        assert (lines(august)["property_service"].paid, lines(august)["garbage"].paid) == (
            D("30.00"),
            D("0.00"),
        )
        assert payment.unallocated == 0


def test_each_payment_gets_the_next_receipt_number(world):
    first, _ = pay(world, world.households[0].id, "10", "cash")
    second, _ = pay(world, world.households[1].id, "10", "cash")
    with tenant_context(world.tenant_id):
        a, b = desk.receipt_number_of(first), desk.receipt_number_of(second)
    assert int(b.rsplit("-", 1)[1]) == int(a.rsplit("-", 1)[1]) + 1


def test_a_replay_with_the_same_key_returns_the_first_payment(world):
    world.bill("2024-07")
    household = world.households[0]
    first, created = pay(world, household.id, "100.00", "cash", idempotency_key="k-1")
    again, created_again = pay(world, household.id, D("100"), "cash", idempotency_key="k-1")
    assert (created, created_again) == (True, False)
    assert again.id == first.id
    with tenant_context(world.tenant_id):
        assert count(Payment) == 1 and count(Receipt) == 1


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "100.01"},
        {"method": "pos_card", "reference": "P1"},
        {"reference": "other"},
        {"note": "another"},
        {"household": 1},
        {"paid_at": datetime(2024, 1, 1, 9)},
    ],
)
def test_the_same_key_with_another_body_is_refused(world, change):
    bill = world.bill("2024-07")
    household = world.households[0]
    pay(world, household.id, "100.00", "cash", idempotency_key="k-2", bill_ids=[bill.id])
    args = {"amount": "100.00", "method": "cash", "reference": "", "note": ""}
    args.update({k: v for k, v in change.items() if k != "household"})
    target = world.households[change.get("household", 0)]
    with pytest.raises(ValidationFailed) as raised:
        pay(
            world,
            target.id,
            args.pop("amount"),
            args.pop("method"),
            idempotency_key="k-2",
            **args,
        )
    assert "idempotency_key" in raised.value.fields
    with tenant_context(world.tenant_id):
        assert count(Payment) == 1


def test_a_replay_naming_other_bills_is_refused(world):
    july = world.bill("2024-07")
    august = world.bill("2024-08")
    household = world.households[0]
    pay(world, household.id, "100", "cash", bill_ids=[july.id], idempotency_key="k-3")
    with pytest.raises(ValidationFailed) as raised:
        pay(world, household.id, "100", "cash", bill_ids=[august.id], idempotency_key="k-3")
    assert "idempotency_key" in raised.value.fields
    again, created = pay(
        world, household.id, "100", "cash", bill_ids=[july.id], idempotency_key="k-3"
    )
    assert not created


def test_a_closed_cash_up_day_takes_no_payment(world):
    world.bill("2024-07")
    paid_at = datetime(2024, 7, 20, 10, 0)  # tenant-local
    with tenant_context(world.tenant_id):
        database.session.add(
            CashUpDay(cashier_id=world.cashier.user_id, business_date=date(2024, 7, 20))
        )
        database.session.flush()
    with pytest.raises(ValidationFailed) as raised:
        pay(world, world.households[0].id, "10", "cash", paid_at=paid_at)
    assert "paid_at" in raised.value.fields
    # the next day is open; 00:30 in Shanghai on the 21st is still the 20th in UTC
    payment, _ = pay(
        world, world.households[0].id, "10", "cash", paid_at=datetime(2024, 7, 21, 0, 30)
    )
    with tenant_context(world.tenant_id):
        assert payment.business_date == date(2024, 7, 21)
        assert count(Payment) == 1


@pytest.mark.parametrize(
    ("amount", "method", "reference", "field"),
    [
        ("0", "cash", "", "amount"),
        ("-10", "cash", "", "amount"),
        ("10.001", "cash", "", "amount"),
        ("abc", "cash", "", "amount"),
        (None, "cash", "", "amount"),
        ("10", "online", "pi_1", "method"),
        ("10", "cheque", "", "method"),
        ("10", "bank_transfer", "", "reference"),
        ("10", "pos_card", "   ", "reference"),
        ("10", "alipay_qr", "x" * 101, "reference"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(world, amount, method, reference, field):
    world.bill("2024-07")
    with pytest.raises(ValidationFailed) as raised:
        pay(world, world.households[0].id, amount, method, reference=reference)
    assert field in raised.value.fields
    with tenant_context(world.tenant_id):
        assert count(Payment) == 0 and count(PaymentAllocation) == 0 and count(Receipt) == 0


def test_bills_of_another_household_or_tenant_are_refused(world):
    neighbours = world.bill("2024-07", household=1)
    other = DeskWorld("OTHER")
    foreign = other.bill("2024-07")
    for bill_id in (neighbours.id, foreign.id, "nope"):
        with pytest.raises(ValidationFailed) as raised:
            pay(world, world.households[0].id, "10", "cash", bill_ids=[bill_id])
        assert "bill_ids" in raised.value.fields
    with tenant_context(world.tenant_id):
        assert count(Payment) == 0


def test_future_payments_and_bad_keys_are_refused(world):
    future = datetime.now(UTC) + timedelta(hours=2)
    with pytest.raises(ValidationFailed) as raised:
        pay(world, world.households[0].id, "10", "cash", paid_at=future)
    assert "paid_at" in raised.value.fields
    for key in ("", "x" * 101, "a\nb"):
        with pytest.raises(ValidationFailed) as raised:
            pay(world, world.households[0].id, "10", "cash", idempotency_key=key)
        assert "idempotency_key" in raised.value.fields


def test_households_outside_the_tenant_or_scope_are_not_found(world):
    other = DeskWorld("OTHER")
    with pytest.raises(NotFound):
        pay(world, other.households[0].id, "10", "cash")
    elsewhere = estate_with_households(world.tenant_id, "ELSE", buildings=1, rooms=1)
    with tenant_context(world.tenant_id):
        far = list_households(elsewhere, 1, 1).items[0]
    with pytest.raises(NotFound), estate_scope([world.estate.id]):
        pay(world, far.id, "10", "cash")
    with tenant_context(world.tenant_id):
        assert count(Payment) == 0


def test_list_payments_filters(world):
    first, _ = pay(world, world.households[0].id, "10", "cash", paid_at=datetime(2024, 7, 1, 9))
    second, _ = pay(
        world,
        world.households[1].id,
        "20",
        "bank_transfer",
        reference="B-1",
        paid_at=datetime(2024, 7, 3, 9),
    )
    with tenant_context(world.tenant_id), acting_as(world.owner.user_id):
        third, _ = desk.record_desk_payment(world.households[2].id, "30", "cash")
    with tenant_context(world.tenant_id):
        assert [p.id for p in desk.list_payments().items] == [third.id, second.id, first.id]
        cases = {
            (("household_id", world.households[0].id),): [first.id],
            (("method", "bank_transfer"),): [second.id],
            (("date_from", date(2024, 7, 2)),): [third.id, second.id],
            (("date_to", date(2024, 7, 2)),): [first.id],
            (("date_from", date(2024, 7, 1)), ("date_to", date(2024, 7, 3))): [
                second.id,
                first.id,
            ],
            (("cashier_id", world.owner.user_id),): [third.id],
            (("estate_id", world.estate.id), ("per_page", 1), ("page", 2)): [second.id],
        }
        for filters, expected in cases.items():
            assert [p.id for p in desk.list_payments(dict(filters)).items] == expected, filters
        with pytest.raises(ValidationFailed):
            desk.list_payments(method="cheque")
        with pytest.raises(ValidationFailed):
            desk.list_payments(date_from=date(2024, 7, 3), date_to=date(2024, 7, 1))
        with pytest.raises(NotFound):
            desk.list_payments(estate_id=DeskWorld("X").estate.id)
        summaries = desk.payment_summaries(desk.list_payments()).items
        assert all(RECEIPT.match(s.receipt_number) for s in summaries)


def test_get_payment_respects_tenant_and_scope(world):
    payment, _ = pay(world, world.households[0].id, "10", "cash")
    with tenant_context(world.tenant_id):
        assert desk.get_payment(payment.id) is payment
        with estate_scope([]), pytest.raises(NotFound):
            desk.get_payment(payment.id)
    other = DeskWorld("OTHER")
    with tenant_context(other.tenant_id), pytest.raises(NotFound):
        desk.get_payment(payment.id)
