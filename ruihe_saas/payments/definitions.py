"""The ``[[payments]]`` section of a tenant definition: a generated payment history (demo data).

An entry describes how an estate's households pay, not the payments themselves:

- ``estate``: the estate's code; ``cashier``: the e-mail of a member of the tenant who takes
  desk payments (a role with ``take_payments``, the estate in their scope). The payments are
  recorded as that user (``received_by``), and so are their receipts.
- ``methods``: the desk methods and their weights, e.g. ``{wechat_qr = 45, cash = 15}``.
- ``habit``: the share of households paying ``monthly``, ``quarterly`` (a calendar quarter in
  advance) or ``yearly`` (a calendar year in advance), as weights. A household keeps its habit.
  A quarter or year is cut where the estate's stage changes (caretaking → takeover); months
  of it not billed yet are paid in advance (prepaid credit that later billing runs apply).
- ``payer_rate``: the share (0–1) of households paying each month's (quarter's, year's) bills,
  one number or one per handover stage (``{partial_caretaking = 0.75, full_takeover = 0.93}``,
  the stage in force at the end of the block's first month). The others leave them unpaid.
  From 0.5 on, 2 × rate − 1 of the households pay every block and the others about every
  other one (``split_rate``), so arrears gather in a few households.
- ``late``: the share (0–1) of payments made in the month after the block's first month
  rather than within it (default 0.1).
- ``chronic_arrears``: the share (0–1) of households that stop paying for good from a seeded
  month within four years of the first month billed (the same month however many months are
  billed), so the arrears report has old debts (default 0).
- ``seed``: any text or number; the same file gives the same payments on every database.

Each household and block draws from ``random.Random`` seeded with the entry's seed, the
estate, the household's building, unit and room and the block's first month, so the history
does not depend on ids or on load order. A payment is recorded through the payment services
(``record_payment`` to the block's bills, ``business_date``, ``issue_receipt``), with the
reference ``DEMO-<first month>-<building>-<unit>-<room>``: a household and block with such a
payment is skipped, so reloading adds only what became due since (a new month billed, a
payment date that has passed). A payment is never dated today or later: it is dated on a
seeded day and hour of its month, before today's start (Asia/Shanghai).

Loading order 40: after ``billing`` (30), whose bills it pays. Every entry is checked before
the first payment is written; payments of all entries are then recorded oldest first (so
receipt numbers follow the payment dates) and committed per chunk of ``CHUNK`` payments,
like the billing runs: a load that stops part-way keeps what it committed and a reload
resumes. With ``RUIHE_DEFINITION_BILLING = False`` (tests of the rest of a definition) the
entries are checked and nothing is recorded, as for ``billing``.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from itertools import groupby
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from ruihe_saas.auth.definitions import member_who_may
from ruihe_saas.auth.permissions import Permission
from ruihe_saas.billing.models import Bill, BillStatus
from ruihe_saas.billing.periods import Period
from ruihe_saas.cashup.services import business_date_of
from ruihe_saas.errors import ValidationFailed
from ruihe_saas.estates.models import Building, Estate, HandoverStage, Household
from ruihe_saas.estates.services import find_estate_by_code
from ruihe_saas.extensions import db
from ruihe_saas.handover.services import local_today, stage_timeline
from ruihe_saas.payments.models import DESK_METHODS, Payment, PaymentMethod
from ruihe_saas.payments.services import local_zone, money, record_payment
from ruihe_saas.plans import GrowingTables
from ruihe_saas.receipts.services import issue_receipt
from ruihe_saas.tenancy.context import acting_as
from ruihe_saas.tenancy.definitions import LoadReport, section

PAYMENT_KEYS = {"estate", "cashier", "methods", "habit", "payer_rate", "late"}
PAYMENT_KEYS |= {"chronic_arrears", "seed"}
HABITS = {"monthly": 1, "quarterly": 3, "yearly": 12}  # months a payment covers (at most)
PAYING_STAGES = (HandoverStage.PARTIAL_CARETAKING, HandoverStage.FULL_TAKEOVER)
REFERENCE_PREFIX = "DEMO-"
CHUNK = 500  # payments per commit
DEFAULT_LATE = 0.1
STOP_HORIZON = 48  # a chronic debtor stops within 4 years of the first month billed
UNSETTLED = (BillStatus.OPEN, BillStatus.PARTIALLY_PAID)
ZERO = Decimal("0.00")


def fail(where: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{where}: {message}")


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# --- the entries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentModel:
    """One checked ``[[payments]]`` entry."""

    estate: Estate
    cashier_id: uuid.UUID
    cashier: str
    methods: dict[str, float]
    habits: dict[str, float]
    payer_rate: float | dict[str, float]
    late: float
    chronic: float
    seed: str

    def rate_for(self, stage: HandoverStage | None) -> float:
        if isinstance(self.payer_rate, float):
            return self.payer_rate if stage in PAYING_STAGES else 0.0
        return self.payer_rate.get(str(stage), 0.0) if stage is not None else 0.0


def weights(value, allowed: set[str], key: str, where: str) -> dict[str, float]:
    """``{name = weight, …}``: known names, positive weights."""
    if not isinstance(value, dict) or not value:
        raise fail(where, f"{key} must be a table of weights, e.g. {{{sorted(allowed)[0]} = 1}}.")
    unknown = set(value) - allowed
    if unknown:
        raise fail(
            where,
            f"{key}: unknown {', '.join(sorted(unknown))} (one of {', '.join(sorted(allowed))}).",
        )
    bad = [name for name, weight in value.items() if not _number(weight) or weight <= 0]
    if bad:
        raise fail(where, f"{key}: the weights must be positive numbers ({', '.join(bad)}).")
    return {name: float(weight) for name, weight in value.items()}


def share(value, key: str, where: str) -> float:
    if not _number(value) or not 0 <= value <= 1:
        raise fail(where, f"{key} must be a share between 0 and 1 (e.g. 0.95), not {value!r}.")
    return float(value)


def payment_model(entry, where: str) -> PaymentModel:
    if not isinstance(entry, dict):
        raise fail(where, "must be a table.")
    unknown = set(entry) - PAYMENT_KEYS
    if unknown:
        raise fail(where, f"unknown keys {', '.join(sorted(unknown))}.")
    code = entry.get("estate")
    estate = find_estate_by_code(code) if isinstance(code, str) else None
    if estate is None:
        raise fail(where, f"estate must be the code of an estate of the tenant, not {code!r}.")
    where = f"payments: {estate.code}"
    cashier_id, cashier = member_who_may(
        entry.get("cashier"), Permission.TAKE_PAYMENTS, [estate], where, "cashier"
    )
    desk = {method.value for method in DESK_METHODS}
    methods = weights(entry.get("methods"), desk, "methods", where)
    habits = weights(entry.get("habit", {"monthly": 1}), set(HABITS), "habit", where)
    rate = entry.get("payer_rate")
    stages_used = {stage for _, stage in stage_timeline(estate) if stage in PAYING_STAGES}
    if isinstance(rate, dict):
        known = {stage.value for stage in PAYING_STAGES}
        unknown = set(rate) - known
        if unknown:
            raise fail(
                where,
                f"payer_rate: unknown stages {', '.join(sorted(unknown))} "
                f"(one of {', '.join(sorted(known))}).",
            )
        payer_rate: float | dict[str, float] = {
            stage: share(value, f"payer_rate.{stage}", where) for stage, value in rate.items()
        }
        missing = sorted(stage.value for stage in stages_used if stage.value not in payer_rate)
        if missing:
            raise fail(where, f"payer_rate: no rate for the estate's stage {', '.join(missing)}.")
    elif rate is None:
        raise fail(where, "payer_rate is required: a share (0–1), or one per handover stage.")
    else:
        payer_rate = share(rate, "payer_rate", where)
    late = share(entry.get("late", DEFAULT_LATE), "late", where)
    chronic = share(entry.get("chronic_arrears", 0), "chronic_arrears", where)
    seed = entry.get("seed", "payments")
    if not isinstance(seed, str | int) or isinstance(seed, bool):
        raise fail(where, "seed must be text or a number.")
    return PaymentModel(
        estate, cashier_id, cashier, methods, habits, payer_rate, late, chronic, str(seed)
    )


# --- the section ---------------------------------------------------------------------------


@section("payments", order=40)  # after billing (30): it pays the bills the runs made
def load_payments(entries, report: LoadReport, base: Path, *, demo: bool) -> None:
    if not isinstance(entries, list):
        raise ValidationFailed("payments: must be a list of tables.")
    models = [
        payment_model(entry, f"payments[{index}]") for index, entry in enumerate(entries, start=1)
    ]
    codes = [model.estate.code for model in models]
    if len(set(codes)) != len(codes):
        raise ValidationFailed("payments: two entries name the same estate.")
    if not current_app.config.get("RUIHE_DEFINITION_BILLING", True):
        for model in models:  # checked, not recorded (like the billing runs)
            report.lines.append(f"payments {model.estate.code}: RUIHE_DEFINITION_BILLING is off")
        return
    before = today_start()
    planned = {model.estate.code: plan_payments(model, before) for model in models}
    everything = sorted(
        (spec for specs in planned.values() for spec in specs),
        key=lambda spec: (spec.paid_at, spec.reference),
    )
    record(everything)
    for model in models:
        specs = planned[model.estate.code]
        if not specs:
            report.lines.append(f"payments {model.estate.code}: kept")
            continue
        methods = Counter(spec.method for spec in specs)
        total = sum((spec.amount for spec in specs), ZERO)
        mix = ", ".join(f"{method} {count}" for method, count in methods.most_common())
        report.lines.append(
            f"payments {model.estate.code}: {len(specs)} payments recorded with receipts "
            f"({specs_range(specs)}), {total} 元, by {model.cashier} ({mix})"
        )


def today_start() -> datetime:
    """The start of today where the tenant works: no payment is dated at or after it, so a
    reload on the same day finds nothing new."""
    return datetime.combine(local_today(), time.min, tzinfo=local_zone())


def specs_range(specs: list[PaymentSpec]) -> str:
    months = sorted({spec.paid_at.strftime("%Y-%m") for spec in specs})
    return f"{months[0]} … {months[-1]}"


# --- planning ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentSpec:
    household_id: uuid.UUID
    cashier_id: uuid.UUID
    amount: Decimal
    method: str
    paid_at: datetime  # tenant-local
    reference: str
    bill_ids: tuple[uuid.UUID, ...]


@dataclass
class _Bill:
    id: uuid.UUID
    outstanding: Decimal
    amount: Decimal  # after credits


def plan_payments(model: PaymentModel, before: datetime) -> list[PaymentSpec]:
    """The payments of the entry that are due (dated before ``before``) and not recorded."""
    estate = model.estate
    households = db.session.execute(
        select(Household.id, Building.name, Household.unit, Household.room)
        .join(
            Building,
            (Building.tenant_id == Household.tenant_id) & (Building.id == Household.building_id),
        )
        .where(Household.estate_id == estate.id)
        .order_by(Building.position, Household.unit, Household.room)
    ).all()
    bills: dict[uuid.UUID, dict[str, _Bill]] = defaultdict(dict)
    for bill_id, household_id, period, amount, credited, paid, status in db.session.execute(
        select(
            Bill.id,
            Bill.household_id,
            Bill.period,
            Bill.amount,
            Bill.credited,
            Bill.paid,
            Bill.status,
        ).where(Bill.estate_id == estate.id)
    ):
        outstanding = amount - credited - paid if status in UNSETTLED else ZERO
        bills[household_id][period] = _Bill(bill_id, max(outstanding, ZERO), amount - credited)
    months = sorted({period for by_period in bills.values() for period in by_period})
    if not months:
        return []
    recorded = set(
        db.session.scalars(
            select(Payment.reference).where(
                Payment.estate_id == estate.id, Payment.reference.startswith(REFERENCE_PREFIX)
            )
        )
    )
    stages = stage_timeline(estate)
    periods = [Period.parse(month) for month in months]
    habits, habit_weights = list(model.habits), list(model.habits.values())
    methods, method_weights = list(model.methods), list(model.methods.values())
    specs = []
    for household_id, building, unit, room in households:
        name = "-".join(part for part in (building, unit, room) if part)
        rng = random.Random(f"{model.seed}:{estate.code}:{name}")  # noqa: S311 (demo data)
        habit = rng.choices(habits, habit_weights)[0]
        chronic = rng.random() < model.chronic
        stop = periods[0].shift(rng.randrange(STOP_HORIZON)) if chronic else None
        reliability = rng.random()  # below a stage's reliable share: pays every block
        for block in blocks(periods, HABITS[habit], stages):
            first = block[0]
            if stop is not None and first >= stop:
                break
            reference = f"{REFERENCE_PREFIX}{first}-{name}"
            if len(reference) > 100:
                reference = f"{REFERENCE_PREFIX}{first}-{household_id}"
            if reference in recorded:
                continue
            draw = random.Random(f"{model.seed}:{estate.code}:{name}:{first}")  # noqa: S311
            reliable, irregular = split_rate(model.rate_for(stage_at(stages, first)))
            if draw.random() >= irregular and reliability >= reliable:
                continue  # this household leaves this block unpaid
            month = first.next() if draw.random() < model.late else first
            paid_at = datetime.combine(
                month.start.replace(day=draw.randint(1, month.days)),
                time(draw.randint(8, 18), draw.randint(0, 59), draw.randint(0, 59)),
                tzinfo=local_zone(),
            )
            method = draw.choices(methods, method_weights)[0]
            if paid_at >= before:
                continue  # not yet: a later load records it
            mine = bills.get(household_id, {})
            billed = [mine[str(p)] for p in block if str(p) in mine]
            chosen = [bill for bill in billed if bill.outstanding > 0]
            amount = sum((bill.outstanding for bill in chosen), ZERO)
            ahead = sum(1 for p in block if p > periods[-1])  # months not billed yet
            if ahead and billed:
                amount += billed[-1].amount * ahead  # paid in advance: prepaid credit
            amount = money(amount)
            if amount <= 0:
                continue
            specs.append(
                PaymentSpec(
                    household_id,
                    model.cashier_id,
                    amount,
                    method,
                    paid_at,
                    reference,
                    tuple(bill.id for bill in chosen),
                )
            )
    return specs


def split_rate(rate: float) -> tuple[float, float]:
    """``payer_rate`` as (the share of households that pay every block, the chance that
    one of the others pays a block): arrears gather in a few households, as they do,
    instead of a missed month in almost every household's history. From 50 % on, the others
    pay every other block; below it, nobody pays every block."""
    if rate >= 0.5:
        return 2 * rate - 1, 0.5
    return 0.0, rate


def stage_at(stages: list, period: Period) -> HandoverStage | None:
    """The stage in force at the end of ``period`` (a month taken over part-way counts as
    taken over)."""
    current = None
    for effective, stage in stages:
        if effective <= period.end:
            current = stage
    return current


def blocks(periods: list[Period], size: int, stages: list) -> list[list[Period]]:
    """The billed months grouped as paid together: calendar quarters (``size`` 3) or years
    (12) from the first billed month, cut where the stage changes; the last block runs to
    its calendar end (months not billed yet are paid in advance)."""
    if size == 1:
        return [[p] for p in periods]
    result: list[list[Period]] = []
    current: list[Period] = []
    last = periods[-1]
    month = periods[0]
    end = _block_end(last, size)
    while month <= end:
        starts_block = (month.month - 1) % size == 0
        new_stage = current and stage_at(stages, month) != stage_at(stages, current[0])
        if current and (starts_block or new_stage):
            result.append(current)
            current = []
        current.append(month)
        month = month.next()
    if current:
        result.append(current)
    return result


def _block_end(period: Period, size: int) -> Period:
    """The last month of ``period``'s calendar quarter or year."""
    return Period(period.year, ((period.month - 1) // size + 1) * size)


# --- recording -----------------------------------------------------------------------------


def record(specs: list[PaymentSpec]) -> None:
    """Record the payments through the payment services, in order, each as its cashier,
    with receipts; commit every ``CHUNK``."""
    growing = GrowingTables()
    for start in range(0, len(specs), CHUNK):
        chunk = specs[start : start + CHUNK]
        # read the chunk's households at once (the services then find them in the session)
        households = db.session.scalars(
            select(Household).where(Household.id.in_({spec.household_id for spec in chunk}))
        ).all()
        for cashier_id, run in groupby(chunk, key=lambda spec: spec.cashier_id):
            with acting_as(cashier_id):
                for spec in run:
                    record_one(spec)
        db.session.commit()
        growing.step()
        del households


def record_one(spec: PaymentSpec) -> Payment:
    payment = record_payment(
        spec.household_id,
        spec.amount,
        PaymentMethod(spec.method),
        paid_at=spec.paid_at,
        reference=spec.reference,
        bill_ids=list(spec.bill_ids) or None,
    )
    with db.session.no_autoflush:  # the business date is written with the receipt
        payment.business_date = business_date_of(payment.paid_at)
        issue_receipt(payment)
    return payment
