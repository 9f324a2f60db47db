"""Receipt numbers: per tenant and year, sequential and gap-free — also with 20 payments at
the same moment and with payments that roll back (they give their number back)."""

from __future__ import annotations

import threading
from datetime import datetime

import pytest
from sqlalchemy import select

from ruihe_saas.estates.services import list_households
from ruihe_saas.extensions import db as database
from ruihe_saas.payments.models import Payment, Receipt
from ruihe_saas.payments.services import record_payment
from ruihe_saas.receipts.services import issue_receipt
from ruihe_saas.tenancy import tenant_context
from tests.billing_factories import bill_for, simple_schedule
from tests.estate_factories import estate_with_households
from tests.factories import member
from tests.unit.receipts.builders import make_desk


class RollBack(Exception):
    pass


def test_numbers_are_per_tenant_and_year_and_a_rollback_gives_its_number_back(db):
    desk = make_desk()
    other = make_desk("OTHER")
    _p, first = desk.pay(0, "10", paid_at=datetime(2023, 12, 31, 23, 0))
    _p, second = desk.pay(0, "10", paid_at=datetime(2024, 1, 1, 0, 30))
    _p, foreign = other.pay(0, "10", paid_at=datetime(2024, 1, 1, 0, 30))
    with (
        tenant_context(desk.tenant_id),
        pytest.raises(RollBack),
        database.session.begin_nested(),
    ):
        lost = record_payment(desk.households[1].id, "20", "cash", paid_at=datetime(2024, 2, 1, 9))
        lost_number = issue_receipt(lost).number
        raise RollBack
    _p, third = desk.pay(1, "10", paid_at=datetime(2024, 3, 1, 9))
    assert [first.number, second.number, foreign.number] == [
        "RH-2023-000001",
        "RH-2024-000001",
        "RH-2024-000001",
    ]
    assert lost_number == "RH-2024-000002"
    assert third.number == "RH-2024-000002"  # the rolled-back payment gave it back
    payment, fourth = desk.pay(2, "5")
    assert fourth.number == "RH-2024-000003"
    with tenant_context(desk.tenant_id):
        again = database.session.get(Payment, (desk.tenant_id, payment.id))
        assert issue_receipt(again).number == fourth.number  # issued once per payment


@pytest.mark.postgres
@pytest.mark.committed
def test_twenty_concurrent_payments_get_numbers_1_to_20(app, db):
    owner = member()
    owner.tenant.receipt_prefix = "RH"
    estate = estate_with_households(owner.tenant_id, "RACE", buildings=2, rooms=5)
    schedule = simple_schedule(estate)
    with tenant_context(owner.tenant_id):
        households = list_households(estate, 1, 100).items
    for household in households:
        bill_for(household, "2024-01", {"property_service": "90.00", "garbage": "10.00"}, schedule)
    tenant_id = owner.tenant_id
    household_ids = [h.id for h in households]
    database.session.commit()

    workers = 20 + 4  # 4 of them roll back after taking a number
    start = threading.Barrier(workers)
    errors: list[BaseException] = []
    taken_by_rolled_back: list[str] = []

    def pay(index: int, roll_back: bool) -> None:
        with app.app_context(), tenant_context(tenant_id):
            try:
                start.wait(timeout=20)
                payment = record_payment(household_ids[index % len(household_ids)], "30", "cash")
                receipt = issue_receipt(payment)
                if roll_back:
                    taken_by_rolled_back.append(receipt.number)
                    database.session.rollback()
                else:
                    database.session.commit()
            except BaseException as error:  # noqa: BLE001
                errors.append(error)
                database.session.rollback()
            finally:
                database.session.remove()

    threads = [
        threading.Thread(target=pay, args=(index, index % 6 == 5)) for index in range(workers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(taken_by_rolled_back) == 4
    with tenant_context(tenant_id):
        numbers = database.session.scalars(select(Receipt.number)).all()
        payments = database.session.scalars(select(Payment.id)).all()
    year = datetime.now().year
    assert len(payments) == 20
    assert sorted(numbers) == [f"RH-{year}-{n:06d}" for n in range(1, 21)]
