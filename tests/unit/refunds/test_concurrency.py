"""Concurrent refunds of one payment (and a payment applying credit at the same time): the
row locks keep them apart, nothing is refunded twice, the books balance."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ruihe_saas.billing.models import Bill, BillLine
from ruihe_saas.errors import ValidationFailed
from ruihe_saas.extensions import db as database
from ruihe_saas.payments.models import Payment, PaymentAllocation, Refund
from ruihe_saas.payments.services import record_payment
from ruihe_saas.refunds.services import refund_payment
from ruihe_saas.tenancy import tenant_context
from tests.unit.refunds.test_refunds import World


@pytest.mark.postgres
@pytest.mark.committed
def test_concurrent_refunds_never_refund_more_than_paid(app, db):
    world = World("RRACE")
    world.bill("2024-01")
    world.bill("2024-02")
    payment = world.pay("250.00")  # both bills, 30 prepaid
    tenant_id, payment_id, household_id = world.tenant_id, payment.id, world.households[0].id
    db.session.commit()

    start = threading.Barrier(5)
    errors: list[BaseException] = []
    refused: list[ValidationFailed] = []

    def refund() -> None:
        with app.app_context(), tenant_context(tenant_id):
            try:
                start.wait(timeout=10)
                refund_payment(payment_id, "100.00", "并发退款")
                database.session.commit()
            except ValidationFailed as error:
                refused.append(error)
                database.session.rollback()
            except BaseException as error:  # noqa: BLE001
                errors.append(error)
                database.session.rollback()
            finally:
                database.session.remove()

    def pay() -> None:
        with app.app_context(), tenant_context(tenant_id):
            try:
                start.wait(timeout=10)
                record_payment(household_id, "40.00", "cash")
                database.session.commit()
            except BaseException as error:  # noqa: BLE001
                errors.append(error)
                database.session.rollback()
            finally:
                database.session.remove()

    threads = [threading.Thread(target=refund) for _ in range(4)]
    threads.append(threading.Thread(target=pay))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(refused) == 2  # 250 = 100 + 100 + (50 left: the third and fourth are refused)
    with tenant_context(tenant_id):
        refunded = database.session.scalar(select(func.sum(Refund.amount)))
        assert refunded == Decimal("200.00")
        payment = database.session.scalar(select(Payment).where(Payment.id == payment_id))
        assert payment.refunded == Decimal("200.00")
        nets = database.session.scalar(
            select(func.sum(PaymentAllocation.amount - PaymentAllocation.reversed))
        )
        credit = database.session.scalar(select(func.sum(Payment.unallocated)))
        paid = database.session.scalar(select(func.sum(Payment.amount)))
        assert paid - refunded == nets + credit
        line_paid = database.session.scalar(select(func.sum(BillLine.paid)))
        bill_paid = database.session.scalar(select(func.sum(Bill.paid)))
        assert line_paid == bill_paid == nets
