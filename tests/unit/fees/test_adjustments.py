"""Fee adjustments (减免) and shared meters."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ruihe_saas.errors import Conflict, NotFound, ValidationFailed
from ruihe_saas.estates.services import ensure_default_categories
from ruihe_saas.fees import services
from ruihe_saas.fees.models import AdjustmentKind, FeeAdjustment, SharedMeter
from ruihe_saas.tenancy import tenant_context
from tests.estate_factories import estate_with_households
from tests.unit.fees.builders import (
    buildings_of,
    count,
    households_of,
    schedule_data,
    tenant_with_estate,
)


@pytest.fixture
def site(db):
    owner, estate = tenant_with_estate("E1")
    neighbour = estate_with_households(owner.tenant_id, "E2", buildings=1, rooms=1)
    with tenant_context(owner.tenant_id):
        ensure_default_categories()
        services.create_schedule(estate, schedule_data())
    return owner, estate, neighbour


def adjustment(**changes) -> dict:
    data = {
        "kind": "percent",
        "value": "50",
        "reason": "低保户减半",
        "valid_from": date(2024, 1, 1),
    }
    data.update(changes)
    return data


def test_adjustments_for_a_household_or_a_category(site):
    owner, estate, _neighbour = site
    household = households_of(estate)[0]
    with tenant_context(owner.tenant_id):
        own = services.create_adjustment(
            estate.id, adjustment(household_id=str(household.id), fee_item_code="property_service")
        )
        by_category = services.create_adjustment(
            estate, adjustment(category="low_income", kind="fixed", value="10.005")
        )
        assert own.household_id == household.id and own.category_id is None
        assert by_category.kind == AdjustmentKind.FIXED and by_category.value == Decimal("10.01")
        assert services.list_adjustments(estate).total == 2
        page = services.list_adjustments(estate, household_id=household.id)
        assert [a.id for a in page.items] == [own.id]
        household.category_id = by_category.category_id
        assert {a.id for a in services.adjustments_for(household, date(2024, 5, 1))} == {
            own.id,
            by_category.id,
        }
        assert services.adjustments_for(household, date(2023, 12, 31)) == []


BAD = [
    ({}, "household_id"),  # neither household nor category
    ({"household_id": "H", "category": "low_income"}, "household_id"),
    ({"household_id": "not-an-id"}, "household_id"),
    ({"household_id": "FOREIGN"}, "household_id"),
    ({"category": "nobody"}, "category_id"),
    ({"household_id": "H", "kind": "gift"}, "kind"),
    ({"household_id": "H", "value": "0"}, "value"),
    ({"household_id": "H", "value": "100.01"}, "value"),
    ({"household_id": "H", "kind": "fixed", "value": "-5"}, "value"),
    ({"household_id": "H", "reason": " "}, "reason"),
    ({"household_id": "H", "valid_from": None}, "valid_from"),
    ({"household_id": "H", "valid_to": date(2023, 1, 1)}, "valid_to"),
    ({"household_id": "H", "fee_item_code": "lift"}, "fee_item_code"),
    ({"household_id": "H", "fee_item_code": "Bad Code"}, "fee_item_code"),
]


@pytest.mark.parametrize(("changes", "field"), BAD)
def test_bad_adjustments_are_refused(site, changes, field):
    owner, estate, neighbour = site
    ids = {"H": str(households_of(estate)[0].id), "FOREIGN": str(households_of(neighbour)[0].id)}
    changes = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in changes.items()}
    with tenant_context(owner.tenant_id):
        with pytest.raises(ValidationFailed) as raised:
            services.create_adjustment(estate, adjustment(**changes))
        assert field in raised.value.fields, raised.value.fields
        assert count(FeeAdjustment) == 0


def test_ending_an_adjustment(site):
    owner, estate, _neighbour = site
    household = households_of(estate)[0]
    with tenant_context(owner.tenant_id):
        made = services.create_adjustment(
            estate, adjustment(household_id=household.id, valid_to=date(2024, 12, 31))
        )
        with pytest.raises(ValidationFailed):
            services.end_adjustment(made.id, date(2023, 12, 31))  # before it starts
        with pytest.raises(Conflict):
            services.end_adjustment(made.id, date(2025, 6, 30))  # later than planned
        ended = services.end_adjustment(made.id, "2024-06-30")
        assert ended.valid_to == date(2024, 6, 30)
        assert services.list_adjustments(estate, active_on=date(2024, 7, 1)).total == 0
        assert services.list_adjustments(estate, active_on=date(2024, 6, 30)).total == 1


def test_an_open_adjustment_ends_today_by_default(site):
    owner, estate, _neighbour = site
    with tenant_context(owner.tenant_id):
        made = services.create_adjustment(estate, adjustment(category="low_income"))
        assert services.end_adjustment(made.id).valid_to == services.local_today()


def test_another_tenants_adjustment_is_not_found(site):
    owner, estate, _neighbour = site
    stranger, _ = tenant_with_estate("X1")
    with tenant_context(owner.tenant_id):
        made = services.create_adjustment(estate, adjustment(category="low_income"))
    with tenant_context(stranger.tenant_id), pytest.raises(NotFound):
        services.end_adjustment(made.id)


# --- shared meters ---------------------------------------------------------------------------


def test_shared_meters_of_an_estate_a_building_or_a_unit(site):
    owner, estate, _neighbour = site
    building = buildings_of(estate)[0]
    with tenant_context(owner.tenant_id):
        whole = services.create_shared_meter(estate, {"name": "总水表", "meter_kind": "water"})
        one = services.create_shared_meter(
            estate, {"name": "1栋电表", "meter_kind": "electricity", "building_id": building.id}
        )
        unit = services.create_shared_meter(
            estate,
            {
                "name": "1栋1单元楼道灯",
                "meter_kind": "electricity",
                "building_id": str(building.id),
                "unit": "1单元",
            },
        )
        assert (whole.building_id, whole.unit) == (None, None)
        assert (one.building_id, unit.unit) == (building.id, "1")
        assert [m.name for m in services.shared_meters_of(estate)] == sorted(
            ["总水表", "1栋电表", "1栋1单元楼道灯"]
        )
        with pytest.raises(Conflict):
            services.create_shared_meter(estate, {"name": "总水表", "meter_kind": "water"})


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"meter_kind": "water"}, "name"),
        ({"name": "表", "meter_kind": "steam"}, "meter_kind"),
        ({"name": "表", "meter_kind": "water", "building_id": "FOREIGN"}, "building_id"),
        ({"name": "表", "meter_kind": "water", "unit": "2"}, "unit"),
        ({"name": "表" * 51, "meter_kind": "water"}, "name"),
    ],
)
def test_bad_shared_meters_are_refused(site, data, field):
    owner, estate, neighbour = site
    if data.get("building_id") == "FOREIGN":
        data = {**data, "building_id": buildings_of(neighbour)[0].id}
    with tenant_context(owner.tenant_id):
        with pytest.raises(ValidationFailed) as raised:
            services.create_shared_meter(estate, data)
        assert field in raised.value.fields
        assert count(SharedMeter) == 0
