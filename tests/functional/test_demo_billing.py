"""The demo tenant's fee schedules, billing runs and payment history (``[[fee_schedules]]``,
``[[billing]]`` and ``[[payments]]`` in ``tenants/ruihe``), and those sections on small
definitions: months billed once, readings generated for the metered items, bad entries
refused with nothing saved. The payment history: Mo'er collects above its 90 % target every
month since the takeover, Geology Team One less during the partial caretaking than after the
full takeover, households are in arrears in every aging bucket the bills allow, every
configured method is used, receipts are numbered without gaps per year. The books
(``[[ledger]]``): every ended month closed, the surplus reinvested in the improvement fund,
the report's projects paid from it, the ledger agreeing with the bills and payments.

The full demo bills about 53,000 household-months (a minute on SQLite), so this module loads
it once, with real commits, and its tests only read it (each in a rolled-back transaction);
the tables are emptied afterwards.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from unittest.mock import patch
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, distinct, func, select, text

from ruihe_saas.app import PROJECT_ROOT
from ruihe_saas.arrears.collection import collection_table
from ruihe_saas.arrears.services import BUCKET_KEYS, bucket_for_days, estate_aging
from ruihe_saas.audit.models import AuditEvent
from ruihe_saas.auth.models import User
from ruihe_saas.billing.models import Bill, BillingRun, BillLine, RunStatus
from ruihe_saas.billing.periods import Period, periods_between
from ruihe_saas.estates.models import Building, Estate, Household, HouseholdCategory, Occupancy
from ruihe_saas.fees.models import (
    FeeAdjustment,
    FeeItem,
    FeeSchedule,
    MeterReading,
    RevenueCategory,
    StageApplicability,
)
from ruihe_saas.fees.services import items_of, schedules_in_force
from ruihe_saas.jobs.models import JobRecord
from ruihe_saas.ledger import closing
from ruihe_saas.ledger.checks import run_checks
from ruihe_saas.ledger.models import EntrySource, JournalEntry, JournalLine, PeriodClose
from ruihe_saas.ledger.reports import ALL, improvement_fund, income_statement
from ruihe_saas.payments.models import Payment, PaymentAllocation, Receipt
from ruihe_saas.payments.services import money
from ruihe_saas.tenancy import tenant_context
from ruihe_saas.tenancy.definitions import read_definition
from ruihe_saas.tenancy.services import find_tenant
from tests.conftest import _empty_all_tables, login

RUIHE = PROJECT_ROOT / "tenants" / "ruihe"
CENT = Decimal("0.01")


def last_full_month() -> Period:
    return Period.of(datetime.now(ZoneInfo("Asia/Shanghai")).date()).previous()


def load(runner, path: Path) -> str:
    result = runner.invoke(args=["tenants", "load", str(path)])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def demo_output(app):
    """``tenants/ruihe`` loaded once for the module, committed; emptied at the end."""
    from ruihe_saas.extensions import db as database

    config = {"RUIHE_DEFINITION_BILLING": True}  # whatever the suite's default
    # Start from truncated tables and fresh connections: earlier tests' rolled-back rows can
    # leave "0 rows" statistics behind, and pooled connections keep foreign-key check plans
    # made from them (sequential scans), which turn 53,000 bills into minutes.
    _empty_all_tables(app)
    with app.app_context():
        database.engine.dispose()
    try:
        with patch.dict(app.config, config), app.app_context():
            result = app.test_cli_runner().invoke(args=["tenants", "load", str(RUIHE)])
            database.session.remove()
        assert result.exit_code == 0, result.output
        analyze(app)
        yield result.output
    finally:
        _empty_all_tables(app)


def analyze(app) -> None:
    """Fresh statistics for the tables just filled (PostgreSQL): without them the planner
    takes the 53,000 bills for an empty table, and the collection-rate queries take minutes
    until autovacuum has run."""
    from ruihe_saas.config import normalise_database_url

    engine = create_engine(normalise_database_url(app.config["DATABASE_OWNER_URL"]))
    try:
        if engine.dialect.name == "postgresql":
            with engine.begin() as connection:
                connection.execute(text(f"ANALYZE {', '.join(ANALYZED)}"))
    finally:
        engine.dispose()


ANALYZED = ("bills", "bill_lines", "bill_credits", "payments", "payment_allocations", "receipts")
ANALYZED += ("journal_entries", "journal_lines", "period_closes")


@pytest.fixture(autouse=True)
def definition_billing(app, monkeypatch):
    """The suite may load definitions without their billing runs: this module runs them."""
    monkeypatch.setitem(app.config, "RUIHE_DEFINITION_BILLING", True)


@pytest.fixture
def ruihe(db, demo_output):
    """The demo tenant and its estates by code (read inside its tenant context)."""
    tenant = find_tenant("ruihe")
    with tenant_context(tenant.id):
        estates = {e.code: e for e in db.session.scalars(select(Estate))}
    return tenant, estates


def joined(statement):
    """``statement`` on bill lines, joined to the line's household and its building."""
    return (
        statement.select_from(BillLine)
        .join(
            Household,
            (Household.tenant_id == BillLine.tenant_id) & (Household.id == BillLine.household_id),
        )
        .join(
            Building,
            (Building.tenant_id == Household.tenant_id) & (Building.id == Household.building_id),
        )
    )


def bills_by_period(db, estate) -> dict[str, tuple[int, int]]:
    """period → (bills, distinct households)."""
    rows = db.session.execute(
        select(Bill.period, func.count(), func.count(distinct(Bill.household_id)))
        .where(Bill.estate_id == estate.id)
        .group_by(Bill.period)
    )
    return {period: (bills, households) for period, bills, households in rows}


def line_codes(db, estate, period: str) -> set[str]:
    return set(
        db.session.scalars(
            select(BillLine.fee_item_code)
            .where(BillLine.estate_id == estate.id, BillLine.period == period)
            .distinct()
        )
    )


def test_the_load_reports_the_schedules_and_the_months_billed(demo_output):
    last = last_full_month()
    assert (
        "fee schedule MOER 模二厂全面接管收费标准 created (5 items from 2023-07-01)" in demo_output
    )
    assert "fee adjustment MOER low_income property_service percent 50.00 created" in demo_output
    months = len(periods_between(Period(2023, 7), last))
    assert f"billing MOER: {months} months billed (2023-07 … {last})" in demo_output
    assert f"billing DZYD: {months - 5} months billed (2023-12 … {last})" in demo_output


def test_both_estates_have_their_schedules_in_force(db, ruihe):
    tenant, estates = ruihe
    moer, dzyd = estates["MOER"], estates["DZYD"]
    today = date.today()
    with tenant_context(tenant.id):
        (moer_schedule,) = schedules_in_force(moer, today)
        assert moer_schedule.name == "模二厂全面接管收费标准"
        assert moer_schedule.stages == StageApplicability.FULL_TAKEOVER
        assert moer_schedule.effective_from == date(2023, 7, 1)
        items = {item.code: item for item in items_of(moer_schedule)}
        assert list(items) == ["property_service", "lift", "garbage", "parking", "ebike_charging"]
        service = items["property_service"]
        assert (service.rate, service.vacant_rate_percent) == (Decimal("0.45"), Decimal(50))
        assert items["lift"].lift_only and items["lift"].rate == Decimal("0.20")
        assert (items["garbage"].rate, items["parking"].rate) == (Decimal(8), Decimal(60))
        charging = items["ebike_charging"]
        assert charging.revenue_category == RevenueCategory.PUBLIC_REVENUE
        assert (charging.meter_kind, charging.rate, charging.unit) == (
            "ebike_charging",
            Decimal("0.80"),
            "度",
        )
        ids = [uuid.UUID(value) for value in charging.building_ids]
        names = db.session.scalars(select(Building.name).where(Building.id.in_(ids)))
        assert sorted(names) == ["1栋", "2栋"]
        (adjustment,) = db.session.scalars(select(FeeAdjustment))
        low_income = db.session.scalar(
            select(HouseholdCategory.id).where(HouseholdCategory.code == "low_income")
        )
        assert (adjustment.category_id, adjustment.fee_item_code, adjustment.value) == (
            low_income,
            "property_service",
            Decimal("50.00"),
        )

        by_name = {s.name: s for s in schedules_in_force(dzyd, today)}
        takeover = by_name["地质一大队全面接管收费标准"]
        assert (takeover.stages, takeover.effective_from) == (
            StageApplicability.FULL_TAKEOVER,
            date(2024, 12, 1),
        )
        assert [(i.code, i.rate) for i in items_of(takeover)] == [
            ("property_service", Decimal("0.40")),
            ("garbage", Decimal(8)),
            ("parking", Decimal(50)),
        ]
        (caretaking,) = schedules_in_force(dzyd, date(2024, 6, 1))
        assert caretaking.stages == StageApplicability.PARTIAL_CARETAKING
        assert [(i.code, i.rate) for i in items_of(caretaking)] == [
            ("caretaking", Decimal(15)),
            ("garbage", Decimal(8)),
        ]


def test_moer_has_one_bill_per_household_for_every_month_since_the_takeover(db, ruihe):
    tenant, estates = ruihe
    moer = estates["MOER"]
    months = [str(p) for p in periods_between(Period(2023, 7), last_full_month())]
    assert len(months) >= 40  # 2023-07 … 2026-10 at least
    with tenant_context(tenant.id):
        billed = bills_by_period(db, moer)
        assert sorted(billed) == months
        assert set(billed.values()) == {(976, 976)}
        runs = db.session.execute(
            select(BillingRun.period, BillingRun.status, BillingRun.dry_run, BillingRun.warnings)
            .where(BillingRun.estate_id == moer.id)
            .order_by(BillingRun.period)
        ).all()
        assert [r.period for r in runs] == months  # one real run a month
        assert {(r.status, r.dry_run) for r in runs} == {(RunStatus.SUCCEEDED, False)}
        assert all(r.warnings == [] for r in runs)  # no missing reading: readings generated
        codes = {"property_service", "lift", "garbage", "parking", "ebike_charging"}
        assert line_codes(db, moer, months[0]) == line_codes(db, moer, months[-1]) == codes
        lifts = db.session.execute(
            joined(select(Building.has_lift, func.count()))
            .where(BillLine.period == "2023-07", BillLine.fee_item_code == "lift")
            .group_by(Building.has_lift)
        ).all()
        assert lifts == [(True, 4 * 44)]  # the households of the four 小高层 only
        spaces = db.session.scalar(
            select(func.sum(BillLine.quantity)).where(
                BillLine.estate_id == moer.id,
                BillLine.period == months[-1],
                BillLine.fee_item_code == "parking",
            )
        )
        assert spaces == 84  # the assigned spaces


def test_geology_team_one_is_billed_by_the_caretaking_items_then_the_takeover_items(db, ruihe):
    tenant, estates = ruihe
    dzyd = estates["DZYD"]
    with tenant_context(tenant.id):
        billed = bills_by_period(db, dzyd)
        assert min(billed) == "2023-12" and max(billed) == str(last_full_month())
        assert len(billed) == len(periods_between(Period(2023, 12), last_full_month()))
        assert set(billed.values()) == {(400, 400)}
        assert line_codes(db, dzyd, "2023-12") == {"caretaking", "garbage"}
        assert line_codes(db, dzyd, "2024-11") == {"caretaking", "garbage"}
        assert line_codes(db, dzyd, "2024-12") == {"property_service", "garbage", "parking"}
        caretaking = db.session.scalars(
            select(BillLine.amount).where(
                BillLine.estate_id == dzyd.id,
                BillLine.period == "2024-11",
                BillLine.fee_item_code == "caretaking",
            )
        ).all()
        assert set(caretaking) == {Decimal("15.00")}
        # each month's garbage line comes from the item of the schedule of its stage
        schedules = {s.name: s for s in schedules_in_force(dzyd, date(2024, 12, 1))}
        for period, name in (
            ("2024-11", "地质一大队代管收费标准"),
            ("2024-12", "地质一大队全面接管收费标准"),
        ):
            garbage = [i.id for i in items_of(schedules[name]) if i.code == "garbage"]
            used = db.session.scalars(
                select(BillLine.fee_item_id)
                .where(
                    BillLine.estate_id == dzyd.id,
                    BillLine.period == period,
                    BillLine.fee_item_code == "garbage",
                )
                .distinct()
            ).all()
            assert used == garbage, period


def test_charging_readings_bill_the_ports_users_as_public_revenue(db, ruihe):
    tenant, estates = ruihe
    moer = estates["MOER"]
    months = periods_between(Period(2023, 7), last_full_month())
    with tenant_context(tenant.id):
        users = db.session.execute(
            select(Household.id, Household.occupancy)
            .join(
                Building,
                (Building.tenant_id == Household.tenant_id)
                & (Building.id == Household.building_id),
            )
            .where(Household.estate_id == moer.id, Building.name.in_(["1栋", "2栋"]))
        ).all()
        expected = {h for h, occupancy in users if occupancy != Occupancy.VACANT}
        assert 55 <= len(expected) <= 72  # about the 62 ports' users
        readings = db.session.scalars(select(MeterReading).order_by(MeterReading.period)).all()
        assert len(readings) == len(expected) * len(months)
        assert {r.household_id for r in readings} == expected
        chains: dict = {}
        for reading in readings:  # each reading continues the meter's previous one
            assert reading.previous_reading == chains.get(reading.household_id, Decimal(0))
            assert Decimal(8) <= reading.current_reading - reading.previous_reading <= 45
            chains[reading.household_id] = reading.current_reading
        lines = db.session.scalars(
            select(BillLine).where(BillLine.fee_item_code == "ebike_charging")
        ).all()
        assert len(lines) == len(readings)
        assert {line.revenue_category for line in lines} == {RevenueCategory.PUBLIC_REVENUE}
        for line in lines:
            assert line.amount == (line.quantity * Decimal("0.80")).quantize(CENT, ROUND_HALF_UP)


def test_vacant_units_pay_half_and_low_income_households_get_half_off(db, ruihe):
    tenant, estates = ruihe
    moer = estates["MOER"]
    with tenant_context(tenant.id):
        rows = db.session.execute(
            joined(select(BillLine, Household.occupancy, HouseholdCategory.code))
            .join(
                HouseholdCategory,
                (HouseholdCategory.tenant_id == Household.tenant_id)
                & (HouseholdCategory.id == Household.category_id),
            )
            .where(
                BillLine.estate_id == moer.id,
                BillLine.period == "2024-03",
                BillLine.fee_item_code == "property_service",
            )
        ).all()
    assert len(rows) == 976
    vacant = low_income = 0
    for line, occupancy, category in rows:
        rate = Decimal("0.225") if occupancy == Occupancy.VACANT else Decimal("0.45")
        vacant += occupancy == Occupancy.VACANT
        assert line.gross == (rate * line.quantity).quantize(CENT, ROUND_HALF_UP)
        if category == "low_income":
            low_income += 1
            assert line.discount == (line.gross / 2).quantize(CENT, ROUND_HALF_UP)
            assert "低保户物业服务费减半" in line.formula
        else:
            assert line.discount == 0
        assert line.amount == line.gross - line.discount
    assert vacant and low_income


MODELS = (
    FeeSchedule,
    FeeItem,
    FeeAdjustment,
    MeterReading,
    BillingRun,
    Bill,
    BillLine,
    JobRecord,
    AuditEvent,
)


def counts(db) -> dict[str, int]:
    return {
        model.__name__: db.session.scalar(select(func.count()).select_from(model))
        for model in MODELS
    }


def test_loading_the_demo_again_adds_nothing(runner, db, ruihe):
    tenant, _ = ruihe
    months = len(periods_between(Period(2023, 7), last_full_month()))
    with tenant_context(tenant.id):
        before = counts(db)
    assert before["Bill"] == 976 * months + 400 * (months - 5)
    output = load(runner, RUIHE)
    for word in ("created", "added", "recorded", "updated", "billed", "generated"):
        assert word not in output, output
    assert f"billing MOER: 2023-07 … {last_full_month()} kept" in output
    with tenant_context(tenant.id):
        assert counts(db) == before


# --- the sections on a small definition ----------------------------------------------------

SMALL = """slug = "xinyuan"
name = "新苑"
[[estates]]
code = "A"
name = "甲小区"
[estates.households]
seed = 7
occupancy = { occupied = 3, vacant = 1 }
categories = { ordinary = 3, low_income = 1 }
[[estates.buildings]]
count = 2
floors = 6
area = [60, 80]
[estates.parking]
count = 4
assigned = 3
[[estates.history]]
to_stage = "partial_caretaking"
effective_date = 2024-01-01
[estates.history.agreement]
counterparty = "甲单位"
services = ["cleaning"]
term_months = 12
[[fee_schedules]]
estate = "A"
name = "甲小区收费标准"
effective_from = 2024-01-01
[[fee_schedules.items]]
code = "property_service"
name = "物业服务费"
charge_kind = "per_area"
rate = 0.5
vacant_rate_percent = 50
[[fee_schedules.items]]
code = "water"
name = "水费"
charge_kind = "metered"
meter_kind = "water"
unit = "吨"
rate = 3.5
buildings = ["1栋"]
occupancies = ["occupied"]
[[fee_schedules.adjustments]]
category = "low_income"
fee_item_code = "property_service"
kind = "percent"
value = 50
reason = "低保"
valid_from = 2024-01-01
[[billing]]
estate = "A"
until = "2024-03"
[[billing.readings]]
meter_kind = "water"
usage = [2, 9]
"""


def write(tmp_path: Path, body: str) -> Path:
    (tmp_path / "tenant.toml").write_text(body, encoding="utf-8")
    return tmp_path


def small_state(db, slug: str = "xinyuan") -> dict:
    tenant = find_tenant(slug)
    with tenant_context(tenant.id):
        runs = db.session.execute(
            select(BillingRun.period, BillingRun.status).order_by(BillingRun.period)
        ).all()
        bills = db.session.execute(select(Bill.period, Bill.id, Bill.amount)).all()
        readings = db.session.execute(
            select(
                Building.name,
                Household.room,
                MeterReading.period,
                MeterReading.previous_reading,
                MeterReading.current_reading,
            )
            .select_from(MeterReading)
            .join(
                Household,
                (Household.tenant_id == MeterReading.tenant_id)
                & (Household.id == MeterReading.household_id),
            )
            .join(
                Building,
                (Building.tenant_id == Household.tenant_id)
                & (Building.id == Household.building_id),
            )
            .order_by(Building.name, Household.room, MeterReading.period)
        ).all()
        water = db.session.execute(
            select(BillLine.household_id, BillLine.period).where(BillLine.fee_item_code == "water")
        ).all()
        warnings = db.session.scalars(select(BillingRun.warnings)).all()
    return {
        "runs": runs,
        "bills": bills,
        "readings": readings,
        "water": water,
        "warnings": warnings,
    }


def test_a_definition_bills_its_months_once_and_later_only_the_new_ones(runner, db, tmp_path):
    output = load(runner, write(tmp_path, SMALL))
    assert "billing A: 3 months billed (2024-01 … 2024-03), 72 bills" in output
    state = small_state(db)
    assert [(p, s) for p, s in state["runs"]] == [
        ("2024-01", RunStatus.SUCCEEDED),
        ("2024-02", RunStatus.SUCCEEDED),
        ("2024-03", RunStatus.SUCCEEDED),
    ]
    assert len(state["bills"]) == 3 * 24
    # water: the occupied households of 1栋 have a reading each month, and a line for it
    readings = state["readings"]
    assert readings and {building for building, *_ in readings} == {"1栋"}
    assert len(state["water"]) == len(readings) and state["warnings"] == [[], [], []]
    for earlier, later in zip(readings, readings[1:], strict=False):
        if earlier[:2] == later[:2]:  # the same meter: the chain continues
            assert later.previous_reading == earlier.current_reading

    output = load(runner, write(tmp_path, SMALL.replace('until = "2024-03"', 'until = "2024-05"')))
    assert "billing A: 2 months billed (2024-04 … 2024-05), 48 bills" in output
    after = small_state(db)
    assert [p for p, _ in after["runs"]] == ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05"]
    assert set(state["bills"]) <= set(after["bills"]) and len(after["bills"]) == 5 * 24
    assert set(state["readings"]) <= set(after["readings"])

    again = load(runner, write(tmp_path, SMALL.replace('until = "2024-03"', 'until = "2024-05"')))
    assert (
        "billing A: 2024-01 … 2024-05 kept" in again
        and "fee schedule A 甲小区收费标准 kept" in again
    )
    assert small_state(db) == after


def test_generated_readings_are_the_same_on_every_load(runner, db, tmp_path):
    load(runner, write(tmp_path, SMALL))
    other = SMALL.replace('slug = "xinyuan"', 'slug = "xinyuan-b"')
    load(runner, write(tmp_path, other))
    first, second = small_state(db)["readings"], small_state(db, "xinyuan-b")["readings"]
    assert first and first == second


def test_with_definition_billing_off_the_runs_are_left_out(runner, db, tmp_path, app, monkeypatch):
    monkeypatch.setitem(app.config, "RUIHE_DEFINITION_BILLING", False)
    output = load(runner, write(tmp_path, SMALL))
    assert "billing A: RUIHE_DEFINITION_BILLING is off" in output
    assert "fee schedule A 甲小区收费标准 created" in output
    state = small_state(db)
    assert (state["runs"], state["bills"], state["readings"]) == ([], [], [])


def _item(text: str) -> str:
    """``text`` added to the first fee item of ``SMALL``."""
    return SMALL.replace("rate = 0.5\n", f"rate = 0.5\n{text}\n")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            SMALL.replace('name = "甲小区收费标准"', 'name = "甲"\ncolour = 1'),
            "unknown keys colour",
        ),
        (SMALL.replace('estate = "A"\nname', 'estate = "Z"\nname'), "estate must be the code"),
        (_item('buildings = ["9栋"]'), "items[1]: unknown buildings 9栋"),
        (_item("pasword = 1"), "items[1]: unknown keys pasword"),
        (SMALL.replace('"per_area"', '"shared_meter"'), "charge_kind must be one of"),
        (SMALL.replace("rate = 0.5", "rate = -1"), "A 甲小区收费标准: * items.0.rate: "),
        (_item('categories = ["nobody"]'), "items.0.category_ids: "),
        (SMALL.replace('category = "low_income"', 'category = "nobody"'), "adjustments[1]"),
        (SMALL.replace("value = 50", "value = true"), "adjustments[1]: * value: "),
        (SMALL.replace("value = 50", "value = [50]"), "adjustments[1]: * value: "),
        (SMALL.replace("value = 50", "value = 150"), "adjustments[1]: * value: "),
        (SMALL.replace('reason = "低保"\n', ""), "adjustments[1]: * reason: "),
        (SMALL.replace('until = "2024-03"', 'until = "2099-01"'), "until must be"),
        (SMALL.replace('until = "2024-03"', 'until = "2024-13"'), "until: "),
        (SMALL.replace('until = "2024-03"', 'since = "2024-01"'), "unknown keys since"),
        (SMALL.replace("usage = [2, 9]", "usage = [9, 2]"), "usage must be"),
        (SMALL.replace('meter_kind = "water"\nusage', 'meter_kind = "beer"\nusage'), "meter_kind"),
        (SMALL + '[[billing]]\nestate = "A"\n', "two entries name the same estate"),
    ],
)
def test_bad_fee_and_billing_entries_are_refused_and_change_nothing(
    runner, db, tmp_path, body, message
):
    result = runner.invoke(args=["tenants", "load", str(write(tmp_path, body))])
    assert result.exit_code != 0
    assert all(part in result.output for part in message.split(" * ")), result.output
    assert find_tenant("xinyuan") is None


def test_the_collection_rate_page_opens_on_the_latest_billed_month_with_the_target(
    client, db, ruihe
):
    """Mo'er aims at 90 % (the article); the page shows the last billed month by default."""
    tenant, estates = ruihe
    moer = estates["MOER"]
    assert moer.collection_target_percent == Decimal("90.00")
    with tenant_context(tenant.id):
        latest = db.session.scalar(select(func.max(Bill.period)).where(Bill.estate_id == moer.id))
    login(client, "owner@ruihe.demo", "ruihe-owner-2024")
    page = client.get(f"/t/ruihe/arrears/estates/{moer.id}/collection-rate")
    assert page.status_code == 200
    assert latest in page.get_data(as_text=True) and "90.00" in page.get_data(as_text=True)


# --- the payment history ([[payments]]) --------------------------------------------------

SHANGHAI = ZoneInfo("Asia/Shanghai")


def today() -> date:
    return datetime.now(SHANGHAI).date()


def entries() -> dict[str, dict]:
    """The ``[[payments]]`` entries of the demo files, by estate."""
    return {entry["estate"]: entry for entry in read_definition(RUIHE)["payments"]}


def rates(estate) -> dict[str, float]:
    """The estate's collection rate (收缴率) per month billed, as of now."""
    table = collection_table("2023-07", str(last_full_month()), estate=estate)
    (row,) = table.estates
    return {cell.period: cell.rate for cell in row.cells if cell.billed > 0}


def test_the_load_reports_the_payments_of_each_estate(demo_output):
    for code in ("MOER", "DZYD"):
        assert f"payments {code}: " in demo_output
        line = next(line for line in demo_output.splitlines() if f"payments {code}: " in line)
        assert "payments recorded with receipts" in line and "cashier@ruihe.demo" in line


def test_moer_collects_above_its_target_every_month_since_the_takeover(db, ruihe):
    tenant, estates = ruihe
    moer = estates["MOER"]
    with tenant_context(tenant.id):
        by_month = rates(moer)
    months = [str(p) for p in periods_between(Period(2023, 7), last_full_month())]
    assert sorted(by_month) == months
    low = {month: rate for month, rate in by_month.items() if rate < 90}
    assert not low, low
    assert max(by_month.values()) < 100  # some households do not pay


def test_geology_team_one_collects_less_in_the_caretaking_than_after_the_takeover(db, ruihe):
    tenant, estates = ruihe
    dzyd = estates["DZYD"]
    with tenant_context(tenant.id):
        by_month = rates(dzyd)
    assert min(by_month) == "2023-12"
    caretaking = [rate for month, rate in by_month.items() if month < "2024-12"]
    settled = [rate for month, rate in by_month.items() if month >= "2025-03"]
    assert len(caretaking) == 12 and settled
    assert max(caretaking) < min(settled), (caretaking, settled)
    assert max(caretaking) < 85 and min(settled) > 85


def test_households_are_in_arrears_in_every_aging_bucket_the_bills_allow(db, ruihe):
    tenant, estates = ruihe
    day = today()
    with tenant_context(tenant.id):
        for estate in estates.values():
            due_dates = db.session.scalars(
                select(Bill.due_date).where(Bill.estate_id == estate.id).distinct()
            )
            allowed = {bucket_for_days((day - due).days) for due in due_dates} - {None}
            aging = estate_aging(estate).summary
            assert {"d31_90", "d91_180", "d181_365", "over_365"} <= allowed  # the history
            for key in BUCKET_KEYS:
                households = aging.buckets[key].households
                assert (households > 0) == (key in allowed), (estate.code, key, households)
        # Mo'er: arrears gather in some households (chronic debtors, irregular payers)
        moer = estate_aging(estates["MOER"]).summary
        assert 0 < moer.buckets["over_365"].households <= moer.total.households < 0.15 * 976


def test_every_configured_method_is_used_and_the_cashier_took_every_payment(db, ruihe):
    tenant, estates = ruihe
    cashier = db.session.scalar(select(User.id).where(User.email == "cashier@ruihe.demo"))
    with tenant_context(tenant.id):
        for code, entry in entries().items():
            used = db.session.execute(
                select(Payment.method, func.count())
                .where(Payment.estate_id == estates[code].id)
                .group_by(Payment.method)
            ).all()
            counts = {method.value: count for method, count in used}
            assert set(counts) == set(entry["methods"]), code
            # the weights show: the most weighted method is the most used
            top = max(entry["methods"], key=entry["methods"].get)
            assert max(counts, key=counts.get) == top
        takers = db.session.scalars(select(Payment.received_by).distinct()).all()
        assert takers == [cashier]
        mismatched = [
            p
            for p in db.session.scalars(select(Payment))
            if p.business_date != p.paid_at.astimezone(SHANGHAI).date()
        ]
        assert not mismatched
        # every payment is allocated or held as prepaid credit, never more than it is
        allocated = db.session.scalar(select(func.sum(PaymentAllocation.amount)))
        paid, credit = db.session.execute(
            select(func.sum(Payment.amount), func.sum(Payment.unallocated))
        ).one()
        assert money(allocated) + money(credit) == money(paid)  # SQLite sums as REAL


def test_receipts_are_numbered_per_year_without_gaps(db, ruihe):
    tenant, _ = ruihe
    with tenant_context(tenant.id):
        rows = db.session.execute(
            select(Payment.paid_at, Receipt.number).join(
                Receipt,
                (Receipt.tenant_id == Payment.tenant_id) & (Receipt.payment_id == Payment.id),
            )
        ).all()
        payments = db.session.scalar(select(func.count()).select_from(Payment))
    assert len(rows) == payments
    by_year: dict[int, list[int]] = defaultdict(list)
    for paid_at, number in rows:
        prefix, year, serial = number.split("-")
        assert prefix == "RH" and len(serial) == 6
        assert int(year) == paid_at.astimezone(SHANGHAI).year
        by_year[int(year)].append(int(serial))
    assert min(by_year) == 2023 and max(by_year) >= 2025
    for year, serials in by_year.items():
        assert sorted(serials) == list(range(1, len(serials) + 1)), year
    # numbered in the order paid (the load records the history oldest first)
    ordered = sorted(rows)
    assert [number for _, number in ordered] == sorted(number for _, number in rows)


def test_loading_the_demo_again_records_nothing(runner, db, ruihe):
    tenant, _ = ruihe
    models = (Payment, PaymentAllocation, Receipt, Bill, JournalEntry, JournalLine, PeriodClose)
    with tenant_context(tenant.id):
        before = {
            m.__name__: db.session.scalar(select(func.count()).select_from(m)) for m in models
        }
    output = load(runner, RUIHE)
    assert "payments MOER: kept" in output and "payments DZYD: kept" in output
    assert "ledger MOER: kept" in output and "ledger COLLECTIVE: kept" in output
    assert "recorded" not in output and "closed" not in output
    with tenant_context(tenant.id):
        after = {m.__name__: db.session.scalar(select(func.count()).select_from(m)) for m in models}
    assert after == before


# --- the books ([[ledger]]) ------------------------------------------------------------------

FIRST_MONTH = {"MOER": "2023-07", "DZYD": "2023-12", None: "2023-07"}


def test_the_load_reports_the_books_of_each_entity(demo_output):
    lines = {
        name: next(line for line in demo_output.splitlines() if f"ledger {name}: " in line)
        for name in ("MOER", "DZYD", "COLLECTIVE")
    }
    for name, first in (("MOER", "2023-07"), ("DZYD", "2023-12"), ("COLLECTIVE", "2023-07")):
        months = len(periods_between(Period.parse(first), last_full_month()))
        assert f"{months} months closed" in lines[name], lines[name]
    moer = len(periods_between(Period(2023, 7), last_full_month()))
    assert f"ledger MOER: {6 * moer} expenses entries, {moer} income entries, " in lines["MOER"]
    assert f"{len(moer_projects())} projects" in lines["MOER"]
    assert "improvement fund" in lines["MOER"] and "improvement fund" in lines["DZYD"]


def test_every_ended_month_is_closed_for_each_entity(db, ruihe):
    tenant, estates = ruihe
    with tenant_context(tenant.id):
        closes = db.session.execute(select(PeriodClose.estate_id, PeriodClose.period)).all()
    by_entity: dict = defaultdict(set)
    for estate_id, period in closes:
        by_entity[estate_id].add(period)
    for code, estate_id in (("MOER", estates["MOER"].id), ("DZYD", estates["DZYD"].id)):
        months = periods_between(Period.parse(FIRST_MONTH[code]), last_full_month())
        assert by_entity[estate_id] == {str(p) for p in months}, code
    collective = periods_between(Period.parse(FIRST_MONTH[None]), last_full_month())
    assert by_entity[None] == {str(p) for p in collective}


def test_the_ledger_agrees_with_the_bills_and_payments(db, ruihe):
    tenant, _ = ruihe
    with tenant_context(tenant.id):
        assert run_checks() == []


def test_moer_reinvests_its_surplus_and_pays_the_reports_projects_from_it(db, ruihe):
    tenant, estates = ruihe
    moer = estates["MOER"]
    start, end = date(2023, 7, 1), Period.of(today()).previous().end
    with tenant_context(tenant.id):
        closes = db.session.scalars(
            select(PeriodClose).where(PeriodClose.estate_id == moer.id)
        ).all()
        assert all(close.surplus > 0 for close in closes)  # a surplus every month
        moved = Decimal(0)
        for close in closes:
            result = closing.period_result(moer.id, close.period)
            share = closing.allocate(moer, result)
            assert share.remuneration == (result.service_income / 10).quantize(CENT)
            assert share.to_collective == 0  # 100 % of the rest to the fund
            moved += share.to_fund
        fund = improvement_fund(moer.id, start, end)
        assert fund.total_in == moved
        projects = {move.memo for move in fund.movements if move.amount_out > 0}
        for words in ("中水回用", "62 个集中充电端口", "128 樘电梯门套", "绿化", "凉亭 2 座"):
            assert any(words in memo for memo in projects), words
        assert fund.total_out == sum(
            (Decimal(str(p["amount"])) for p in moer_projects()), Decimal(0)
        )
        assert fund.closing == fund.total_in - fund.total_out > 0


def moer_projects() -> list[dict]:
    (books,) = [b for b in read_definition(RUIHE)["ledger"] if b.get("estate") == "MOER"]
    return [p for p in books["projects"] if p["month"] <= str(last_full_month())]


def test_geology_team_ones_income_grows_after_the_full_takeover(db, ruihe):
    tenant, estates = ruihe
    dzyd = estates["DZYD"]
    with tenant_context(tenant.id):
        caretaking = closing.period_result(dzyd.id, "2024-06").service_income
        takeover = closing.period_result(dzyd.id, "2025-06").service_income
        statement = income_statement(date(2024, 6, 1), date(2024, 6, 30), ALL)
        by_role = {line.account.role: line for line in statement.income}
        assert by_role["caretaking_income"].by_entity[dzyd.id] == caretaking
    assert takeover > Decimal("1.5") * caretaking


def test_the_consolidated_statement_eliminates_the_remuneration_moved_at_each_close(db, ruihe):
    tenant, estates = ruihe
    year = date(2025, 1, 1), date(2025, 12, 31)
    with tenant_context(tenant.id):
        statement = income_statement(*year, ALL)
        entities = set(statement.entities)
        assert entities == {estates["MOER"].id, estates["DZYD"].id, None}
        # closing entries move surplus between equity accounts, never income or expenses
        closes = db.session.scalar(
            select(func.count())
            .select_from(JournalEntry)
            .where(JournalEntry.source == EntrySource.CLOSE, JournalEntry.pair_id.is_not(None))
        )
        assert closes > 0
        own = sum(
            (income_statement(*year, entity).net_income(entity) for entity in entities),
            Decimal(0),
        )
        assert statement.net_income() == own - statement.eliminations
        assert statement.total_income() > 0 and statement.net_income() > 0
