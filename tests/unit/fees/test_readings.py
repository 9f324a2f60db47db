"""Meter readings: the previous reading by default, backwards readings, replacements,
re-entering a period, billed periods, shared meters."""

from __future__ import annotations

import contextlib
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select

from ruihe_saas.errors import Conflict, ValidationFailed
from ruihe_saas.extensions import db
from ruihe_saas.fees import readings, services
from ruihe_saas.fees.models import MeterReading, SharedMeterReading
from ruihe_saas.tenancy import tenant_context
from tests.billing_factories import bill_for
from tests.unit.fees.builders import count, households_of, item, schedule_data, tenant_with_estate


@pytest.fixture
def site(db):
    owner, estate = tenant_with_estate("E1")
    household = households_of(estate)[0]
    return owner, estate, household


def record(estate, household, period, current, **changes):
    data = {
        "household_id": str(household.id),
        "meter_kind": "water",
        "period": period,
        "current_reading": current,
    }
    data.update(changes)
    return readings.record_reading(estate, data)


def test_the_previous_reading_defaults_to_the_last_one(site):
    owner, estate, household = site
    with tenant_context(owner.tenant_id):
        first = record(estate, household, "2024-01", "100")
        second = record(estate, household, "2024-03", "112.345")
        electricity = record(estate, household, "2024-03", "5", meter_kind="electricity")
    assert (first.previous_reading, first.current_reading) == (Decimal("0.00"), Decimal("100.00"))
    assert (second.previous_reading, second.current_reading) == (
        Decimal("100.00"),
        Decimal("112.35"),
    )
    assert electricity.previous_reading == Decimal("0.00")  # another meter
    assert not first.replaced and not second.replaced


def test_a_reading_going_backwards_is_refused_unless_the_meter_was_replaced(site):
    owner, estate, household = site
    with tenant_context(owner.tenant_id):
        record(estate, household, "2024-01", "100")
        with pytest.raises(ValidationFailed) as raised:
            record(estate, household, "2024-02", "99.99")
        assert "current_reading" in raised.value.fields
        assert count(MeterReading) == 1
        replaced = record(estate, household, "2024-02", "3", is_replacement=True)
        assert (replaced.previous_reading, replaced.is_replacement) == (Decimal("0.00"), True)
        started = record(
            estate, household, "2024-03", "12", is_replacement=True, previous_reading="10"
        )
        assert started.previous_reading == Decimal("10.00")
        with pytest.raises(ValidationFailed) as raised:
            record(estate, household, "2024-04", "5", is_replacement=True, previous_reading="8")
        assert "current_reading" in raised.value.fields


def test_re_entering_a_period_replaces_its_reading_and_keeps_the_chain(site):
    owner, estate, household = site
    with tenant_context(owner.tenant_id):
        january = record(estate, household, "2024-01", "100")
        february = record(estate, household, "2024-02", "130")
        again = record(estate, household, "2024-01", "110")
        assert again.id == january.id and again.replaced
        assert again.current_reading == Decimal("110.00")
        db.session.refresh(february)
        assert february.previous_reading == Decimal("110.00")  # follows January
        with pytest.raises(ValidationFailed) as raised:
            record(estate, household, "2024-01", "131")  # above February's reading
        assert "current_reading" in raised.value.fields
        assert count(MeterReading) == 2


def test_a_back_filled_reading_becomes_the_next_ones_previous(site):
    owner, estate, household = site
    with tenant_context(owner.tenant_id):
        march = record(estate, household, "2024-03", "130")
        assert march.previous_reading == Decimal("0.00")
        record(estate, household, "2024-02", "120")
        db.session.refresh(march)
        assert march.previous_reading == Decimal("120.00")


def test_a_billed_reading_cannot_be_re_entered(site):
    owner, estate, household = site
    with tenant_context(owner.tenant_id):
        schedule = services.create_schedule(
            estate, schedule_data(item(code="water", charge_kind="metered", meter_kind="water"))
        )
        record(estate, household, "2024-06", "50")
    bill_for(household, "2024-06", {"water": "30.00"}, schedule)
    with tenant_context(owner.tenant_id):
        with pytest.raises(Conflict) as raised:
            record(estate, household, "2024-06", "51")
        assert "period" in raised.value.fields
        # another meter kind of the same period is not billed
        record(estate, household, "2024-06", "7", meter_kind="electricity")
        record(estate, household, "2024-07", "60")
        rows = db.session.scalars(
            select(MeterReading).where(MeterReading.period == "2024-06")
        ).all()
        assert sorted(r.current_reading for r in rows) == [Decimal("7.00"), Decimal("50.00")]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"period": "2024-13"}, "period"),
        ({"period": "202401"}, "period"),
        ({"period": None}, "period"),
        ({"meter_kind": "steam"}, "meter_kind"),
        ({"current_reading": "-1"}, "current_reading"),
        ({"current_reading": "abc"}, "current_reading"),
        ({"current_reading": None}, "current_reading"),
        ({"previous_reading": "-1"}, "previous_reading"),
        ({"household_id": "not-an-id"}, "household_id"),
        ({"read_on": "yesterday"}, "read_on"),
    ],
)
def test_bad_readings_are_refused(site, changes, field):
    owner, estate, household = site
    with tenant_context(owner.tenant_id):
        with pytest.raises(ValidationFailed) as raised:
            readings.record_reading(
                estate,
                {
                    "household_id": str(household.id),
                    "meter_kind": "water",
                    "period": "2024-01",
                    "current_reading": "10",
                    **changes,
                },
            )
        assert field in raised.value.fields
        assert count(MeterReading) == 0


def test_a_household_of_another_estate_is_refused(site):
    owner, estate, _household = site
    from tests.estate_factories import estate_with_households

    other = estate_with_households(owner.tenant_id, "E9", buildings=1, rooms=1)
    stranger = households_of(other)[0]
    with tenant_context(owner.tenant_id):
        with pytest.raises(ValidationFailed) as raised:
            record(estate, stranger, "2024-01", "10")
        assert "household_id" in raised.value.fields


def test_shared_meter_readings_follow_the_same_rules(site):
    owner, estate, _household = site
    with tenant_context(owner.tenant_id):
        meter = services.create_shared_meter(
            estate, {"name": "总电表", "meter_kind": "electricity"}
        )
        data = {"shared_meter_id": str(meter.id), "period": "2024-01", "current_reading": "1000"}
        first = readings.record_shared_reading(estate, data)
        second = readings.record_shared_reading(
            estate, {**data, "period": "2024-02", "current_reading": "1500"}
        )
        assert second.previous_reading == Decimal("1000.00")
        with pytest.raises(ValidationFailed):
            readings.record_shared_reading(
                estate, {**data, "period": "2024-03", "current_reading": "10"}
            )
        with pytest.raises(ValidationFailed) as raised:
            readings.record_shared_reading(estate, {**data, "shared_meter_id": "nope"})
        assert "shared_meter_id" in raised.value.fields
        again = readings.record_shared_reading(estate, {**data, "current_reading": "1100"})
        assert again.id == first.id and again.replaced
        assert readings.list_shared_readings(estate, period="2024-02").total == 1
        assert count(SharedMeterReading) == 2


def test_listing_readings_by_period_household_and_kind(site):
    owner, estate, household = site
    other = households_of(estate)[1]
    with tenant_context(owner.tenant_id):
        record(estate, household, "2024-01", "10")
        record(estate, household, "2024-02", "20")
        record(estate, other, "2024-02", "5", meter_kind="electricity")
        assert readings.list_readings(estate).total == 3
        assert readings.list_readings(estate, period="2024-02").total == 2
        assert readings.list_readings(estate, household_id=other.id).total == 1
        assert readings.list_readings(estate, meter_kind="water").total == 2


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    values=st.lists(
        st.tuples(
            st.sampled_from([f"2024-{m:02d}" for m in range(1, 7)]),
            st.decimals(min_value=0, max_value=1000, places=2),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_stored_readings_never_go_backwards(site, values):
    """Whatever order readings are entered in, what is stored is a chain that never goes
    backwards (without replacements): each period's reading ≥ its previous reading ≥ the
    previous period's reading."""
    owner, estate, household = site
    with tenant_context(owner.tenant_id):
        db.session.execute(delete(MeterReading))  # (each example starts from no readings)
        for period, value in values:
            with contextlib.suppress(ValidationFailed):
                record(estate, household, period, value)
        rows = db.session.scalars(
            select(MeterReading)
            .where(MeterReading.household_id == household.id)
            .order_by(MeterReading.period)
        ).all()
        last = Decimal(0)
        for row in rows:
            assert row.previous_reading <= row.current_reading
            assert row.current_reading >= last
            last = row.current_reading
