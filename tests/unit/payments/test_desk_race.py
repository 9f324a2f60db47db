"""Desk payments at the same moment, against PostgreSQL with real commits: two cashiers pay
the same bills (never over-allocated; the excess becomes prepaid credit), five retries of
one request with the same Idempotency-Key (one payment, one receipt)."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.billing.models import Bill, BillLine, BillStatus
from ruihe_saas.extensions import db as database
from ruihe_saas.payments import desk
from ruihe_saas.payments.models import Payment, PaymentAllocation, Receipt
from ruihe_saas.tenancy import tenant_context
from ruihe_saas.tenancy.context import acting_as
from tests.factories import member
from tests.unit.billing.test_bills import World

pytestmark = [pytest.mark.postgres, pytest.mark.committed]

D = Decimal


def _run(app, count: int, work) -> list:
    """Run ``work()`` in ``count`` threads released together; their outcomes."""
    start = threading.Barrier(count)
    outcomes: list = []

    def attempt() -> None:
        with app.app_context():
            try:
                start.wait(timeout=10)
                outcomes.append(work())
                database.session.commit()
            except BaseException as error:  # noqa: BLE001
                database.session.rollback()
                outcomes.append(error)
            finally:
                database.session.remove()

    threads = [threading.Thread(target=attempt) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_two_cashiers_paying_the_same_bills_never_over_allocate(app, db):
    world = World("DRACE")
    cashiers = [member(Role.CASHIER, tenant=world.owner.tenant) for _ in range(2)]
    july = world.bill("2024-07")  # 60 + 40
    august = world.bill("2024-08")
    tenant_id, household_id = world.tenant_id, world.households[0].id
    bill_ids = [july.id, august.id]
    users = [c.user_id for c in cashiers]
    db.session.commit()
    turn = iter(users)
    lock = threading.Lock()

    def work():
        with lock:
            user_id = next(turn)
        with tenant_context(tenant_id), acting_as(user_id):
            payment, created = desk.record_desk_payment(
                household_id, "150.00", "cash", bill_ids=bill_ids
            )
            return payment.id, created

    outcomes = _run(app, 2, work)
    assert all(isinstance(o, tuple) and o[1] for o in outcomes), outcomes
    with tenant_context(tenant_id):
        lines = database.session.scalars(select(BillLine)).all()
        for line in lines:
            allocated = database.session.scalar(
                select(func.coalesce(func.sum(PaymentAllocation.amount), 0)).where(
                    PaymentAllocation.bill_line_id == line.id
                )
            )
            assert allocated == line.paid <= line.amount
        bills = database.session.scalars(select(Bill)).all()
        assert {(b.status, b.paid) for b in bills} == {(BillStatus.PAID, D("100.00"))}
        credit = database.session.scalar(select(func.sum(Payment.unallocated)))
        assert credit == D("100.00")  # 300 paid, 200 owed
        receipts = database.session.scalars(select(Receipt.number)).all()
        assert len(set(receipts)) == 2


def test_five_retries_with_one_key_record_one_payment(app, db):
    world = World("DKEY")
    cashier = member(Role.CASHIER, tenant=world.owner.tenant)
    world.bill("2024-07")
    tenant_id, household_id, user_id = world.tenant_id, world.households[0].id, cashier.user_id
    db.session.commit()

    def work():
        with tenant_context(tenant_id), acting_as(user_id):
            payment, created = desk.record_desk_payment(
                household_id, "120.00", "cash", idempotency_key="retry-me"
            )
            return payment.id, created

    outcomes = _run(app, 5, work)
    assert all(isinstance(o, tuple) for o in outcomes), outcomes
    assert len({payment_id for payment_id, _ in outcomes}) == 1
    assert sorted(created for _, created in outcomes) == [False] * 4 + [True]
    with tenant_context(tenant_id):
        assert database.session.scalar(select(func.count()).select_from(Payment)) == 1
        assert database.session.scalar(select(func.count()).select_from(Receipt)) == 1
        assert database.session.scalar(select(func.sum(PaymentAllocation.amount))) == D("100.00")
