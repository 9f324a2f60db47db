"""Collection rate (收缴率), paid-household ratio and clearance rate (清欠率), with payments
recorded through ``record_payment``."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from ruihe_saas.arrears import collection
from ruihe_saas.billing.models import BillCredit, BillLine
from ruihe_saas.errors import ValidationFailed
from ruihe_saas.extensions import db as database
from ruihe_saas.payments.services import record_payment
from ruihe_saas.tenancy import tenant_context
from tests.unit.arrears.builders import make_site

D = Decimal


@pytest.fixture
def june(db):
    """Four households (two buildings), May and June bills of 110 each, and payments:

    - household 0: 10 on 20 May, 210 on 10 June (rest of May + all of June);
    - household 1: 110 on 15 June (settles May, oldest first);
    - household 2: 50 on 5 July (on May);
    - household 3: 110 on 20 June, on its June bill only.
    """
    site = make_site(code="RATE", buildings=2, rooms=2, target="90")
    bills = {}
    for index in range(4):
        bills[(index, "2024-05")] = site.bill(index, "2024-05", due=date(2024, 6, 1))
        bills[(index, "2024-06")] = site.bill(index, "2024-06", due=date(2024, 7, 1))
    ids = [h.id for h in site.households]
    with tenant_context(site.tenant_id):
        record_payment(ids[0], "10", "cash", paid_at=datetime(2024, 5, 20, 9))
        record_payment(ids[0], "210", "cash", paid_at=datetime(2024, 6, 10, 9))
        record_payment(ids[1], "110", "wechat_qr", paid_at=datetime(2024, 6, 15, 9))
        record_payment(ids[2], "50", "cash", paid_at=datetime(2024, 7, 5, 9))
        record_payment(
            ids[3],
            "110",
            "cash",
            paid_at=datetime(2024, 6, 20, 9),
            bill_ids=[bills[(3, "2024-06")].id],
        )
    site.bills = bills
    return site


def _rates(row):
    return row.rate, row.paid_household_ratio, row.clearance_rate, row.gap


def test_collection_and_clearance_rates_of_a_period(june):
    with tenant_context(june.tenant_id):
        result = collection.estate_collection(june.estate, "2024-06")
    summary = result.summary
    assert (summary.billed, summary.collected) == (D("440.00"), D("220.00"))
    assert (summary.households_billed, summary.households_paid) == (4, 2)
    assert (summary.arrears_at_start, summary.collected_on_arrears) == (D("430.00"), D("210.00"))
    assert _rates(summary) == (D("50.00"), D("50.00"), D("48.84"), D("40.00"))
    assert summary.target == D("90.00") and summary.meets_target is False
    first, second = result.buildings
    assert (first.name, second.name) == ("1栋", "2栋")
    assert _rates(first) == (D("50.00"), D("50.00"), D("100.00"), D("40.00"))
    assert _rates(second) == (D("50.00"), D("50.00"), D("0.00"), D("40.00"))


@pytest.mark.parametrize(
    ("as_of", "collected", "paid", "on_arrears"),
    [
        (date(2024, 6, 9), D("0.00"), 0, D("0.00")),
        (date(2024, 6, 10), D("110.00"), 1, D("100.00")),  # the whole day counts
        (date(2024, 6, 30), D("220.00"), 2, D("210.00")),
        (date(2024, 7, 31), D("220.00"), 2, D("210.00")),  # July's payment was on May
    ],
)
def test_rates_as_of_a_day(june, as_of, collected, paid, on_arrears):
    with tenant_context(june.tenant_id):
        summary = collection.estate_collection(june.estate, "2024-06", as_of).summary
    assert (summary.collected, summary.households_paid) == (collected, paid)
    assert summary.collected_on_arrears == on_arrears
    assert summary.arrears_at_start == D("430.00")


def test_credits_reduce_what_was_billed_from_their_day(june):
    bill = june.bills[(1, "2024-06")]
    with tenant_context(june.tenant_id):
        line = database.session.scalar(
            select(BillLine).where(BillLine.bill_id == bill.id, BillLine.fee_item_code == "garbage")
        )
        database.session.add(
            BillCredit(
                estate_id=bill.estate_id,
                bill_id=bill.id,
                bill_line_id=line.id,
                household_id=bill.household_id,
                amount=D("10.00"),
                reason="测试红冲",
                credited_on=date(2024, 6, 30),
            )
        )
        line.credited, bill.credited = D("10.00"), D("10.00")
        database.session.flush()
        before = collection.estate_collection(june.estate, "2024-06", date(2024, 6, 29))
        after = collection.estate_collection(june.estate, "2024-06", date(2024, 6, 30))
    assert before.summary.billed == D("440.00")
    assert (after.summary.billed, after.summary.rate) == (D("430.00"), D("51.16"))


def test_nothing_billed_gives_null_rates_not_errors(june):
    with tenant_context(june.tenant_id):
        summary = collection.estate_collection(june.estate, "2023-01").summary
    assert (summary.billed, summary.rate, summary.paid_household_ratio) == (0, None, None)
    assert (summary.clearance_rate, summary.gap, summary.meets_target) == (None, None, None)


def test_clearance_of_a_later_period_reconstructs_the_start(june):
    with tenant_context(june.tenant_id):
        summary = collection.estate_collection(june.estate, "2024-07").summary
    # arrears on 1 July: May: 0 + 0 + 110 + 110; June: 0 + 110 + 110 + 0
    assert summary.arrears_at_start == D("440.00")
    assert summary.collected_on_arrears == D("50.00")
    assert summary.clearance_rate == D("11.36")


def test_tenant_table_every_estate_and_period(june):
    empty = make_site(june.tenant_id, code="ZERO", buildings=1, rooms=1)
    stranger = make_site(code="STRANGE", buildings=1, rooms=1)
    stranger.bill(0, "2024-06")
    with tenant_context(june.tenant_id):
        table = collection.collection_table("2024-05", "2024-07")
    assert table.periods == ["2024-05", "2024-06", "2024-07"]
    assert [row.estate.code for row in table.estates] == ["RATE", "ZERO"]
    rate, zero = table.estates
    # May: 110 + 110 + 50 of 440
    assert [cell.rate for cell in rate.cells] == [D("61.36"), D("50.00"), None]
    assert rate.cells[1].clearance_rate == D("48.84") and rate.cells[1].gap == D("40.00")
    assert [cell.billed for cell in zero.cells] == [D("0.00")] * 3
    assert empty.estate.id == zero.estate.id


def test_default_range_is_the_last_twelve_periods(june):
    with tenant_context(june.tenant_id):
        table = collection.collection_table(estate=june.estate)
    assert len(table.periods) == 12 and table.periods == sorted(table.periods)


@pytest.mark.parametrize(
    ("first", "last", "field"),
    [
        ("2024-13", "2024-12", "from"),
        ("2024-01", "24-12", "to"),
        ("2024-06", "2024-05", "from"),
        ("2015-01", "2024-12", "from"),
    ],
)
def test_bad_ranges_are_422(db, first, last, field):
    with pytest.raises(ValidationFailed) as raised:
        collection.period_range(first, last)
    assert field in raised.value.fields


def test_bad_period_is_422(june):
    with tenant_context(june.tenant_id), pytest.raises(ValidationFailed) as raised:
        collection.estate_collection(june.estate, "2024/06")
    assert "period" in raised.value.fields


def test_percent_rounds_half_up():
    assert collection.percent(D("1"), D("8")) == D("12.50")
    assert collection.percent(D("2"), D("3")) == D("66.67")
    assert collection.percent(D("0.005"), D("100")) == D("0.01")  # 0.005 % → 0.01
    assert collection.percent(D("1"), D("0")) is None
