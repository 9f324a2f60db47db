"""Dated occupancy changes of a household."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ruihe_saas.errors import Conflict, NotFound, ValidationFailed
from ruihe_saas.estates.models import Occupancy, OccupancyChange
from ruihe_saas.estates.occupancy import change_occupancy, occupancy_history, occupancy_on
from ruihe_saas.extensions import db
from ruihe_saas.fees.validation import local_today
from ruihe_saas.tenancy import tenant_context
from tests.unit.fees.builders import count, households_of, tenant_with_estate


@pytest.fixture
def site(app, db):
    owner, estate = tenant_with_estate("E1")
    return owner, households_of(estate)[0]


def test_a_change_records_the_occupancy_it_leaves_and_updates_the_household(site):
    owner, household = site
    with tenant_context(owner.tenant_id):
        change = change_occupancy(household.id, "vacant", date(2024, 3, 1))
        assert (change.from_occupancy, change.to_occupancy) == (
            Occupancy.OCCUPIED,
            Occupancy.VACANT,
        )
        assert change.estate_id == household.estate_id
        assert household.occupancy == Occupancy.VACANT
        later = change_occupancy(household.id, "rented", "2024-09-01")
        assert later.from_occupancy == Occupancy.VACANT
        assert household.occupancy == Occupancy.RENTED
        assert [c.effective_date for c in occupancy_history(household.id)] == [
            date(2024, 3, 1),
            date(2024, 9, 1),
        ]
        assert occupancy_on(household, date(2024, 2, 29)) == Occupancy.OCCUPIED
        assert occupancy_on(household, date(2024, 3, 1)) == Occupancy.VACANT
        assert occupancy_on(household, date(2024, 12, 1)) == Occupancy.RENTED


def test_a_future_change_leaves_the_household_as_it_is_today(site):
    owner, household = site
    with tenant_context(owner.tenant_id):
        change_occupancy(household, "vacant", local_today() + timedelta(days=10))
        assert household.occupancy == Occupancy.OCCUPIED


def test_a_back_dated_change_between_two_others_relinks_the_later_one(site):
    owner, household = site
    with tenant_context(owner.tenant_id):
        change_occupancy(household, "vacant", date(2024, 1, 1))
        later = change_occupancy(household, "occupied", date(2024, 6, 1))
        middle = change_occupancy(household, "rented", date(2024, 3, 1))
        assert middle.from_occupancy == Occupancy.VACANT
        assert later.from_occupancy == Occupancy.RENTED
        assert household.occupancy == Occupancy.OCCUPIED
        with pytest.raises(Conflict):  # the later change would change nothing
            change_occupancy(household, "occupied", date(2024, 4, 1))


def test_one_change_per_day_and_no_change_to_the_same_occupancy(site):
    owner, household = site
    with tenant_context(owner.tenant_id):
        change_occupancy(household, "vacant", date(2024, 3, 1))
        with pytest.raises(Conflict) as raised:
            change_occupancy(household, "rented", date(2024, 3, 1))
        assert "effective_date" in raised.value.fields
        with pytest.raises(Conflict) as raised:
            change_occupancy(household, "vacant", date(2024, 4, 1))
        assert "to_occupancy" in raised.value.fields
        assert count(OccupancyChange) == 1


@pytest.mark.parametrize(
    ("to", "day", "field"),
    [("empty", date(2024, 1, 1), "to_occupancy"), ("vacant", "someday", "effective_date"),
     (None, date(2024, 1, 1), "to_occupancy"), ("vacant", None, "effective_date")],
)  # fmt: skip
def test_bad_changes_are_refused(site, to, day, field):
    owner, household = site
    with tenant_context(owner.tenant_id):
        with pytest.raises(ValidationFailed) as raised:
            change_occupancy(household, to, day)
        assert field in raised.value.fields
        assert count(OccupancyChange) == 0


def test_another_tenants_household_is_not_found(site):
    owner, household = site
    stranger, _ = tenant_with_estate("X1")
    with tenant_context(stranger.tenant_id):
        with pytest.raises(NotFound):
            change_occupancy(household.id, "vacant", date(2024, 1, 1))
        with pytest.raises(NotFound):
            occupancy_history(household.id)
        assert db.session.query(OccupancyChange).count() == 0
