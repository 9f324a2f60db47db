"""Closing a day while payments are being recorded into it (PostgreSQL, real commits): a
payment whose transaction started before the close and commits after is either in the
frozen totals or refused — never missing from them."""

from __future__ import annotations

import random
import threading
import time
from decimal import Decimal
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.cashup.services import business_date_of, close_day, ensure_day_open, local_today
from ruihe_saas.errors import ValidationFailed
from ruihe_saas.estates.services import list_households
from ruihe_saas.extensions import db as database
from ruihe_saas.payments.models import CashUpDay, Payment
from ruihe_saas.payments.services import record_payment
from ruihe_saas.tenancy import tenant_context
from ruihe_saas.tenancy.context import acting_as
from tests.estate_factories import estate_with_households
from tests.factories import member

pytestmark = [pytest.mark.postgres, pytest.mark.committed]
TIMEOUT = 20


@pytest.fixture
def desk(app, db):
    owner = member(Role.OWNER)
    cashier = member(Role.CASHIER, tenant=owner.tenant)
    estate = estate_with_households(owner.tenant_id, "RACE", buildings=1, rooms=2)
    with tenant_context(owner.tenant_id):
        household_id = list_households(estate, 1, 1).items[0].id
    ids = owner.tenant_id, cashier.user_id, household_id
    db.session.commit()
    return ids


def _desk_payment(household_id, amount: str, *, after_check=None, before_check=None) -> Payment:
    """What the desk does in one transaction: record, date it, check the day, (commit)."""
    payment = record_payment(household_id, amount, "cash")
    payment.business_date = business_date_of(payment.paid_at)
    database.session.flush()
    if before_check:
        before_check()
    ensure_day_open(payment.received_by, payment.business_date)
    if after_check:
        after_check()
    return payment


def _run(app, tenant_id, user_id, work, results: list, name: str) -> threading.Thread:
    def target() -> None:
        with app.app_context(), tenant_context(tenant_id), acting_as(user_id):
            try:
                value = work()
                database.session.commit()
                results.append((name, "ok", value, time.monotonic()))
            except ValidationFailed as error:
                database.session.rollback()
                results.append((name, "refused", error, time.monotonic()))
            except BaseException as error:  # noqa: BLE001
                database.session.rollback()
                results.append((name, "error", error, time.monotonic()))
            finally:
                database.session.remove()

    thread = threading.Thread(target=target, name=name)
    thread.start()
    return thread


def _frozen_and_committed(tenant_id, cashier_id, day):
    with tenant_context(tenant_id):
        day_row = database.session.scalar(select(CashUpDay))
        closed = SimpleNamespace(
            payment_count=day_row.payment_count, received=day_row.received, totals=day_row.totals
        )
        count, total = database.session.execute(
            select(func.count(), func.coalesce(func.sum(Payment.amount), 0)).where(
                Payment.received_by == cashier_id, Payment.business_date == day
            )
        ).one()
        database.session.rollback()
    return closed, count, Decimal(total)


def test_payment_checked_before_the_close_and_committed_after_is_in_the_totals(app, desk):
    tenant_id, cashier_id, household_id = desk
    day = local_today()
    checked, close_started = threading.Event(), threading.Event()
    results: list = []

    def pay_slowly():
        def after_check():
            checked.set()
            close_started.wait(TIMEOUT)
            time.sleep(0.5)  # the close is waiting for the day's lock meanwhile

        return _desk_payment(household_id, "88.00", after_check=after_check).id

    def close():
        checked.wait(TIMEOUT)
        close_started.set()
        return close_day(None, day).id

    threads = [
        _run(app, tenant_id, cashier_id, pay_slowly, results, "pay"),
        _run(app, tenant_id, cashier_id, close, results, "close"),
    ]
    for thread in threads:
        thread.join(TIMEOUT)
    outcome = {name: (status, value) for name, status, value, _at in results}
    assert outcome["pay"][0] == "ok" and outcome["close"][0] == "ok", outcome
    closed, count, total = _frozen_and_committed(tenant_id, cashier_id, day)
    assert (closed.payment_count, closed.received) == (1, Decimal("88.00"))
    assert (count, total) == (1, Decimal("88.00"))
    assert closed.totals["cash"]["received"] == "88.00"


def test_payment_checked_after_the_close_committed_is_refused(app, desk):
    tenant_id, cashier_id, household_id = desk
    day = local_today()
    inserted, closed_event = threading.Event(), threading.Event()
    results: list = []

    def pay_late():
        def before_check():
            inserted.set()  # the payment row exists, uncommitted
            closed_event.wait(TIMEOUT)

        return _desk_payment(household_id, "66.00", before_check=before_check).id

    def close():
        inserted.wait(TIMEOUT)
        return close_day(None, day).id

    pay_thread = _run(app, tenant_id, cashier_id, pay_late, results, "pay")
    close_thread = _run(app, tenant_id, cashier_id, close, results, "close")
    close_thread.join(TIMEOUT)
    closed_event.set()
    pay_thread.join(TIMEOUT)
    outcome = {name: (status, value) for name, status, value, _at in results}
    assert outcome["close"][0] == "ok", outcome
    assert outcome["pay"][0] == "refused", outcome
    closed, count, total = _frozen_and_committed(tenant_id, cashier_id, day)
    assert (closed.payment_count, closed.received) == (0, Decimal("0.00"))
    assert (count, total) == (0, Decimal("0"))


def test_many_payments_racing_a_close_match_the_frozen_totals(app, desk):
    tenant_id, cashier_id, household_id = desk
    day = local_today()
    start = threading.Barrier(9)
    results: list = []
    rng = random.Random(5)  # noqa: S311 - timing jitter, not secrets
    delays = [rng.uniform(0, 0.05) for _ in range(9)]

    def payer(index: int):
        def work():
            start.wait(TIMEOUT)
            time.sleep(delays[index])
            return _desk_payment(
                household_id, f"{index + 1}.00", after_check=lambda: time.sleep(0.02)
            ).id

        return work

    def close():
        start.wait(TIMEOUT)
        time.sleep(delays[8])
        return close_day(None, day).id

    threads = [_run(app, tenant_id, cashier_id, payer(i), results, f"pay{i}") for i in range(8)]
    threads.append(_run(app, tenant_id, cashier_id, close, results, "close"))
    for thread in threads:
        thread.join(TIMEOUT)
    statuses = {name: status for name, status, _value, _at in results}
    assert len(statuses) == 9 and "error" not in statuses.values(), results
    assert statuses["close"] == "ok"
    closed, count, total = _frozen_and_committed(tenant_id, cashier_id, day)
    paid = sum(1 for name, status in statuses.items() if name != "close" and status == "ok")
    # every committed payment is in the frozen totals; the refused ones are not stored
    assert closed.payment_count == count == paid
    assert closed.received == total
