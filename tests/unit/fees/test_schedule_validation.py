"""Creating fee schedules: every charge kind, and every bad value → field errors, nothing
stored."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ruihe_saas.errors import ValidationFailed
from ruihe_saas.estates.services import ensure_default_categories
from ruihe_saas.fees import services
from ruihe_saas.fees.models import (
    BillingFrequency,
    ChargeKind,
    FeeItem,
    FeeSchedule,
    MeterKind,
    SplitBasis,
)
from ruihe_saas.tenancy import tenant_context
from tests.estate_factories import estate_with_households
from tests.unit.fees.builders import (
    buildings_of,
    count,
    households_of,
    item,
    schedule_data,
    tenant_with_estate,
)


@pytest.fixture
def site(db):
    owner, estate = tenant_with_estate("E1")
    other = tenant_with_estate("E2")[1]  # another tenant's estate
    neighbour = estate_with_households(owner.tenant_id, "E3", buildings=1, rooms=1)
    with tenant_context(owner.tenant_id):
        ensure_default_categories()
        meter = services.create_shared_meter(
            estate, {"name": "1栋公共电表", "meter_kind": "electricity"}
        )
        foreign_meter = services.create_shared_meter(
            neighbour, {"name": "公共水表", "meter_kind": "water"}
        )
    return owner, estate, neighbour, other, meter, foreign_meter


def every_kind(estate, meter) -> list[dict]:
    household = households_of(estate)[0]
    building = buildings_of(estate)[0]
    return [
        item(building_ids=[str(building.id)], occupancies=["occupied", "rented"]),
        item(code="garbage", name="垃圾清运费", charge_kind="fixed", rate="10"),
        item(code="parking", name="停车费", charge_kind="per_parking_space", rate="100"),
        item(
            code="ebike",
            name="充电费",
            charge_kind="metered",
            rate="0.8",
            meter_kind="ebike_charging",
            unit="度",
            fixed_part="2.5",
        ),
        item(
            code="stair_light",
            name="公摊电费",
            charge_kind="shared_meter",
            rate="0.6",
            shared_meter_id=str(meter.id),
            split_basis="area",
            occupied_only=True,
            revenue_category="public_revenue",
        ),
        item(
            code="repair",
            name="维修费",
            charge_kind="one_off",
            rate="200",
            charge_period="2024-07",
            household_ids=[str(household.id), str(household.id)],
        ),
        item(code="lift", name="电梯费", charge_kind="per_area", rate="0.2", lift_only=True,
             min_floor=2, vacant_rate_percent="50", frequency="quarterly", due_day=10,
             due_days=15, category_ids=["low_income"]),
    ]  # fmt: skip


def test_a_schedule_with_every_charge_kind(site):
    owner, estate, _neighbour, _other, meter, _foreign = site
    with tenant_context(owner.tenant_id):
        schedule = services.create_schedule(estate.id, schedule_data(*every_kind(estate, meter)))
        assert (schedule.version, schedule.lineage_id) == (1, schedule.id)
        assert schedule.late_fee_enabled is False
        items = {i.code: i for i in services.items_of(schedule)}
    assert list(items) == ["property_service", "garbage", "parking", "ebike", "stair_light",
                           "repair", "lift"]  # fmt: skip
    assert items["ebike"].meter_kind == MeterKind.EBIKE_CHARGING
    assert items["ebike"].fixed_part == Decimal("2.50")
    assert items["stair_light"].meter_kind == MeterKind.ELECTRICITY  # the shared meter's
    assert items["stair_light"].split_basis == SplitBasis.AREA
    assert items["repair"].frequency == BillingFrequency.ONE_OFF
    assert items["repair"].household_ids == [str(households_of(estate)[0].id)]
    assert items["lift"].category_ids and items["lift"].vacant_rate_percent == Decimal("50.00")
    assert items["property_service"].meter_kind is None
    assert items["garbage"].charge_kind == ChargeKind.FIXED


BAD_ITEMS = [
    ({"charge_kind": "bogus"}, "charge_kind"),
    ({"charge_kind": None}, "charge_kind"),
    ({"rate": "-0.01"}, "rate"),
    ({"rate": None}, "rate"),
    ({"rate": "abc"}, "rate"),
    ({"rate": "NaN"}, "rate"),
    ({"rate": True}, "rate"),
    ({"code": "Bad Code"}, "code"),
    ({"code": "x" * 41}, "code"),
    ({"name": " "}, "name"),
    ({"revenue_category": "shared"}, "revenue_category"),
    ({"due_day": 29}, "due_day"),
    ({"due_days": 366}, "due_days"),
    ({"frequency": "one_off"}, "frequency"),
    ({"charge_kind": "metered"}, "meter_kind"),
    ({"charge_kind": "metered", "meter_kind": "steam"}, "meter_kind"),
    ({"charge_kind": "metered", "meter_kind": "water", "fixed_part": "-1"}, "fixed_part"),
    ({"charge_kind": "shared_meter", "split_basis": "area"}, "shared_meter_id"),
    ({"charge_kind": "shared_meter", "shared_meter_id": "nope", "split_basis": "area"},
     "shared_meter_id"),
    ({"charge_kind": "one_off", "household_ids": ["H"]}, "charge_period"),
    ({"charge_kind": "one_off", "charge_period": "2024-13", "household_ids": ["H"]},
     "charge_period"),
    ({"charge_kind": "one_off", "charge_period": "2024/07", "household_ids": ["H"]},
     "charge_period"),
    ({"charge_kind": "one_off", "charge_period": "2024-07"}, "household_ids"),
    ({"charge_kind": "one_off", "charge_period": "2024-07", "household_ids": []},
     "household_ids"),
    ({"charge_kind": "one_off", "charge_period": "2024-07", "household_ids": ["H"],
      "frequency": "monthly"}, "frequency"),
    ({"building_ids": ["not-a-uuid"]}, "building_ids"),
    ({"building_ids": "B"}, "building_ids"),
    ({"occupancies": ["empty"]}, "occupancies"),
    ({"vacant_rate_percent": "100.01"}, "vacant_rate_percent"),
    ({"min_floor": "3rd"}, "min_floor"),
    ({"category_ids": ["no_such_category"]}, "category_ids"),
    ({"lift_only": "maybe"}, "lift_only"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "field"), BAD_ITEMS)
def test_bad_items_are_refused_with_their_field(site, changes, field):
    owner, estate, _neighbour, _other, meter, _foreign = site
    household = households_of(estate)[0]
    changes = {
        key: [str(household.id)] if value == ["H"] else value for key, value in changes.items()
    }
    data = schedule_data(item(code="garbage", charge_kind="fixed", rate="10"), item(**changes))
    with tenant_context(owner.tenant_id):
        with pytest.raises(ValidationFailed) as raised:
            services.create_schedule(estate.id, data)
        assert f"items.1.{field}" in raised.value.fields, raised.value.fields
        assert (count(FeeSchedule), count(FeeItem)) == (0, 0)


def test_references_to_other_estates_are_refused(site):
    owner, estate, neighbour, _other, _meter, foreign_meter = site
    stranger = households_of(neighbour)[0]
    foreign_building = buildings_of(neighbour)[0]
    data = schedule_data(
        item(building_ids=[str(foreign_building.id)]),
        item(code="light", charge_kind="shared_meter", shared_meter_id=str(foreign_meter.id),
             split_basis="equal"),
        item(code="repair", charge_kind="one_off", charge_period="2024-07",
             household_ids=[str(stranger.id)]),
    )  # fmt: skip
    with tenant_context(owner.tenant_id):
        with pytest.raises(ValidationFailed) as raised:
            services.create_schedule(estate.id, data)
        assert {"items.0.building_ids", "items.1.shared_meter_id", "items.2.household_ids"} <= set(
            raised.value.fields
        )
        assert count(FeeSchedule) == 0


BAD_SCHEDULES = [
    ({"name": ""}, "name"),
    ({"stages": "always"}, "stages"),
    ({"effective_from": None}, "effective_from"),
    ({"effective_from": "2024-02-30"}, "effective_from"),
    ({"effective_to": date(2023, 12, 31)}, "effective_to"),
    ({"prepay_months": 37, "prepay_discount_percent": "5"}, "prepay_months"),
    ({"prepay_months": 12}, "prepay_discount_percent"),
    ({"prepay_months": 12, "prepay_discount_percent": "5", "prepay_free_months": 1},
     "prepay_discount_percent"),
    ({"prepay_months": 12, "prepay_free_months": 12}, "prepay_free_months"),
    ({"prepay_months": 12, "prepay_discount_percent": "0"}, "prepay_discount_percent"),
    ({"prepay_discount_percent": "5"}, "prepay_months"),
    ({"late_fee_daily_rate": "0.02"}, "late_fee_daily_rate"),
    ({"late_fee_grace_days": -1}, "late_fee_grace_days"),
    ({"late_fee_cap_percent": "101"}, "late_fee_cap_percent"),
    ({"late_fee_enabled": True}, "late_fee_daily_rate"),
    ({"late_fee_enabled": True, "late_fee_daily_rate": "0.0005"}, "late_fee_cap_percent"),
    ({"items": []}, "items"),
    ({"items": "x"}, "items"),
    ({"items": [item(), item(name="另一个")]}, "items.1.code"),
    ({"items": ["not an object"]}, "items.0"),
]  # fmt: skip


@pytest.mark.parametrize(("changes", "field"), BAD_SCHEDULES)
def test_bad_schedules_are_refused_with_their_field(site, changes, field):
    owner, estate = site[0], site[1]
    with tenant_context(owner.tenant_id):
        with pytest.raises(ValidationFailed) as raised:
            services.create_schedule(estate.id, schedule_data(**changes))
        assert field in raised.value.fields, raised.value.fields
        assert (count(FeeSchedule), count(FeeItem)) == (0, 0)


def test_prepayment_and_late_fee_settings_are_stored(site):
    owner, estate = site[0], site[1]
    data = schedule_data(
        prepay_months=12,
        prepay_free_months=1,
        late_fee_enabled=True,
        late_fee_daily_rate="0.0005",
        late_fee_grace_days=15,
        late_fee_cap_percent="30",
    )
    with tenant_context(owner.tenant_id):
        schedule = services.create_schedule(estate, data)
    assert (schedule.prepay_months, schedule.prepay_free_months) == (12, 1)
    assert schedule.prepay_discount_percent is None
    assert schedule.late_fee_daily_rate == Decimal("0.000500")
    assert schedule.late_fee_cap_percent == Decimal("30.00")


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rate=st.one_of(st.decimals(allow_nan=True, allow_infinity=True), st.text(max_size=8)))
def test_any_rate_is_stored_rounded_or_refused(site, rate):
    owner, estate = site[0], site[1]
    with tenant_context(owner.tenant_id):
        try:
            schedule = services.create_schedule(estate, schedule_data(item(rate=rate)))
        except ValidationFailed as error:
            assert "items.0.rate" in error.fields
            return
        stored = services.items_of(schedule)[0].rate
        assert Decimal(0) <= stored <= Decimal(1_000_000)
        assert stored == Decimal(str(rate).strip()).quantize(Decimal("0.0001"), "ROUND_HALF_UP")
