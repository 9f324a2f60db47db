"""Every charge kind, filter and adjustment through a real billing run (service, no HTTP)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from ruihe_saas.billing import runs
from ruihe_saas.billing.models import Bill, BillLine
from ruihe_saas.estates.models import Building, Household, Occupancy, OccupancyChange, ParkingSpace
from ruihe_saas.extensions import db
from ruihe_saas.fees.models import (
    AdjustmentKind,
    BillingFrequency,
    ChargeKind,
    FeeAdjustment,
    FeeItem,
    MeterKind,
    MeterReading,
    SharedMeter,
    SharedMeterReading,
    SplitBasis,
)
from ruihe_saas.tenancy import tenant_context
from tests.billing_factories import set_stages, simple_schedule
from tests.estate_factories import estate_with_households
from tests.factories import TenantFactory


@pytest.fixture
def estate(db):
    tenant = TenantFactory()
    estate = estate_with_households(tenant.id, buildings=2, rooms=2)
    set_stages(estate, (date(2024, 1, 1), "full_takeover"))
    return estate


@pytest.fixture
def schedule(estate):
    return simple_schedule(estate)


def add(estate, model, **fields):
    with tenant_context(estate.tenant_id):
        row = model(**fields)
        db.session.add(row)
        db.session.flush()
        return row


def item(estate, schedule, code, kind, rate, **fields):
    return add(estate, FeeItem, schedule_id=schedule.id, estate_id=estate.id, code=code,
               name=code, charge_kind=kind, rate=Decimal(rate), **fields)  # fmt: skip


def households(estate):
    with tenant_context(estate.tenant_id):
        return db.session.scalars(
            select(Household).where(Household.estate_id == estate.id).order_by(Household.room)
        ).all()


def bill(estate, period="2024-07", dry_run=False):
    with tenant_context(estate.tenant_id):
        run = runs.start_billing_run(estate.id, period, dry_run)
        db.session.flush()
        runs.execute_billing_run(run.id)
        return runs.get_billing_run(run.id)


def line(estate, household, code, period="2024-07"):
    with tenant_context(estate.tenant_id):
        return db.session.scalars(
            select(BillLine).where(
                BillLine.household_id == household.id,
                BillLine.fee_item_code == code,
                BillLine.period == period,
            )
        ).one_or_none()


def test_metered_lines_need_a_reading_and_warn_without(estate, schedule):
    item(estate, schedule, "water", ChargeKind.METERED, "3.50", meter_kind=MeterKind.WATER,
         unit="吨", fixed_part=Decimal("5.00"))  # fmt: skip
    first, second, *_ = households(estate)
    add(estate, MeterReading, estate_id=estate.id, household_id=first.id, period="2024-07",
        meter_kind=MeterKind.WATER, previous_reading=Decimal("120.25"),
        current_reading=Decimal("135.50"))  # fmt: skip
    run = bill(estate)
    water = line(estate, first, "water")
    assert water.amount == Decimal("58.38")  # 15.25 × 3.50 = 53.375, + 5.00 → 58.375
    assert water.quantity == Decimal("15.25") and "吨" in water.formula
    assert line(estate, second, "water") is None
    missing = [w for w in run.warnings if w["code"] == "missing_reading"]
    assert len(missing) == 3 and missing[0]["household_id"]
    # the reading arrives: a rerun adds just that line to the existing bill
    add(estate, MeterReading, estate_id=estate.id, household_id=second.id, period="2024-07",
        meter_kind=MeterKind.WATER, previous_reading=Decimal("0"),
        current_reading=Decimal("2"))  # fmt: skip
    again = bill(estate)
    assert (again.bills_created, again.lines_created) == (0, 1)
    with tenant_context(estate.tenant_id):
        updated = db.session.scalars(select(Bill).where(Bill.household_id == second.id)).one()
    assert updated.amount == line(estate, second, "property_service").amount + Decimal("22.00")


def test_parking_lift_floor_and_category_filters(estate, schedule):
    with tenant_context(estate.tenant_id):
        lift_building = db.session.scalars(select(Building).order_by(Building.name)).first()
        lift_building.has_lift = True
    first, *rest = households(estate)
    add(estate, ParkingSpace, estate_id=estate.id, number="P1", household_id=first.id)
    add(estate, ParkingSpace, estate_id=estate.id, number="P2", household_id=first.id)
    item(estate, schedule, "parking", ChargeKind.PER_PARKING_SPACE, "80")
    item(estate, schedule, "lift", ChargeKind.PER_AREA, "0.20", lift_only=True)
    item(estate, schedule, "top", ChargeKind.FIXED, "5", min_floor=2)
    bill(estate)
    assert line(estate, first, "parking").amount == Decimal("160.00")
    assert "2个" in line(estate, first, "parking").formula
    assert all(line(estate, h, "parking") is None for h in rest)
    lifted = [h for h in households(estate) if h.building_id == lift_building.id]
    assert all(line(estate, h, "lift") is not None for h in lifted)
    assert sum(line(estate, h, "lift") is not None for h in households(estate)) == len(lifted)
    assert {h.floor for h in households(estate) if line(estate, h, "top")} == {2}


def test_shared_meter_split_by_area_over_occupied_households(estate, schedule):
    meter = add(estate, SharedMeter, estate_id=estate.id, name="公区电表",
                meter_kind=MeterKind.ELECTRICITY)  # fmt: skip
    add(estate, SharedMeterReading, estate_id=estate.id, shared_meter_id=meter.id,
        period="2024-07", previous_reading=Decimal("1000"),
        current_reading=Decimal("1100"))  # fmt: skip
    item(estate, schedule, "common_power", ChargeKind.SHARED_METER, "1.00",
         shared_meter_id=meter.id, split_basis=SplitBasis.AREA, occupied_only=True,
         unit="度")  # fmt: skip
    everyone = households(estate)
    with tenant_context(estate.tenant_id):
        everyone[0].occupancy = Occupancy.VACANT
        db.session.flush()
    bill(estate)
    sharing = everyone[1:]
    total_area = sum(h.area for h in sharing)
    assert line(estate, everyone[0], "common_power") is None
    for h in sharing:
        expected = (Decimal(100) * h.area / total_area).quantize(Decimal("0.01"))
        assert line(estate, h, "common_power").amount == expected


def test_one_off_only_for_chosen_households_in_its_period(estate, schedule):
    first, *_ = households(estate)
    item(estate, schedule, "repair", ChargeKind.ONE_OFF, "150", frequency=BillingFrequency.ONE_OFF,
         charge_period="2024-08", household_ids=[str(first.id)])  # fmt: skip
    bill(estate, "2024-07")
    bill(estate, "2024-08")
    assert line(estate, first, "repair", "2024-07") is None
    assert line(estate, first, "repair", "2024-08").amount == Decimal("150.00")
    with tenant_context(estate.tenant_id):
        count = db.session.scalar(
            select(func.count()).select_from(BillLine).where(BillLine.fee_item_code == "repair")
        )
    assert count == 1


def test_quarterly_items_bill_three_months_in_the_quarters_first_month(estate, schedule):
    item(estate, schedule, "greening", ChargeKind.FIXED, "4", frequency=BillingFrequency.QUARTERLY)
    first, *_ = households(estate)
    bill(estate, "2024-07")
    bill(estate, "2024-08")
    assert line(estate, first, "greening", "2024-07").amount == Decimal("12.00")
    assert line(estate, first, "greening", "2024-08") is None


def test_adjustments_by_category_and_household(estate, schedule):
    first, second, *_ = households(estate)
    with tenant_context(estate.tenant_id):
        from ruihe_saas.estates.services import ensure_default_categories

        categories = ensure_default_categories() or []
        db.session.flush()
    from ruihe_saas.estates.models import HouseholdCategory

    with tenant_context(estate.tenant_id):
        category = db.session.scalars(select(HouseholdCategory)).first()
        second.category_id = category.id
        db.session.flush()
    add(estate, FeeAdjustment, estate_id=estate.id, household_id=first.id,
        kind=AdjustmentKind.PERCENT, value=Decimal("100"), reason="特困免收",
        valid_from=date(2024, 7, 16), fee_item_code="property_service")  # fmt: skip
    add(estate, FeeAdjustment, estate_id=estate.id, category_id=category.id,
        kind=AdjustmentKind.FIXED, value=Decimal("5"), reason="低保减免",
        valid_from=date(2024, 1, 1))  # fmt: skip
    del categories
    bill(estate)
    exempt = line(estate, first, "property_service")
    assert exempt.discount == (exempt.gross * 16 / 31).quantize(Decimal("0.01"))
    assert exempt.amount == exempt.gross - exempt.discount and "特困免收" in exempt.formula
    garbage = line(estate, second, "garbage")
    assert (garbage.gross, garbage.discount, garbage.amount) == (
        Decimal("10.00"), Decimal("5.00"), Decimal("5.00"))  # fmt: skip


def test_vacant_units_pay_the_reduced_rate_from_the_day_they_are_vacated(estate):
    schedule = simple_schedule(estate)
    with tenant_context(estate.tenant_id):
        garbage = db.session.scalars(select(FeeItem).where(FeeItem.code == "garbage")).one()
        garbage.vacant_rate_percent = Decimal("50")
    first, *_ = households(estate)
    add(estate, OccupancyChange, estate_id=estate.id, household_id=first.id,
        effective_date=date(2024, 7, 11), from_occupancy=Occupancy.OCCUPIED,
        to_occupancy=Occupancy.VACANT)  # fmt: skip
    bill(estate)
    vacated = line(estate, first, "garbage")
    assert vacated.amount == Decimal("6.61")  # 10 × (10 + 21 × 50 %) / 31 = 6.6129…
    assert "(10 + 21×50%)/31天" in vacated.formula
    del schedule


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(reruns=st.integers(1, 3), dry_first=st.booleans())
def test_reruns_never_duplicate_and_bill_totals_equal_their_lines(
    estate, schedule, reruns, dry_first
):
    with tenant_context(estate.tenant_id):
        db.session.execute(delete(BillLine))
        db.session.execute(delete(Bill))
    if dry_first:
        bill(estate, dry_run=True)
    for _ in range(reruns):
        bill(estate)
    with tenant_context(estate.tenant_id):
        lines = db.session.scalar(select(func.count()).select_from(BillLine))
        for each in db.session.scalars(select(Bill)):
            total = db.session.scalar(
                select(func.sum(BillLine.amount)).where(BillLine.bill_id == each.id)
            )
            assert each.amount == total
    assert lines == 2 * len(households(estate))
