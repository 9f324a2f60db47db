"""Refunds: prepaid credit first, then allocations newest first; bills reopen; partial
refunds; bad input stores nothing; replays; refunds made at the gateway; settling a pending
gateway refund (a failure restores everything)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.billing import bills as bill_service
from ruihe_saas.billing.models import Bill, BillLine, BillStatus
from ruihe_saas.cashup.services import business_date_of
from ruihe_saas.errors import Conflict, NotFound, ValidationFailed
from ruihe_saas.estates.services import list_households
from ruihe_saas.extensions import db as database
from ruihe_saas.payments.models import (
    AllocationReversal,
    CashUpDay,
    Payment,
    PaymentAllocation,
    PaymentMethod,
    Refund,
    RefundMethod,
    RefundStatus,
)
from ruihe_saas.payments.services import apply_prepaid_credit, prepaid_credit, record_payment
from ruihe_saas.refunds import services
from ruihe_saas.tenancy import tenant_context
from ruihe_saas.tenancy.context import acting_as, estate_scope
from tests.billing_factories import bill_for, simple_schedule
from tests.estate_factories import estate_with_households
from tests.factories import member

D = Decimal


class World:
    def __init__(self, code="RF"):
        self.owner = member(Role.OWNER)
        self.tenant_id = self.owner.tenant_id
        self.estate = estate_with_households(self.tenant_id, code, buildings=1, rooms=2)
        self.schedule = simple_schedule(self.estate)
        with tenant_context(self.tenant_id):
            self.households = list_households(self.estate, 1, 10).items

    def bill(self, period, service="100.00", garbage="10.00", household=0):
        amounts = {"property_service": service, "garbage": garbage}
        return bill_for(self.households[household], period, amounts, self.schedule)

    def pay(self, amount, household=0, **kwargs):
        with tenant_context(self.tenant_id):
            return record_payment(self.households[household].id, amount, "cash", **kwargs)

    def online_payment(self, amount, pi="pi_test_1", household=0):
        with tenant_context(self.tenant_id):
            payment = record_payment(self.households[household].id, amount, "online")
            payment.gateway_payment_id = pi
            database.session.flush()
            return payment


@pytest.fixture
def world(db):
    return World()


def lines(bill) -> dict[str, BillLine]:
    rows = database.session.scalars(
        select(BillLine)
        .where(BillLine.bill_id == bill.id)
        .execution_options(populate_existing=True)
    )
    return {line.fee_item_code: line for line in rows}


def count(model) -> int:
    return database.session.scalar(select(func.count()).select_from(model))


def test_prepaid_credit_is_refunded_first(world):
    jan = world.bill("2024-01")
    payment = world.pay("150.00")  # 110 to January, 40 prepaid
    with tenant_context(world.tenant_id):
        refund = services.refund_payment(payment.id, "30.00", "多交退回")
        assert (refund.from_credit, refund.from_bills) == (D("30.00"), D("0.00"))
        assert (refund.method, refund.status) == (RefundMethod.ORIGINAL, RefundStatus.SUCCEEDED)
        assert (payment.unallocated, payment.refunded) == (D("10.00"), D("30.00"))
        assert count(AllocationReversal) == 0
        assert (jan.paid, jan.status) == (D("110.00"), BillStatus.PAID)
        assert refund.business_date == business_date_of(refund.refunded_at)

        # the rest of the credit, then the newest allocation: January's garbage line
        refund = services.refund_payment(payment.id, "15.00", "退款")
        assert (refund.from_credit, refund.from_bills) == (D("10.00"), D("5.00"))
        assert lines(jan)["garbage"].paid == D("5.00")
        assert (jan.paid, jan.status) == (D("105.00"), BillStatus.PARTIALLY_PAID)
        (reversal,) = services.reversals_of(refund)
        assert (reversal.amount, reversal.bill_line_id) == (D("5.00"), lines(jan)["garbage"].id)
        assert prepaid_credit(world.households[0].id) == D("0.00")


def test_allocations_are_taken_back_newest_first_and_bills_reopen(world):
    jan, feb = world.bill("2024-01"), world.bill("2024-02")
    payment = world.pay("220.00")  # pays both bills, oldest first
    with tenant_context(world.tenant_id):
        assert (jan.status, feb.status) == (BillStatus.PAID, BillStatus.PAID)
        refund = services.refund_payment(payment.id, "115.00", "重复缴费", method="cash")
        # February first (its garbage line is the newest allocation), then January
        assert (feb.paid, feb.status) == (D("0.00"), BillStatus.OPEN)
        assert (jan.paid, jan.status) == (D("105.00"), BillStatus.PARTIALLY_PAID)
        assert lines(jan)["garbage"].paid == D("5.00")
        assert lines(jan)["property_service"].paid == D("100.00")
        reversals = services.reversals_of(refund)
        assert sorted(r.amount for r in reversals) == [D("5.00"), D("10.00"), D("100.00")]
        assert {r.bill_id for r in reversals} == {jan.id, feb.id}
        allocations = database.session.scalars(select(PaymentAllocation)).all()
        assert sum((a.reversed for a in allocations), D("0")) == D("115.00")
        assert (refund.from_credit, refund.from_bills, refund.method) == (
            D("0.00"),
            D("115.00"),
            RefundMethod.CASH,
        )
        # the reopened bills can be paid again
        world.pay("115.00")
        assert (jan.status, feb.status) == (BillStatus.PAID, BillStatus.PAID)


def test_later_prepaid_credit_allocations_are_newest(world):
    payment = world.pay("200.00")  # all prepaid
    jan = world.bill("2024-01")
    with tenant_context(world.tenant_id):
        apply_prepaid_credit([world.households[0].id])
        assert (jan.status, payment.unallocated) == (BillStatus.PAID, D("90.00"))
        refund = services.refund_payment(payment.id, "200.00", "退房")
        assert (refund.from_credit, refund.from_bills) == (D("90.00"), D("110.00"))
        assert (jan.paid, jan.status, payment.refunded) == (D("0.00"), BillStatus.OPEN, D("200"))
        assert services.refundable(payment) == D("0.00")


def test_partial_refunds_add_up_and_over_refund_is_refused(world):
    world.bill("2024-01")
    payment = world.pay("110.00")
    with tenant_context(world.tenant_id):
        services.refund_payment(payment.id, "10.01", "部分退款")
        services.refund_payment(payment.id, "0.99", "部分退款")
        assert services.refundable(payment) == D("99.00")
        before = (count(Refund), count(AllocationReversal))
        with pytest.raises(ValidationFailed) as error:
            services.refund_payment(payment.id, "99.01", "太多")
        assert "amount" in error.value.fields
        assert (count(Refund), count(AllocationReversal)) == before
        assert payment.refunded == D("11.00")
        assert [r.amount for r in services.refunds_of(payment)] == [D("10.01"), D("0.99")]


@pytest.mark.parametrize(
    ("amount", "reason", "method", "reference", "fields"),
    [
        ("0", "r", None, "", {"amount"}),
        ("-5", "r", None, "", {"amount"}),
        ("1.001", "r", None, "", {"amount"}),
        ("abc", "r", None, "", {"amount"}),
        ("NaN", "r", None, "", {"amount"}),
        ("Infinity", "r", None, "", {"amount"}),
        (None, "r", None, "", {"amount"}),
        ("1", "", None, "", {"reason"}),
        ("1", "   ", None, "", {"reason"}),
        ("1", "x" * 201, None, "", {"reason"}),
        ("1", "r", "gateway", "", {"method"}),
        ("1", "r", "bitcoin", "", {"method"}),
        ("1", "r", None, "x" * 101, {"reference"}),
        ("0", "", "bitcoin", "", {"amount", "reason", "method"}),
    ],
)
def test_bad_refunds_are_refused_and_nothing_is_stored(
    world, amount, reason, method, reference, fields
):
    world.bill("2024-01")
    payment = world.pay("50.00")
    with tenant_context(world.tenant_id):
        with pytest.raises(ValidationFailed) as error:
            services.refund_payment(payment.id, amount, reason, method=method, reference=reference)
        assert set(error.value.fields) == fields
        assert count(Refund) == 0 and payment.refunded == 0


def test_unknown_or_foreign_payment_is_not_found(world):
    other = World("RF2")
    payment = other.pay("10.00")
    with tenant_context(world.tenant_id):
        for payment_id in (payment.id, "not-a-uuid", None):
            with pytest.raises(NotFound):
                services.refund_payment(payment_id, "1.00", "r")


def test_out_of_scope_payment_is_not_found(world):
    payment = world.pay("10.00")
    elsewhere = estate_with_households(world.tenant_id, "RFX", buildings=1, rooms=1)
    with tenant_context(world.tenant_id), estate_scope([elsewhere.id]):
        with pytest.raises(NotFound):
            services.refund_payment(payment.id, "1.00", "r")
        with pytest.raises(NotFound):
            services.get_payment(payment.id)


def test_a_replay_returns_the_first_refund(world):
    world.bill("2024-01")
    payment = world.pay("110.00")
    with tenant_context(world.tenant_id):
        first = services.refund_payment(payment.id, "20.00", "r", idempotency_key="k-1")
        again = services.refund_payment(payment.id, "20.00", "r", idempotency_key="k-1")
        assert again.id == first.id and payment.refunded == D("20.00") and count(Refund) == 1
        with pytest.raises(ValidationFailed) as error:
            services.refund_payment(payment.id, "21.00", "r", idempotency_key="k-1")
        assert "idempotency_key" in error.value.fields
        with pytest.raises(ValidationFailed):
            services.refund_payment(payment.id, "1.00", "r", idempotency_key="x" * 101)


def test_a_closed_cash_up_day_takes_no_desk_refund(world):
    world.bill("2024-01")
    payment = world.pay("110.00")
    cashier = world.owner.user_id
    with tenant_context(world.tenant_id):
        database.session.add(
            CashUpDay(cashier_id=cashier, business_date=business_date_of(datetime.now(UTC)))
        )
        database.session.flush()
        with acting_as(cashier), pytest.raises(ValidationFailed) as error:
            services.refund_payment(payment.id, "1.00", "r")
        assert "amount" in error.value.fields and count(Refund) == 0


def test_an_online_payment_needs_the_gateway(world):
    world.bill("2024-01")
    payment = world.online_payment("110.00")
    with tenant_context(world.tenant_id):
        assert services.refund_methods_for(payment) == (RefundMethod.GATEWAY,)
        with pytest.raises(ValidationFailed) as error:
            services.refund_payment(payment.id, "1.00", "r", method="cash")
        assert "method" in error.value.fields
        # online payment is not enabled for this tenant: 409, nothing stored
        with pytest.raises(Conflict) as error:
            services.refund_payment(payment.id, "10.00", "r")
        assert error.value.code == "gateway_not_configured"
        assert count(Refund) == 0 and count(AllocationReversal) == 0
        assert (payment.refunded, payment.unallocated) == (D("0.00"), D("0.00"))
        assert database.session.scalar(select(func.sum(Bill.paid))) == D("110.00")


def test_a_gateway_refund_is_recorded_once(world):
    jan = world.bill("2024-01")
    payment = world.online_payment("130.00")
    with tenant_context(world.tenant_id):
        refund = services.record_gateway_refund(payment, D("30.00"), "re_1", reason="dashboard")
        assert (refund.method, refund.status, refund.gateway_refund_id) == (
            RefundMethod.GATEWAY,
            RefundStatus.SUCCEEDED,
            "re_1",
        )
        assert (refund.from_credit, refund.from_bills) == (D("20.00"), D("10.00"))
        assert services.record_gateway_refund(payment, D("30.00"), "re_1").id == refund.id
        assert count(Refund) == 1 and payment.refunded == D("30.00")
        assert jan.status == BillStatus.PARTIALLY_PAID
        # more than is left, nothing, or no id: nothing recorded
        assert services.record_gateway_refund(payment, D("100.01"), "re_2") is None
        assert services.record_gateway_refund(payment, D("0"), "re_3") is None
        assert services.record_gateway_refund(payment, D("1"), "") is None
        assert count(Refund) == 1


def _pending_refund(world, payment, amount, gateway_id):
    with tenant_context(world.tenant_id):
        return services.record_gateway_refund(
            payment, D(amount), gateway_id, reason="r", status="pending"
        )


def test_settling_a_pending_refund_moves_forward_only(world):
    world.bill("2024-01")
    payment = world.online_payment("110.00")
    refund = _pending_refund(world, payment, "50.00", "re_ok")
    with tenant_context(world.tenant_id):
        assert refund.status == RefundStatus.PENDING
        assert services.settle_gateway_refund("re_ok", "succeeded").status == "succeeded"
        for later in ("failed", "pending", "canceled", "weird"):
            assert services.settle_gateway_refund("re_ok", later).status == "succeeded"
        assert payment.refunded == D("50.00")
        assert services.settle_gateway_refund("re_unknown", "failed") is None


def test_a_failed_refund_restores_exactly(world):
    jan, feb = world.bill("2024-01"), world.bill("2024-02")
    payment = world.online_payment("250.00")  # both bills, 30 prepaid
    with tenant_context(world.tenant_id):
        before_lines = {
            line.id: line.paid for line in database.session.scalars(select(BillLine)).all()
        }
        before = (jan.paid, jan.status, feb.paid, feb.status, payment.unallocated)
    refund = _pending_refund(world, payment, "150.00", "re_fail")
    with tenant_context(world.tenant_id):
        assert (refund.from_credit, refund.from_bills) == (D("30.00"), D("120.00"))
        assert feb.status == BillStatus.OPEN and jan.status == BillStatus.PARTIALLY_PAID
        settled = services.settle_gateway_refund("re_fail", "failed")
        assert settled.status == RefundStatus.FAILED
        assert (jan.paid, jan.status, feb.paid, feb.status, payment.unallocated) == before
        assert payment.refunded == D("0.00")
        after_lines = {
            line.id: line.paid
            for line in database.session.scalars(
                select(BillLine).execution_options(populate_existing=True)
            ).all()
        }
        assert after_lines == before_lines
        reversals = services.reversals_of(refund)
        assert sum((r.amount for r in reversals), D("0")) == D("0.00")
        assert any(r.amount < 0 for r in reversals)
        allocations = database.session.scalars(select(PaymentAllocation)).all()
        assert all(a.reversed == 0 for a in allocations)
        # a failure is final, and it no longer counts for the household
        assert services.settle_gateway_refund("re_fail", "succeeded").status == "failed"
        assert services.household_refunded(world.households[0].id) == D("0.00")


def test_a_failed_refund_whose_line_was_paid_meanwhile_restores_to_credit(world):
    jan = world.bill("2024-01")
    payment = world.online_payment("110.00")
    refund = _pending_refund(world, payment, "110.00", "re_late")
    other = world.pay("110.00")  # pays the reopened bill again
    with tenant_context(world.tenant_id):
        assert refund.status == RefundStatus.PENDING and jan.status == BillStatus.PAID
        services.settle_gateway_refund("re_late", "failed")
        assert (payment.refunded, payment.unallocated) == (D("0.00"), D("110.00"))
        assert (jan.paid, other.unallocated) == (D("110.00"), D("0.00"))


def test_voiding_after_a_refund(world):
    jan = world.bill("2024-01")
    payment = world.pay("110.00")
    with tenant_context(world.tenant_id):
        services.refund_payment(payment.id, "110.00", "退费后作废")
        bill_service.void_bill(jan.id, "作废")
        assert jan.status == BillStatus.VOID


def test_household_refunds_for_the_statement(world):
    world.bill("2024-01")
    payment = world.pay("110.00")
    with tenant_context(world.tenant_id):
        services.refund_payment(payment.id, "50.00", "r")
        today = business_date_of(datetime.now(UTC))
        household_id = world.households[0].id
        assert [r.amount for r in services.household_refunds(household_id)] == [D("50.00")]
        assert services.household_refunds(household_id, today + timedelta(days=1)) == []
        assert len(services.household_refunds(household_id, today, today)) == 1
        assert services.household_refunded(household_id) == D("50.00")
        assert services.household_refunded(household_id, before=today) == D("0.00")
        listed = services.list_refunds(estate_id=world.estate.id, start=today, end=today)
        assert listed.total == 1
        assert services.list_refunds(household_id=world.households[1].id).total == 0
        with pytest.raises(ValidationFailed):
            services.list_refunds(start=today, end=today - timedelta(days=1))
        detail = services.refund_detail(services.refunds_of(payment)[0])
        assert detail.household_label == world.households[0].label
        assert [r.amount for r in detail.reversals] == [D("10.00"), D("40.00")]
        assert detail.reversals[0].bill_number and detail.amount == D("50.00")


def test_payment_invariant_after_mixed_refunds(world):
    world.bill("2024-01")
    world.bill("2024-02")
    payment = world.pay("300.00")
    with tenant_context(world.tenant_id):
        for amount in ("25.00", "60.00", "1.23"):
            services.refund_payment(payment.id, amount, "r")
        allocations = database.session.scalars(
            select(PaymentAllocation).where(PaymentAllocation.payment_id == payment.id)
        ).all()
        nets = sum((a.amount - a.reversed for a in allocations), D("0"))
        assert payment.amount - payment.refunded == nets + payment.unallocated
        assert database.session.get(Payment, (world.tenant_id, payment.id)).method == (
            PaymentMethod.CASH
        )
