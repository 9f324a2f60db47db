"""Two payments of one household at the same moment: the bill lock keeps them apart."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.billing.models import Bill, BillLine, BillStatus
from ruihe_saas.estates.services import list_households
from ruihe_saas.extensions import db as database
from ruihe_saas.payments.models import Payment, PaymentAllocation
from ruihe_saas.payments.services import apply_prepaid_credit, record_payment
from ruihe_saas.tenancy import tenant_context
from tests.billing_factories import bill_for, simple_schedule
from tests.estate_factories import estate_with_households
from tests.factories import member


@pytest.mark.postgres
@pytest.mark.committed
def test_concurrent_payments_never_over_allocate(app, db):
    owner = member(Role.OWNER)
    estate = estate_with_households(owner.tenant_id, "RACE", buildings=1, rooms=1)
    schedule = simple_schedule(estate)
    with tenant_context(owner.tenant_id):
        household = list_households(estate, 1, 1).items[0]
    bill_for(household, "2024-01", {"property_service": "90.00", "garbage": "10.00"}, schedule)
    tenant_id, household_id = owner.tenant_id, household.id
    db.session.commit()

    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def pay() -> None:
        with app.app_context(), tenant_context(tenant_id):
            try:
                start.wait(timeout=10)
                record_payment(household_id, "80.00", "cash")
                database.session.commit()
            except BaseException as error:  # noqa: BLE001
                errors.append(error)
                database.session.rollback()
            finally:
                database.session.remove()

    def apply_credit() -> None:
        with app.app_context(), tenant_context(tenant_id):
            try:
                start.wait(timeout=10)
                apply_prepaid_credit([household_id])
                database.session.commit()
            except BaseException as error:  # noqa: BLE001
                errors.append(error)
                database.session.rollback()
            finally:
                database.session.remove()

    threads = [threading.Thread(target=target) for target in (pay, pay, apply_credit)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    with tenant_context(tenant_id):
        bill = database.session.scalar(select(Bill))
        assert (bill.paid, bill.status) == (Decimal("100.00"), BillStatus.PAID)
        line_paid = database.session.scalar(select(func.sum(BillLine.paid)))
        allocated = database.session.scalar(select(func.sum(PaymentAllocation.amount)))
        credit = database.session.scalar(select(func.sum(Payment.unallocated)))
        assert (line_paid, allocated, credit) == (
            Decimal("100.00"),
            Decimal("100.00"),
            Decimal("60.00"),
        )
