"""Monthly charges of a household and the prepayment quote (预交)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete

from ruihe_saas.errors import NotFound, ValidationFailed
from ruihe_saas.estates.models import HandoverStage, Occupancy
from ruihe_saas.estates.services import (
    category_by_code,
    create_parking,
    ensure_default_categories,
)
from ruihe_saas.extensions import db
from ruihe_saas.fees import services
from ruihe_saas.fees.models import FeeItem, FeeSchedule
from ruihe_saas.tenancy import tenant_context
from tests.unit.fees.builders import households_of, item, schedule_data, tenant_with_estate

ON = date(2024, 8, 15)


@pytest.fixture
def site(db):
    owner, estate = tenant_with_estate("E1")
    household = households_of(estate)[0]  # 1栋1单元101, 81.50 m², floor 1, no lift
    with tenant_context(owner.tenant_id):
        ensure_default_categories()
        estate.stage = HandoverStage.FULL_TAKEOVER
        create_parking(estate, {"number": "P1", "household_id": household.id})
        db.session.flush()
    return owner, estate, household


def make_schedule(estate, *items, **changes):
    items = items or (
        item(),
        item(code="garbage", name="垃圾清运费", charge_kind="fixed", rate="10"),
        item(code="parking", name="停车费", charge_kind="per_parking_space", rate="100"),
        item(code="lift", name="电梯费", charge_kind="fixed", rate="20", lift_only=True),
        item(code="water", name="水费", charge_kind="metered", meter_kind="water", rate="3"),
        item(code="insurance", name="保险", charge_kind="fixed", rate="30", frequency="yearly"),
    )
    return services.create_schedule(estate, schedule_data(*items, **changes))


def amounts(quote) -> dict:
    return {line.code: (line.monthly, line.gross, line.offer_discount) for line in quote.lines}


def test_monthly_items_priced_without_readings(site):
    owner, estate, household = site
    with tenant_context(owner.tenant_id):
        make_schedule(estate)
        quote = services.prepayment_quote(household.id, 3, on_date=ON)
    assert amounts(quote) == {
        "property_service": (Decimal("48.90"), Decimal("146.70"), Decimal("0.00")),
        "garbage": (Decimal("10.00"), Decimal("30.00"), Decimal("0.00")),
        "parking": (Decimal("100.00"), Decimal("300.00"), Decimal("0.00")),
    }
    assert (quote.gross, quote.offer_discount, quote.amount) == (
        Decimal("476.70"),
        Decimal("0.00"),
        Decimal("476.70"),
    )


def test_free_months_for_each_full_block_paid_ahead(site):
    owner, estate, household = site
    with tenant_context(owner.tenant_id):
        make_schedule(estate, item(), prepay_months=12, prepay_free_months=1)
        eleven = services.prepayment_quote(household.id, 11, on_date=ON)
        twelve = services.prepayment_quote(household.id, 12, on_date=ON)
        twenty_four = services.prepayment_quote(household.id, 24, on_date=ON)
    assert eleven.offer_discount == Decimal("0.00")
    assert (twelve.gross, twelve.offer_discount, twelve.amount) == (
        Decimal("586.80"),
        Decimal("48.90"),
        Decimal("537.90"),
    )
    assert twenty_four.offer_discount == Decimal("97.80")


def test_a_percentage_off_when_paying_enough_months_ahead(site):
    owner, estate, household = site
    with tenant_context(owner.tenant_id):
        make_schedule(estate, item(), prepay_months=6, prepay_discount_percent="5")
        five = services.prepayment_quote(household.id, 5, on_date=ON)
        six = services.prepayment_quote(household.id, 6, on_date=ON)
    assert five.offer_discount == Decimal("0.00")
    assert six.gross == Decimal("293.40") and six.offer_discount == Decimal("14.67")


def test_adjustments_vacancy_and_filters(site):
    owner, estate, household = site
    with tenant_context(owner.tenant_id):
        make_schedule(
            estate,
            item(vacant_rate_percent="50"),
            item(code="garbage", name="垃圾清运费", charge_kind="fixed", rate="10",
                 occupancies=["occupied"]),
            item(code="upper", name="高层费", charge_kind="fixed", rate="5", min_floor=2),
        )  # fmt: skip
        services.create_adjustment(
            estate,
            {"household_id": household.id, "kind": "percent", "value": "50",
             "reason": "困难户", "valid_from": date(2024, 1, 1),
             "fee_item_code": "property_service"},
        )  # fmt: skip
        services.create_adjustment(
            estate,
            {"category": "low_income", "kind": "fixed", "value": "3", "reason": "低保",
             "valid_from": date(2024, 1, 1)},
        )  # fmt: skip
        occupied = services.monthly_charges(household, ON)
        assert {c.item.code: c.amount for c in occupied} == {
            "property_service": Decimal("24.45"),
            "garbage": Decimal("10.00"),
        }
        household.category_id = category_by_code("low_income").id
        household.occupancy = Occupancy.VACANT
        vacant = {
            c.item.code: (c.gross, c.discount) for c in services.monthly_charges(household, ON)
        }
    # vacant: half the rate (24.45); −50 % (12.23) and −3 元 (the category's, every item)
    assert vacant == {"property_service": (Decimal("24.45"), Decimal("15.23"))}


def test_no_quote_outside_the_stages_the_schedule_applies_to(site):
    owner, estate, household = site
    with tenant_context(owner.tenant_id):
        make_schedule(estate, item(), stages="partial_caretaking")
        assert services.prepayment_quote(household.id, 3, on_date=ON).lines == []
        estate.stage = HandoverStage.PROSPECT
        make_schedule(estate, item(), name="全部")
        assert services.prepayment_quote(household.id, 3, on_date=ON).lines == []


@pytest.mark.parametrize("months", [0, 37, "x", None])
def test_bad_months_are_refused(site, months):
    owner, _estate, household = site
    with tenant_context(owner.tenant_id), pytest.raises(ValidationFailed) as raised:
        services.prepayment_quote(household.id, months)
    assert "months" in raised.value.fields


def test_another_tenants_household_is_not_found(site):
    _owner, _estate, household = site
    stranger, _ = tenant_with_estate("X1")
    with tenant_context(stranger.tenant_id), pytest.raises(NotFound):
        services.prepayment_quote(household.id, 3)


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    rate=st.decimals(min_value=0, max_value=10, places=2),
    months=st.integers(min_value=1, max_value=36),
    every=st.integers(min_value=2, max_value=12),
)
def test_a_quote_is_never_more_than_paying_month_by_month(site, rate, months, every):
    owner, estate, household = site
    with tenant_context(owner.tenant_id):
        db.session.execute(delete(FeeItem))  # (each example starts from no schedule)
        db.session.execute(delete(FeeSchedule))
        make_schedule(estate, item(rate=rate), prepay_months=every, prepay_free_months=1)
        quote = services.prepayment_quote(household.id, months, on_date=ON)
        monthly = quote.lines[0].monthly
        assert quote.gross == monthly * months
        assert Decimal(0) <= quote.amount <= quote.gross
        assert quote.offer_discount == monthly * (months // every)
