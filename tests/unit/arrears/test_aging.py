"""Arrears aging: bucket boundaries, estate/building/tenant totals, households in arrears."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ruihe_saas.arrears import notice as notice_of
from ruihe_saas.arrears import services
from ruihe_saas.arrears.services import BUCKET_KEYS, bucket_for_days
from ruihe_saas.billing.models import BillStatus
from ruihe_saas.errors import ValidationFailed
from ruihe_saas.extensions import db as database
from ruihe_saas.payments.services import record_payment
from ruihe_saas.tenancy import tenant_context
from tests.unit.arrears.builders import make_site

D = Decimal
AS_OF = date(2024, 12, 31)


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (-3, None),
        (0, None),
        (1, "d0_30"),
        (30, "d0_30"),
        (31, "d31_90"),
        (90, "d31_90"),
        (91, "d91_180"),
        (180, "d91_180"),
        (181, "d181_365"),
        (365, "d181_365"),
        (366, "over_365"),
        (5000, "over_365"),
    ],
)
def test_bucket_boundaries(days, bucket):
    assert bucket_for_days(days) == bucket


@given(st.integers(min_value=1, max_value=20_000))
def test_every_overdue_day_has_exactly_one_bucket(days):
    matching = [
        b for b in services.BUCKETS if days >= b.first and (b.last is None or days <= b.last)
    ]
    assert len(matching) == 1 and bucket_for_days(days) == matching[0].key


BOUNDARY_DAYS = [0, 1, 30, 31, 90, 91, 180, 181, 365, 366, -5]


@pytest.fixture
def boundary_site(db):
    """One bill per household (12 households), due ``days`` before AS_OF."""
    site = make_site(code="AGE", buildings=2, rooms=6)
    for index, days in enumerate(BOUNDARY_DAYS):
        site.bill(index, f"2023-{index + 1:02d}", due=AS_OF - timedelta(days=days))
    return site


def test_sql_buckets_match_the_boundaries(boundary_site):
    site = boundary_site
    with tenant_context(site.tenant_id):
        aging = services.estate_aging(site.estate, AS_OF)
    summary = aging.summary
    expected = {"d0_30": 2, "d31_90": 2, "d91_180": 2, "d181_365": 2, "over_365": 1}
    assert {key: cell.households for key, cell in summary.buckets.items()} == expected
    assert {key: cell.amount for key, cell in summary.buckets.items()} == {
        key: D("110.00") * count for key, count in expected.items()
    }
    # due today (0 days) and due in 5 days are not arrears
    assert (summary.total.households, summary.total.amount) == (9, D("990.00"))
    # first building: households 0…5 → days 0, 1, 30, 31, 90, 91
    first, second = aging.buildings
    assert first.name == "1栋" and first.total.households == 5
    assert first.buckets["d0_30"].households == 2 and first.buckets["d91_180"].households == 1
    assert second.total.households == 4 and second.buckets["over_365"].amount == D("110.00")


def test_one_day_later_every_boundary_moves(boundary_site):
    site = boundary_site
    with tenant_context(site.tenant_id):
        summary = services.estate_aging(site.estate, AS_OF + timedelta(days=1)).summary
    counts = {key: cell.households for key, cell in summary.buckets.items()}
    # days become 1, 2, 31, 32, 91, 92, 181, 182, 366, 367 (and −4)
    assert counts == {"d0_30": 2, "d31_90": 2, "d91_180": 2, "d181_365": 2, "over_365": 2}


def test_outstanding_counts_payments_and_skips_settled_and_void_bills(db):
    site = make_site(code="PART", buildings=1, rooms=3)
    due = AS_OF - timedelta(days=10)
    site.bill(0, "2024-01", due=due)
    paid = site.bill(1, "2024-01", due=due)
    void = site.bill(2, "2024-01", due=due)
    with tenant_context(site.tenant_id):
        record_payment(site.households[0].id, "60.00", "cash")
        record_payment(site.households[1].id, "110.00", "cash")
        void.credited, void.status = void.amount, BillStatus.VOID
        database.session.flush()
        assert paid.status == BillStatus.PAID
        summary = services.estate_aging(site.estate, AS_OF).summary
    assert (summary.total.amount, summary.total.households) == (D("50.00"), 1)


def test_tenant_aging_per_estate_and_isolation(db):
    site = make_site(code="T1", buildings=1, rooms=2)
    other = make_site(site.tenant_id, code="T2", buildings=1, rooms=1)
    stranger = make_site(code="T3", buildings=1, rooms=2)  # another tenant
    site.bill(0, "2024-01", due=date(2024, 2, 1))
    site.bill(1, "2024-01", due=date(2024, 2, 1))
    other.bill(0, "2024-01", service="5.00", garbage="0.00", due=date(2023, 1, 1))
    stranger.bill(0, "2024-01", due=date(2024, 2, 1))
    with tenant_context(site.tenant_id):
        aging = services.tenant_aging(AS_OF)
    by_code = {row.code: row for row in aging.estates}
    assert set(by_code) == {"T1", "T2"}
    assert by_code["T1"].buckets["d181_365"].amount == D("220.00")
    assert by_code["T2"].buckets["over_365"].households == 1
    assert (aging.summary.total.amount, aging.summary.total.households) == (D("225.00"), 3)


def test_households_in_arrears_sorted_paginated_and_filtered(db):
    site = make_site(code="LIST", buildings=2, rooms=2)
    site.bill(0, "2024-01", service="500.00", due=date(2024, 11, 1))
    site.bill(1, "2024-01", service="50.00", due=date(2023, 6, 1))
    site.bill(1, "2024-02", service="50.00", due=date(2024, 12, 1))
    site.bill(2, "2024-01", service="200.00", due=date(2024, 6, 1))
    site.bill(3, "2024-01", due=date(2025, 6, 1))  # not yet due
    with tenant_context(site.tenant_id):
        by_amount = services.households_in_arrears(site.estate, as_of=AS_OF)
        assert by_amount.total == 3
        assert [r.household_id for r in by_amount.items] == [
            site.households[i].id for i in (0, 2, 1)
        ]
        second = by_amount.items[2]
        assert (second.total, second.bills, second.oldest_due) == (
            D("120.00"),
            2,
            date(2023, 6, 1),
        )
        assert second.days_overdue == (AS_OF - date(2023, 6, 1)).days
        assert second.buckets["over_365"] == D("60.00") and second.buckets["d0_30"] == D("60.00")
        assert second.household.label == site.households[1].label
        oldest = services.households_in_arrears(site.estate, as_of=AS_OF, sort="oldest")
        assert [r.household_id for r in oldest.items][0] == site.households[1].id
        paged = services.households_in_arrears(site.estate, 2, 2, as_of=AS_OF)
        assert (paged.total, len(paged.items)) == (3, 1)
        in_building = services.households_in_arrears(
            site.estate, as_of=AS_OF, building_id=site.buildings[1].id
        )
        assert [r.household_id for r in in_building.items] == [site.households[2].id]
        with pytest.raises(ValidationFailed):
            services.households_in_arrears(site.estate, as_of=AS_OF, sort="name")
        with pytest.raises(ValidationFailed):
            services.estate_aging(site.estate, date(1999, 12, 31))


def test_outstanding_bills_and_reminder_notice(db):
    site = make_site(code="NOTE", buildings=1, rooms=1)
    site.bill(0, "2024-01", due=date(2024, 2, 1))
    site.bill(0, "2024-02", due=date(2024, 3, 1))
    site.bill(0, "2025-01", due=date(2025, 2, 1))  # not yet due on AS_OF
    with tenant_context(site.tenant_id):
        record_payment(site.households[0].id, "150.00", "cash")
        household = site.households[0]
        every = services.outstanding_bills(household, AS_OF)
        assert [b.bill.period for b in every] == ["2024-02", "2025-01"]
        assert every[1].bucket is None and every[1].days_overdue < 0
        notice = notice_of.reminder_notice(household, AS_OF)
        assert [b.bill.period for b in notice.bills] == ["2024-02"]
        assert notice.total == D("70.00")
        # 40 paid on the property service line: 60 of it left, and the garbage line
        assert [(line.fee_item_code, left) for line, left in notice.bills[0].lines] == [
            ("property_service", D("60.00")),
            ("garbage", D("10.00")),
        ]
        assert notice.estate.id == site.estate.id
        assert notice.total_upper == "柒拾元整"
        assert services.household_arrears_total(household, AS_OF) == D("70.00")


def test_bucket_keys_are_stable():
    assert BUCKET_KEYS == ("d0_30", "d31_90", "d91_180", "d181_365", "over_365")


@pytest.mark.parametrize(
    ("amount", "upper"),
    [
        ("0", "零元整"),
        ("0.05", "伍分"),
        ("0.50", "伍角整"),
        ("1.01", "壹元零壹分"),
        ("1.10", "壹元壹角整"),
        ("10", "壹拾元整"),
        ("1005", "壹仟零伍元整"),
        ("1050.50", "壹仟零伍拾元伍角整"),
        ("100005", "壹拾万零伍元整"),
        ("1010000", "壹佰零壹万元整"),
        ("12345678.09", "壹仟贰佰叁拾肆万伍仟陆佰柒拾捌元零玖分"),
        ("100010000", "壹亿零壹万元整"),
        ("200000001", "贰亿零壹元整"),
    ],
)
def test_amount_in_chinese_capitals(amount, upper):
    assert notice_of.rmb_upper(D(amount)) == upper
