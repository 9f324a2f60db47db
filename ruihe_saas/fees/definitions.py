"""The ``[[fee_schedules]]`` and ``[[billing]]`` sections of a tenant definition.

- ``fee_schedules`` (order 20, after estates and their handover history): an estate's fee
  schedule with its items and adjustments, checked by the fee service's own rules
  (``clean_schedule``, ``create_adjustment``). A schedule the estate already has (same name,
  any version) and an adjustment it already has (same category, item, kind, value and start)
  are left as they are: rates are changed in the app, as a new version.
- ``billing`` (order 30, the last section): billing runs of an estate for every month from
  ``from`` to ``until`` (default: the last full month, Asia/Shanghai), each started with
  ``runs.start_billing_run`` and executed at once through the job runner, like a worker
  would. A month with a succeeded run is skipped, so a reload bills only new months. Before
  each month the loader generates the meter readings its metered items need (``readings``),
  with a fixed seed, for the households those items apply to.

Every entry of both sections is checked before the first run starts. A run commits per chunk
(``billing.engine``), so once billing starts the load is no longer one transaction: a failed
run is left ``failed`` with its error, the load stops, and loading again resumes. With the
app setting ``RUIHE_DEFINITION_BILLING = False`` the entries are checked but nothing is run
(tests of the rest of a definition).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from ruihe_saas.billing import runs
from ruihe_saas.billing.models import BillingRun, RunStatus
from ruihe_saas.billing.periods import Period, PeriodError, periods_between
from ruihe_saas.billing.plans import build_plan
from ruihe_saas.billing.proration import occupancy_weight
from ruihe_saas.errors import DomainError, ValidationFailed
from ruihe_saas.estates.models import Building, Estate, Household
from ruihe_saas.estates.services import find_estate_by_code
from ruihe_saas.extensions import db
from ruihe_saas.fees.adjustments import create_adjustment
from ruihe_saas.fees.models import ChargeKind, FeeAdjustment, FeeSchedule, MeterKind, MeterReading
from ruihe_saas.fees.services import create_schedule
from ruihe_saas.fees.validation import Errors, clean_schedule, local_today, resolve_categories
from ruihe_saas.handover.services import stage_timeline
from ruihe_saas.jobs import PENDING_KEY, runner
from ruihe_saas.plans import GrowingTables
from ruihe_saas.tenancy.definitions import LoadReport, section

SCHEDULE_KEYS = {"estate", "name", "stages", "effective_from", "effective_to", "notes"}
SCHEDULE_KEYS |= {"prepay_months", "prepay_discount_percent", "prepay_free_months"}
SCHEDULE_KEYS |= {"late_fee_enabled", "late_fee_daily_rate", "late_fee_grace_days"}
SCHEDULE_KEYS |= {"late_fee_cap_percent", "items", "adjustments"}
ITEM_KEYS = {"code", "name", "revenue_category", "frequency", "due_day", "due_days"}
ITEM_KEYS |= {"charge_kind", "rate", "fixed_part", "unit", "meter_kind", "lift_only"}
ITEM_KEYS |= {"min_floor", "occupancies", "vacant_rate_percent", "buildings", "categories"}
FILE_KINDS = {ChargeKind.PER_AREA, ChargeKind.FIXED, ChargeKind.PER_PARKING_SPACE}
FILE_KINDS |= {ChargeKind.METERED}
ADJUSTMENT_KEYS = {"category", "fee_item_code", "kind", "value", "reason"}
ADJUSTMENT_KEYS |= {"valid_from", "valid_to"}
BILLING_KEYS = {"estate", "from", "until", "readings"}
READING_KEYS = {"meter_kind", "usage", "seed"}
LAST_FULL_MONTH = "last_full_month"
CENT = Decimal("0.01")


def fail(where: str, message) -> ValidationFailed:
    return ValidationFailed(f"{where}: {message}")


def check_keys(entry, allowed: set[str], where: str) -> dict:
    if not isinstance(entry, dict):
        raise fail(where, "must be a table.")
    unknown = set(entry) - allowed
    if unknown:
        raise fail(where, f"unknown keys {', '.join(sorted(unknown))}.")
    return entry


def as_tables(value, where: str) -> list:
    if not isinstance(value, list):
        raise fail(where, "must be a list of tables.")
    return value


def estate_named(code, where: str) -> Estate:
    estate = find_estate_by_code(code) if isinstance(code, str) else None
    if estate is None:
        raise fail(where, f"estate must be the code of an estate of the tenant, not {code!r}.")
    return estate


def refused(where: str, error: ValidationFailed) -> ValidationFailed:
    """The service's refusal, saying where in the file it happened."""
    fields = {key: [str(m) for m in messages] for key, messages in error.fields.items()}
    return ValidationFailed(f"{where}: {error.message}", fields=fields)


# --- fee schedules -------------------------------------------------------------------------


@section("fee_schedules", order=20)  # after estates (5, with their history) and users (10)
def load_fee_schedules(entries, report: LoadReport, base: Path, *, demo: bool) -> None:
    for index, entry in enumerate(as_tables(entries, "fee_schedules"), start=1):
        where = f"fee_schedules[{index}]"
        check_keys(entry, SCHEDULE_KEYS, where)
        estate = estate_named(entry.get("estate"), where)
        where = f"fee_schedules: {estate.code} {entry.get('name', index)}"
        data = {key: value for key, value in entry.items() if key in SCHEDULE_KEYS}
        data.pop("adjustments", None)
        data["items"] = [
            file_item(estate, item, f"{where}: items[{number}]")
            for number, item in enumerate(as_tables(entry.get("items", []), where), start=1)
        ]
        try:
            fields, _items = clean_schedule(estate, data)  # checked even when kept
            existing = db.session.scalar(
                select(FeeSchedule.id)
                .where(FeeSchedule.estate_id == estate.id, FeeSchedule.name == fields["name"])
                .limit(1)
            )
            if existing is None:
                create_schedule(estate, data)
                report.lines.append(
                    f"fee schedule {estate.code} {fields['name']} created "
                    f"({len(data['items'])} items from {fields['effective_from']})"
                )
            else:
                report.lines.append(f"fee schedule {estate.code} {fields['name']} kept")
        except ValidationFailed as error:
            raise refused(where, error) from None
        for number, adjustment in enumerate(
            as_tables(entry.get("adjustments", []), where), start=1
        ):
            sync_adjustment(estate, adjustment, f"{where}: adjustments[{number}]", report)
    db.session.flush()


def file_item(estate: Estate, raw, where: str) -> dict:
    """An item as the fee service takes it: building names → ids, category codes kept."""
    item = dict(check_keys(raw, ITEM_KEYS, where))
    if item.get("charge_kind") not in FILE_KINDS:
        kinds = ", ".join(sorted(kind.value for kind in FILE_KINDS))
        raise fail(where, f"charge_kind must be one of {kinds} (add the others in the app).")
    names = item.pop("buildings", None)
    if names is not None:
        if not isinstance(names, list) or not names:
            raise fail(where, "buildings must list building names.")
        known = dict(
            db.session.execute(
                select(Building.name, Building.id).where(Building.estate_id == estate.id)
            ).all()
        )
        unknown = [str(name) for name in names if name not in known]
        if unknown:
            raise fail(where, f"unknown buildings {', '.join(unknown)}.")
        item["building_ids"] = [known[name] for name in names]
    if "categories" in item:
        item["category_ids"] = item.pop("categories")
    return item


def sync_adjustment(estate: Estate, raw, where: str, report: LoadReport) -> None:
    """A category's discount, created unless the estate has the same one already."""
    data = dict(check_keys(raw, ADJUSTMENT_KEYS, where))
    if not isinstance(data.get("category"), str):
        raise fail(where, "category must be a household category code (e.g. low_income).")
    found = resolve_categories([data["category"]], "category", Errors())
    value = data.get("value")
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if found and number and isinstance(data.get("valid_from"), date):
        value = Decimal(str(value))
        same = db.session.scalars(
            select(FeeAdjustment).where(
                FeeAdjustment.estate_id == estate.id,
                FeeAdjustment.category_id == uuid.UUID(found[0]),
                FeeAdjustment.fee_item_code == data.get("fee_item_code"),
                FeeAdjustment.valid_from == data["valid_from"],
            )
        ).all()
        if any(row.kind == data.get("kind") and row.value == value for row in same):
            return
    try:
        adjustment = create_adjustment(estate, data)
    except ValidationFailed as error:
        raise refused(where, error) from None
    item = adjustment.fee_item_code or "every item"
    report.lines.append(
        f"fee adjustment {estate.code} {data['category']} {item} "
        f"{adjustment.kind.value} {adjustment.value} created"
    )


# --- billing runs --------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadingSpec:
    """Generated readings of one meter kind: each month's usage drawn from ``low…high``."""

    meter_kind: MeterKind
    low_fen: int  # usage × 100
    high_fen: int
    seed: str

    def usage(self, estate: Estate, dwelling: Dwelling, period: str) -> Decimal:
        key = f"{estate.code}:{self.seed}:{dwelling.building}:{dwelling.unit}:{dwelling.room}"
        rng = random.Random(f"{key}:{period}")  # noqa: S311  (demo data, not secrets)
        return Decimal(rng.randint(self.low_fen, self.high_fen)) / 100


@dataclass
class BillingPlan:
    estate: Estate
    first: Period
    last: Period
    readings: list[ReadingSpec]


@section("billing", order=30)  # last: its runs commit, so every other section is checked first
def load_billing(entries, report: LoadReport, base: Path, *, demo: bool) -> None:
    plans = [
        billing_plan(entry, f"billing[{index}]")
        for index, entry in enumerate(as_tables(entries, "billing"), start=1)
    ]
    codes = [plan.estate.code for plan in plans]
    if len(set(codes)) != len(codes):
        raise ValidationFailed("billing: two entries name the same estate.")
    if not current_app.config.get("RUIHE_DEFINITION_BILLING", True):
        for plan in plans:  # checked, not run (tests of the rest of a definition)
            report.lines.append(f"billing {plan.estate.code}: RUIHE_DEFINITION_BILLING is off")
        return
    growing = GrowingTables()
    for plan in plans:
        bill_months(plan, report, growing)


def last_full_month() -> Period:
    """The month before today's, where the tenant works (Asia/Shanghai)."""
    return Period.of(local_today()).previous()


def _period(value, key: str, where: str) -> Period:
    try:
        return Period.parse(value)
    except PeriodError as error:
        raise fail(where, f"{key}: {error}") from None


def billing_plan(entry, where: str) -> BillingPlan:
    check_keys(entry, BILLING_KEYS, where)
    estate = estate_named(entry.get("estate"), where)
    where = f"billing: {estate.code}"
    latest = last_full_month()
    if "from" in entry:
        first = _period(entry["from"], "from", where)
    else:
        timeline = stage_timeline(estate)
        if not timeline:
            raise fail(where, 'the estate has no handover history: give from = "YYYY-MM".')
        first = Period.of(timeline[0][0])
    until = entry.get("until", LAST_FULL_MONTH)
    last = latest if until == LAST_FULL_MONTH else _period(until, "until", where)
    if last > latest:
        raise fail(where, f"until must be {latest} (the last full month) or earlier.")
    readings = [
        reading_spec(spec, f"{where}: readings[{number}]")
        for number, spec in enumerate(as_tables(entry.get("readings", []), where), start=1)
    ]
    return BillingPlan(estate, first, last, readings)


def reading_spec(entry, where: str) -> ReadingSpec:
    check_keys(entry, READING_KEYS, where)
    try:
        kind = MeterKind(entry.get("meter_kind"))
    except ValueError:
        kinds = ", ".join(kind.value for kind in MeterKind)
        raise fail(where, f"meter_kind must be one of {kinds}.") from None
    usage = entry.get("usage")
    numbers = usage if isinstance(usage, list) and len(usage) == 2 else []
    if not all(isinstance(n, int | float) and not isinstance(n, bool) for n in numbers) or not (
        numbers and 0 <= numbers[0] <= numbers[1] <= 1_000_000
    ):
        raise fail(where, "usage must be [least, most] per household and month (≥ 0).")
    low, high = (int(Decimal(str(n)).quantize(CENT) * 100) for n in numbers)
    seed = entry.get("seed", "readings")
    if not isinstance(seed, str | int) or isinstance(seed, bool):
        raise fail(where, "seed must be text or a number.")
    return ReadingSpec(kind, low, high, str(seed))


def bill_months(
    plan: BillingPlan, report: LoadReport, growing: GrowingTables | None = None
) -> None:
    """Run every month of the plan that has no succeeded run yet, oldest first."""
    estate = plan.estate
    where = f"billing: {estate.code}"
    billed = set(
        db.session.scalars(
            select(BillingRun.period).where(
                BillingRun.estate_id == estate.id,
                BillingRun.dry_run.is_(False),
                BillingRun.status == RunStatus.SUCCEEDED,
            )
        )
    )
    months = [p for p in periods_between(plan.first, plan.last) if str(p) not in billed]
    if not months:
        report.lines.append(f"billing {estate.code}: {plan.first} … {plan.last} kept")
        return
    readings = DemoReadings(estate, plan.readings)
    bills, amount, generated = 0, Decimal("0.00"), 0
    for period in months:
        generated += readings.prepare(period)
        try:
            run = runs.start_billing_run(estate.id, str(period), dry_run=False)
        except DomainError as error:  # e.g. 409: a run of that month is still running
            raise type(error)(f"{where}: {period}: {error.message}", fields=error.fields) from None
        run = execute(run, where)
        if growing is not None:
            growing.step()
        bills += run.bills_created
        amount += run.total_amount
    line = f"billing {estate.code}: {len(months)} months billed ({months[0]} … {months[-1]})"
    line += f", {bills} bills, {amount} 元"
    if generated:
        line += f", {generated} meter readings generated"
    report.lines.append(line)


def execute(run: BillingRun, where: str) -> BillingRun:
    """Run the run's job now, through the job runner (as a worker would), not after the
    load's commit: the next month's run and readings follow it."""
    run_id, tenant_id, job_id = run.id, run.tenant_id, run.job_id
    pending = db.session.info.get(PENDING_KEY, [])
    db.session.info[PENDING_KEY] = [job for job in pending if job[0] != job_id]
    runner.execute(str(job_id), str(tenant_id), inline=True)
    run = db.session.get(BillingRun, (tenant_id, run_id))
    if run.status != RunStatus.SUCCEEDED:
        raise fail(where, f"the billing run of {run.period} failed: {run.error}")
    return run


@dataclass(frozen=True, slots=True)
class Dwelling:
    """What the item filters look at, and the household's stable name (for the seed)."""

    id: uuid.UUID
    building_id: uuid.UUID
    building: str
    has_lift: bool
    unit: str
    room: str
    floor: int | None
    category_id: uuid.UUID | None
    occupancy: object


class DemoReadings:
    """Generated readings for the households a metered item applies to, month by month:
    each continues the meter's latest earlier reading. A month the meter already has, or a
    meter with a later reading, is left alone (what was entered in the app stays)."""

    def __init__(self, estate: Estate, specs: list[ReadingSpec]) -> None:
        self.estate, self.specs = estate, specs
        self.dwellings: list[Dwelling] = []
        self.history: dict[tuple, dict[str, Decimal]] = {}
        if not specs:
            return
        rows = db.session.execute(
            select(
                Household.id,
                Household.building_id,
                Building.name,
                Building.has_lift,
                Household.unit,
                Household.room,
                Household.floor,
                Household.category_id,
                Household.occupancy,
            )
            .join(
                Building,
                (Building.tenant_id == Household.tenant_id)
                & (Building.id == Household.building_id),
            )
            .where(Household.estate_id == estate.id)
            .order_by(Building.position, Household.unit, Household.room)
        )
        self.dwellings = [Dwelling(*row) for row in rows]
        for household_id, kind, period, current in db.session.execute(
            select(
                MeterReading.household_id,
                MeterReading.meter_kind,
                MeterReading.period,
                MeterReading.current_reading,
            ).where(
                MeterReading.estate_id == estate.id,
                MeterReading.meter_kind.in_([spec.meter_kind for spec in specs]),
            )
        ):
            self.history.setdefault((household_id, MeterKind(kind)), {})[period] = current

    def prepare(self, period: Period) -> int:
        """Add the month's missing readings; how many."""
        if not self.specs:
            return 0
        metered = [
            plan
            for plan in build_plan(self.estate, period).items
            if plan.charge_kind == ChargeKind.METERED
        ]
        month, added = str(period), 0
        for spec in self.specs:
            plans = [plan for plan in metered if plan.meter_kind == spec.meter_kind]
            for dwelling in self.dwellings:
                if not any(_applies(plan, dwelling) for plan in plans):
                    continue
                readings = self.history.setdefault((dwelling.id, spec.meter_kind), {})
                latest = max(readings, default=None)
                if latest is not None and latest >= month:
                    continue
                previous = readings[latest] if latest else Decimal("0.00")
                current = previous + spec.usage(self.estate, dwelling, month)
                db.session.add(
                    MeterReading(
                        estate_id=self.estate.id,
                        household_id=dwelling.id,
                        meter_kind=spec.meter_kind,
                        period=month,
                        previous_reading=previous,
                        current_reading=current,
                        read_on=period.end,
                    )
                )
                readings[month] = current
                added += 1
        db.session.flush()
        return added


def _applies(plan, dwelling: Dwelling) -> bool:
    return plan.applies_to(
        dwelling.building_id, dwelling.has_lift, dwelling.floor, dwelling.category_id
    ) and bool(occupancy_weight(dwelling.occupancy, plan.occupancies, plan.vacant_weight))
