"""Cash-up services: a cashier's day per method, refunds, closing (frozen totals, twice,
future, someone else's day), the closed day refusing new money, finance's overview."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from ruihe_saas.auth.models import Role
from ruihe_saas.cashup.services import (
    business_date_of,
    cashiers_with_activity,
    close_day,
    closed_day,
    closed_days,
    day_summary,
    ensure_day_open,
    local_today,
)
from ruihe_saas.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ruihe_saas.payments.models import Payment, RefundMethod, RefundStatus
from ruihe_saas.tenancy import tenant_context
from ruihe_saas.tenancy.context import acting_as
from tests.factories import member
from tests.unit.cashup.builders import DAY, make_desk

D = Decimal


@pytest.fixture
def desk(db):
    return make_desk()


def methods_of(summary) -> dict:
    return {
        m.method: (m.count, m.received, m.refund_count, m.refunded, m.net)
        for m in summary.methods
        if m.count or m.refund_count
    }


@contextmanager
def as_user(desk, membership):
    """Run as ``membership``'s user inside the desk's tenant."""
    with tenant_context(desk.tenant_id), acting_as(membership.user_id):
        yield


def test_business_date_is_the_local_date(app):
    # 2024-06-09 17:30 UTC is 01:30 on the 10th in Shanghai
    assert business_date_of(datetime(2024, 6, 9, 17, 30, tzinfo=UTC)) == date(2024, 6, 10)
    assert business_date_of(datetime(2024, 6, 10, 15, 59, tzinfo=UTC)) == date(2024, 6, 10)


def test_summary_totals_per_method_only_this_cashier_and_day(desk):
    desk.pay("100.00", "cash", hour=9, reference="")
    desk.pay("50.50", "cash", hour=11, household=1)
    desk.pay("30.00", "wechat_qr", hour=14, household=2, reference="WX-0001")
    desk.pay("999.00", "cash", cashier=desk.other_cashier)  # another cashier
    desk.pay("77.00", "cash", day=DAY - timedelta(days=1))  # another day
    desk.pay("1.00", "cash", day=DAY, hour=0)  # 00:00 local still belongs to the day
    with as_user(desk, desk.cashier):
        summary = day_summary(None, DAY)
    assert summary.cashier_id == desk.cashier.user_id and summary.cashier_name == "收款员甲"
    assert methods_of(summary) == {
        "cash": (3, D("151.50"), 0, D("0.00"), D("151.50")),
        "wechat_qr": (1, D("30.00"), 0, D("0.00"), D("30.00")),
    }
    # every desk method is listed, in the declared order, zeros included
    assert [m.method for m in summary.methods] == [
        "cash",
        "bank_transfer",
        "pos_card",
        "wechat_qr",
        "alipay_qr",
    ]
    total = summary.total
    assert (total.count, total.received, total.refunded, total.net) == (
        4,
        D("181.50"),
        D("0.00"),
        D("181.50"),
    )
    assert [p.amount for p in summary.payments] == [D("1.00"), D("100.00"), D("50.50"), D("30.00")]
    wechat = summary.payments[-1]
    assert (wechat.building, wechat.unit, wechat.room, wechat.household_label) == (
        "1栋",
        "1",
        "301",
        "1栋1单元301",
    )
    assert (wechat.method, wechat.reference, wechat.receipt_status) == (
        "wechat_qr",
        "WX-0001",
        "issued",
    )
    numbers = [p.receipt_number for p in summary.payments]
    assert all(n and n.startswith("RC-2024-") for n in numbers)
    assert (summary.receipt_first, summary.receipt_last) == (min(numbers), max(numbers))
    assert not summary.closed and summary.differences == []


def test_refunds_subtract_per_method(desk):
    cash = desk.pay("200.00", "cash")
    pos = desk.pay("80.00", "pos_card", household=1)
    desk.refund(cash, "20.00", method=RefundMethod.CASH)
    desk.refund(pos, "30.00", method=RefundMethod.ORIGINAL)  # back through POS
    desk.refund(cash, "5.00", status=RefundStatus.FAILED)  # not money out
    desk.refund(cash, "7.00", day=DAY + timedelta(days=1))  # another day
    desk.refund(cash, "9.00", by=desk.finance)  # another person's refund
    with as_user(desk, desk.cashier):
        summary = day_summary(desk.cashier.user_id, DAY)
    assert methods_of(summary) == {
        "cash": (1, D("200.00"), 1, D("20.00"), D("180.00")),
        "pos_card": (1, D("80.00"), 1, D("30.00"), D("50.00")),
    }
    assert (summary.total.received, summary.total.refunded, summary.total.net) == (
        D("280.00"),
        D("50.00"),
        D("230.00"),
    )
    assert [(r.method, r.refund_method, r.amount) for r in summary.refunds] == [
        ("cash", "cash", D("20.00")),
        ("pos_card", "original", D("30.00")),
    ]
    with as_user(desk, desk.finance):
        finance_day = day_summary(desk.finance.user_id, DAY)
    assert methods_of(finance_day) == {"cash": (0, D("0.00"), 1, D("9.00"), D("-9.00"))}


def test_close_freezes_the_totals(desk, db):
    cash = desk.pay("100.00", "cash")
    desk.pay("60.00", "bank_transfer", reference="TX-9")
    desk.refund(cash, "10.00")
    with as_user(desk, desk.cashier):
        day = close_day(None, DAY, "  钱款已清点  ")
        assert (day.cashier_id, day.business_date, day.closed_by) == (
            desk.cashier.user_id,
            DAY,
            desk.cashier.user_id,
        )
        assert (day.payment_count, day.received, day.refunded, day.note) == (
            2,
            D("160.00"),
            D("10.00"),
            "钱款已清点",
        )
        assert day.totals["cash"] == {
            "count": 1,
            "received": "100.00",
            "refund_count": 1,
            "refunded": "10.00",
            "net": "90.00",
        }
        assert day.totals["bank_transfer"]["net"] == "60.00"
        summary = day_summary(None, DAY)
        assert summary.closed and summary.closed_by_name == "收款员甲"
        assert summary.differences == []
        assert summary.total.net == D("150.00")
    # money that slipped in anyway (written around the services) shows as a difference;
    # the summary keeps the frozen figures
    stray = desk.pay("5.00", "cash", hour=16)
    assert stray.business_date == DAY
    with as_user(desk, desk.cashier):
        summary = day_summary(None, DAY)
    assert summary.differences == ["cash"]
    assert summary.total.net == D("150.00")
    assert len(summary.payments) == 3


def test_closing_twice_is_a_conflict(desk):
    desk.pay("10.00")
    with as_user(desk, desk.cashier):
        close_day(None, DAY)
        with pytest.raises(Conflict) as error:
            close_day(None, DAY)
    assert (error.value.status, error.value.code) == (409, "already_closed")
    assert "已经日结" in str(error.value.message)  # the message follows the UI language


def test_a_future_day_cannot_be_closed(desk):
    with as_user(desk, desk.cashier):
        with pytest.raises(ValidationFailed) as error:
            close_day(None, local_today() + timedelta(days=1))
        assert "date" in error.value.fields
        day = close_day(None, local_today())  # today can be closed (an empty day too)
    assert (day.payment_count, day.received) == (0, D("0.00"))


def test_a_closed_day_takes_no_new_money(desk):
    desk.pay("10.00")
    with as_user(desk, desk.cashier):
        ensure_day_open(desk.cashier.user_id, DAY)  # open: nothing happens
        close_day(None, DAY)
        with pytest.raises(ValidationFailed) as error:
            ensure_day_open(desk.cashier.user_id, DAY)
        assert error.value.status == 422 and "paid_at" in error.value.fields
        with pytest.raises(ValidationFailed) as refund_error:
            ensure_day_open(desk.cashier.user_id, DAY, field="refunded_at")
        assert "refunded_at" in refund_error.value.fields
        # the next day, and another cashier's same day, stay open
        ensure_day_open(desk.cashier.user_id, DAY + timedelta(days=1))
        ensure_day_open(desk.other_cashier.user_id, DAY)
        ensure_day_open(None, DAY)  # online payments have no cashier
        assert closed_day(desk.cashier.user_id, DAY) is not None


def test_a_cashier_cannot_close_someone_elses_day(desk):
    desk.pay("10.00", cashier=desk.other_cashier)
    with as_user(desk, desk.cashier):
        with pytest.raises(Forbidden):
            close_day(desk.other_cashier.user_id, DAY)
        assert closed_day(desk.other_cashier.user_id, DAY) is None
    with as_user(desk, desk.finance):
        day = close_day(desk.other_cashier.user_id, DAY, may_close_others=True)
    assert (day.cashier_id, day.closed_by, day.received) == (
        desk.other_cashier.user_id,
        desk.finance.user_id,
        D("10.00"),
    )


def test_unknown_or_foreign_cashier_is_not_found(desk):
    stranger = member(Role.CASHIER)
    with as_user(desk, desk.finance):
        for cashier_id in (stranger.user_id, "not-a-uuid", "00000000-0000-0000-0000-000000000000"):
            with pytest.raises(NotFound):
                day_summary(cashier_id, DAY)
            with pytest.raises(NotFound):
                close_day(cashier_id, DAY, may_close_others=True)


def test_finance_overview_lists_cashiers_with_activity(desk):
    desk.pay("100.00")
    desk.pay("40.00", "alipay_qr", cashier=desk.other_cashier)
    desk.pay("3.00", cashier=desk.other_cashier, day=DAY - timedelta(days=1))
    with as_user(desk, desk.cashier):
        close_day(None, DAY)
    with as_user(desk, desk.finance):
        rows = cashiers_with_activity(DAY)
        assert [(r.cashier_name, r.payment_count, r.received, r.closed) for r in rows] == [
            ("收款员乙", 1, D("40.00"), False),
            ("收款员甲", 1, D("100.00"), True),
        ]
        assert cashiers_with_activity(DAY + timedelta(days=5)) == []


def test_closed_days_in_a_range(desk):
    desk.pay("10.00")
    desk.pay("20.00", day=DAY + timedelta(days=1))
    with as_user(desk, desk.cashier):
        close_day(None, DAY)
        close_day(None, DAY + timedelta(days=1))
    with as_user(desk, desk.finance):
        close_day(desk.other_cashier.user_id, DAY, may_close_others=True)
        everyone = closed_days(DAY, DAY + timedelta(days=3))
        assert [(d.business_date, d.received) for d, _n, _c in everyone][:1] == [
            (DAY + timedelta(days=1), D("20.00"))
        ]
        assert len(everyone) == 3
        mine = closed_days(DAY, DAY, desk.cashier.user_id)
        assert [(name, closer) for _d, name, closer in mine] == [("收款员甲", "收款员甲")]
        with pytest.raises(ValidationFailed):
            closed_days(DAY, DAY - timedelta(days=1))
        with pytest.raises(ValidationFailed):
            closed_days(DAY - timedelta(days=400), DAY)


def test_payments_without_a_business_date_count_by_their_local_time(desk, db):
    payment = desk.pay("12.00")
    with tenant_context(desk.tenant_id):
        payment.business_date = None
        db.session.flush()
        assert db.session.get(Payment, (desk.tenant_id, payment.id)).business_date is None
    with as_user(desk, desk.cashier):
        assert day_summary(None, DAY).total.received == D("12.00")
        assert day_summary(None, DAY + timedelta(days=1)).total.received == D("0.00")


def test_a_desk_payment_into_a_closed_day_is_refused(desk, db):
    from ruihe_saas.payments.desk import record_desk_payment

    desk.pay("10.00")
    with as_user(desk, desk.cashier):
        close_day(None, DAY)
        with pytest.raises(ValidationFailed) as error:
            record_desk_payment(
                desk.households[0].id,
                "20.00",
                "cash",
                paid_at=datetime(2024, 6, 10, 16, 0),  # tenant-local, on the closed day
            )
        assert "paid_at" in error.value.fields
        # the next day is open
        payment, created = record_desk_payment(
            desk.households[0].id, "20.00", "cash", paid_at=datetime(2024, 6, 11, 9, 0)
        )
        assert created and payment.business_date == DAY + timedelta(days=1)
        assert day_summary(None, DAY).total.received == D("10.00")
