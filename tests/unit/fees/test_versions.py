"""Versions of a fee schedule (editing creates a new version) and copies to other estates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from ruihe_saas.errors import Conflict, NotFound, ValidationFailed
from ruihe_saas.extensions import db
from ruihe_saas.fees import services
from ruihe_saas.fees.models import FeeSchedule
from ruihe_saas.tenancy import tenant_context
from tests.billing_factories import bill_for, simple_schedule
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
    with tenant_context(owner.tenant_id):
        first = services.create_schedule(estate, schedule_data(effective_from=date(2024, 1, 1)))
    return owner, estate, first


def fresh(schedule) -> FeeSchedule:
    return db.session.get(FeeSchedule, (schedule.tenant_id, schedule.id), populate_existing=True)


def test_a_revision_closes_the_previous_version_the_day_before(site):
    owner, estate, first = site
    with tenant_context(owner.tenant_id):
        second = services.revise_schedule(
            first.id, {"effective_from": date(2024, 7, 1), "items": [item(rate="0.50")]}
        )
        first = fresh(first)
        assert (second.version, second.lineage_id, second.copied_from_id) == (
            2,
            first.id,
            first.id,
        )
        assert second.name == first.name and second.effective_to is None
        assert first.effective_to == date(2024, 6, 30) and first.superseded_by_id is None
        assert services.items_of(second)[0].rate == Decimal("0.5000")
        assert services.items_of(first)[0].rate == Decimal("0.6000")  # history unchanged
        assert [s.id for s in services.schedules_in_force(estate.id, date(2024, 6, 30))] == [
            first.id
        ]
        assert [s.id for s in services.schedules_in_force(estate.id, date(2024, 7, 1))] == [
            second.id
        ]


def test_a_revision_keeps_the_items_and_fields_left_out(site):
    owner, estate, first = site
    with tenant_context(owner.tenant_id):
        second = services.revise_schedule(first.id, {"effective_from": "2024-03-01"})
        items = services.items_of(second)
    assert [(i.code, i.rate) for i in items] == [("property_service", Decimal("0.6000"))]
    assert second.stages == first.stages and second.name == first.name


def test_a_revision_starting_on_or_before_the_previous_start_supersedes_it(site):
    owner, estate, first = site
    with tenant_context(owner.tenant_id):
        second = services.revise_schedule(first.id, {"effective_from": date(2024, 1, 1)})
        first = fresh(first)
        assert first.superseded_by_id == second.id and first.effective_to is None
        assert [s.id for s in services.schedules_in_force(estate.id, date(2024, 1, 1))] == [
            second.id
        ]
        assert services.with_items([first])[0].status == "superseded"


def test_every_overlapped_older_version_is_ended(site):
    owner, estate, first = site
    with tenant_context(owner.tenant_id):
        second = services.revise_schedule(first.id, {"effective_from": date(2024, 7, 1)})
        third = services.revise_schedule(second.id, {"effective_from": date(2024, 3, 1)})
        first, second = fresh(first), fresh(second)
        assert first.effective_to == date(2024, 2, 29)
        assert second.superseded_by_id == third.id
        in_force = services.schedules_in_force(estate.id, date(2024, 8, 1))
        assert [s.version for s in in_force] == [3]


def test_an_earlier_end_is_kept(site):
    owner, estate, _first = site
    with tenant_context(owner.tenant_id):
        bounded = services.create_schedule(
            estate, schedule_data(name="短期", effective_to=date(2024, 3, 31))
        )
        later = services.revise_schedule(bounded.id, {"effective_from": date(2024, 6, 1)})
        assert fresh(bounded).effective_to == date(2024, 3, 31)
        assert later.effective_to is None


def test_only_the_latest_version_can_be_revised(site):
    owner, _estate, first = site
    with tenant_context(owner.tenant_id):
        services.revise_schedule(first.id, {"effective_from": date(2024, 7, 1)})
        with pytest.raises(Conflict):
            services.revise_schedule(first.id, {"effective_from": date(2024, 9, 1)})
        assert count(FeeSchedule) == 2


def test_a_revision_in_a_billed_period_is_refused(db):
    owner, estate = tenant_with_estate("B1")
    schedule = simple_schedule(estate, effective_from=date(2024, 1, 1))
    household = households_of(estate)[0]
    bill_for(household, "2024-06", {"property_service": "48.90"}, schedule)
    with tenant_context(owner.tenant_id):
        for start in (date(2024, 6, 30), date(2024, 6, 1), date(2024, 2, 1)):
            with pytest.raises(Conflict) as raised:
                services.revise_schedule(schedule.id, {"effective_from": start})
            assert "effective_from" in raised.value.fields
        assert count(FeeSchedule) == 1
        revised = services.revise_schedule(schedule.id, {"effective_from": date(2024, 7, 1)})
        assert revised.version == 2


def test_a_bad_revision_stores_nothing(site):
    owner, _estate, first = site
    with tenant_context(owner.tenant_id):
        with pytest.raises(ValidationFailed) as raised:
            services.revise_schedule(
                first.id, {"effective_from": date(2024, 7, 1), "items": [item(rate="-1")]}
            )
        assert "items.0.rate" in raised.value.fields
        assert count(FeeSchedule) == 1 and fresh(first).effective_to is None


def test_listing_groups_versions_by_lineage_newest_first(site):
    owner, estate, first = site
    with tenant_context(owner.tenant_id):
        services.revise_schedule(first.id, {"effective_from": date(2024, 7, 1)})
        other = services.create_schedule(estate, schedule_data(name="停车收费"))
        lineages = services.list_schedules(estate.id)
    assert [lineage.lineage_id for lineage in lineages] == [other.id, first.id]
    assert [s.version for s in lineages[1].versions] == [2, 1]
    assert lineages[1].latest.is_latest and not lineages[1].versions[1].is_latest
    assert lineages[1].versions[0].items[0].code == "property_service"


def test_copy_to_another_estate_drops_what_points_at_the_source(db):
    owner, source_estate = tenant_with_estate("MOER")
    target = estate_with_households(owner.tenant_id, "DZYD", buildings=1, rooms=1)
    building = buildings_of(source_estate)[0]
    household = households_of(source_estate)[0]
    with tenant_context(owner.tenant_id):
        meter = services.create_shared_meter(
            source_estate, {"name": "公共电表", "meter_kind": "electricity"}
        )
        source = services.create_schedule(
            source_estate,
            schedule_data(
                item(building_ids=[str(building.id)], lift_only=True),
                item(code="garbage", charge_kind="fixed", rate="10"),
                item(code="light", charge_kind="shared_meter", shared_meter_id=str(meter.id),
                     split_basis="area"),
                item(code="repair", charge_kind="one_off", charge_period="2024-07",
                     household_ids=[str(household.id)]),
                prepay_months=12,
                prepay_discount_percent="5",
            ),
        )  # fmt: skip
        result = services.copy_schedule(source.id, target.id, "2024-12-01")
        copy = result.schedule
        items = services.items_of(copy)
    assert (copy.estate_id, copy.version, copy.lineage_id) == (target.id, 1, copy.id)
    assert copy.copied_from_id == source.id and copy.effective_from == date(2024, 12, 1)
    assert copy.name == source.name and copy.prepay_discount_percent == Decimal("5.00")
    assert [i.code for i in items] == ["property_service", "garbage"]
    assert items[0].building_ids is None and items[0].lift_only is True
    assert all(i.estate_id == target.id for i in items)
    assert {(d.code, d.what) for d in result.dropped} == {
        ("property_service", "building_ids"),
        ("light", "item"),
        ("repair", "item"),
    }


def test_copy_within_the_estate_keeps_everything(site):
    owner, estate, first = site
    building = buildings_of(estate)[0]
    with tenant_context(owner.tenant_id):
        source = services.create_schedule(
            estate, schedule_data(item(building_ids=[str(building.id)]), name="电梯")
        )
        result = services.copy_schedule(source.id, estate.id, date(2025, 1, 1), name="电梯2025")
        items = services.items_of(result.schedule)
    assert result.dropped == [] and result.schedule.name == "电梯2025"
    assert items[0].building_ids == [str(building.id)]


def test_copy_to_an_unknown_or_foreign_estate_is_refused(site):
    owner, _estate, first = site
    _stranger, foreign = tenant_with_estate("X9")
    with tenant_context(owner.tenant_id):
        for target in (foreign.id, "not-an-id", None):
            with pytest.raises(ValidationFailed) as raised:
                services.copy_schedule(first.id, target, date(2025, 1, 1))
            assert "estate_id" in raised.value.fields
        with pytest.raises(ValidationFailed) as raised:
            services.copy_schedule(first.id, _estate.id, "someday")
        assert "effective_from" in raised.value.fields
        assert count(FeeSchedule) == 1


def test_another_tenants_schedule_is_not_found(site):
    owner, _estate, first = site
    stranger, _ = tenant_with_estate("X8")
    with tenant_context(stranger.tenant_id):
        with pytest.raises(NotFound):
            services.get_schedule(first.id)
        with pytest.raises(NotFound):
            services.revise_schedule(first.id, {"effective_from": date(2025, 1, 1)})
        assert db.session.scalars(select(FeeSchedule)).all() == []
