"""The billing engine: price every household of an estate for a period, chunk by chunk.

Households are streamed in id order, ``RUIHE_BILLING_CHUNK`` at a time (memory stays flat
at any estate size). Each chunk is one transaction: it takes the run's advisory lock
(PostgreSQL), reads what the chunk's households already have for the period (bill lines,
bills, readings, parking, occupancy changes), prices only the **missing** lines, writes
bills and lines in bulk, applies prepaid credit, records progress and commits. So a worker
killed mid-run leaves whole chunks (every bill with all its lines) and a rerun bills only
what is missing: ``(tenant, household, period, fee item)`` is unique and never duplicated.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from flask import current_app
from sqlalchemy import and_, func, select

from ruihe_saas.billing import writer
from ruihe_saas.billing.charges import (
    QUANTITY_SCALE,
    ItemPlan,
    PricedLine,
    apply_adjustments,
    fen_str,
    price_metered,
    price_one_off,
    price_shared,
    price_time_based,
    scaled,
)
from ruihe_saas.billing.models import Bill, BillLine
from ruihe_saas.billing.plans import RunPlan, shares_pool
from ruihe_saas.billing.proration import occupancy_segments, weighted_days
from ruihe_saas.estates.models import Building, Household, OccupancyChange, ParkingSpace
from ruihe_saas.extensions import db
from ruihe_saas.fees.models import ChargeKind, MeterReading, SplitBasis
from ruihe_saas.ledger.postings import post_written_bills
from ruihe_saas.payments.services import apply_prepaid_credit
from ruihe_saas.plans import GrowingTables

PREVIEW_BILLS = 20
GROWING = GrowingTables()  # this process's committed chunks (statistics as tables grow)
MAX_WARNINGS = 200


@dataclass(slots=True)
class HouseholdFacts:
    id: object
    building_id: object
    building: str
    has_lift: bool
    unit: str
    room: str
    floor: int | None
    area_e2: int
    occupancy: object
    category_id: object

    @property
    def label(self) -> str:
        unit = f"{self.unit}单元" if self.unit else ""
        return f"{self.building}{unit}{self.room}"


@dataclass
class BillDraft:
    household: HouseholdFacts
    existing: tuple | None  # (bill id, amount, credited, paid) when the bill exists
    lines: list[tuple[ItemPlan, PricedLine]]

    @property
    def amount_fen(self) -> int:
        return sum(line.amount_fen for _plan, line in self.lines)


@dataclass
class ChunkFacts:
    """What the chunk's households already have or need, read in one query each."""

    billed: set = field(default_factory=set)  # (household id, fee item id)
    bills: dict = field(default_factory=dict)  # household id → (id, amount, credited, paid)
    readings: dict = field(default_factory=dict)  # (household id, kind) → (prev, cur) ×100
    parking: dict = field(default_factory=dict)  # household id → spaces
    changes: dict = field(default_factory=lambda: defaultdict(list))


@dataclass
class RunTally:
    """What the run produced (or would): totals per item and building, preview, warnings."""

    households: int = 0
    bills_created: int = 0
    lines_created: int = 0
    amount_fen: int = 0
    items: dict = field(default_factory=dict)
    buildings: dict = field(default_factory=dict)
    preview: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    warning_count: int = 0

    def warn(self, code: str, message: str, household_id=None) -> None:
        self.warning_count += 1
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(
                {
                    "code": code,
                    "message": message,
                    "household_id": household_id and str(household_id),
                }
            )

    def add(self, draft: BillDraft) -> None:
        household = draft.household
        if draft.existing is None:
            self.bills_created += 1
        self.households += 1
        self.lines_created += len(draft.lines)
        amount = draft.amount_fen
        self.amount_fen += amount
        for plan, line in draft.lines:
            entry = self.items.setdefault(plan.code, {"name": plan.name, "fen": 0, "lines": 0})
            entry["fen"] += line.amount_fen
            entry["lines"] += 1
        building = self.buildings.setdefault(
            str(household.building_id), {"building": household.building, "fen": 0, "bills": 0}
        )
        building["fen"] += amount
        building["bills"] += 1
        if len(self.preview) < PREVIEW_BILLS:
            self.preview.append(_preview_bill(draft))

    def totals(self) -> dict:
        return {
            code: {"name": e["name"], "amount": fen_str(e["fen"]), "lines": e["lines"]}
            for code, e in sorted(self.items.items())
        }

    def by_building(self) -> list[dict]:
        return [
            {
                "building_id": building_id,
                "building": e["building"],
                "amount": fen_str(e["fen"]),
                "bills": e["bills"],
            }
            for building_id, e in self.buildings.items()
        ]


def _preview_bill(draft: BillDraft) -> dict:
    return {
        "household_id": str(draft.household.id),
        "household": draft.household.label,
        "amount": fen_str(draft.amount_fen),
        "lines": [
            {
                "fee_item_code": plan.code,
                "name": plan.name,
                "quantity": line.quantity,
                "unit": plan.unit,
                "rate": plan.rate_label,
                "days": line.days,
                "period_days": plan.span.days,
                "amount": fen_str(line.amount_fen),
                "formula": line.formula,
            }
            for plan, line in draft.lines
        ],
    }


# --- streaming the households ---------------------------------------------------------


def count_households(estate_id) -> int:
    return db.session.scalar(
        select(func.count()).select_from(Household).where(Household.estate_id == estate_id)
    )


def household_chunks(estate_id, size: int) -> Iterator[list[HouseholdFacts]]:
    """The estate's households in id order, ``size`` at a time (keyset pagination)."""
    columns = (
        Household.id,
        Household.building_id,
        Building.name,
        Building.has_lift,
        Household.unit,
        Household.room,
        Household.floor,
        Household.area,
        Household.occupancy,
        Household.category_id,
    )
    after = None
    while True:
        statement = (
            select(*columns)
            .join(
                Building,
                and_(
                    Building.tenant_id == Household.tenant_id,
                    Building.id == Household.building_id,
                ),
            )
            .where(Household.estate_id == estate_id)
            .order_by(Household.id)
            .limit(size)
        )
        if after is not None:
            statement = statement.where(Household.id > after)
        rows = db.session.execute(statement).all()
        if not rows:
            return
        yield [
            HouseholdFacts(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4] or "",
                r[5],
                r[6],
                scaled(r[7], QUANTITY_SCALE),
                r[8],
                r[9],
            )
            for r in rows
        ]
        after = rows[-1][0]
        if len(rows) < size:
            return


def _in_chunk(model, run_plan: RunPlan, chunk: list[HouseholdFacts]):
    """Rows of the chunk's households: the estate's, in the chunk's id range (households are
    read in id order, so the range holds exactly the chunk's households of the estate)."""
    return and_(
        model.estate_id == run_plan.estate.id,
        model.household_id.between(chunk[0].id, chunk[-1].id),
    )


def chunk_facts(run_plan: RunPlan, chunk: list[HouseholdFacts]) -> ChunkFacts:
    period = str(run_plan.period)
    facts = ChunkFacts()
    facts.billed = set(
        db.session.execute(
            select(BillLine.household_id, BillLine.fee_item_id).where(
                BillLine.period == period, _in_chunk(BillLine, run_plan, chunk)
            )
        ).tuples()
    )
    for household_id, *bill in db.session.execute(
        select(Bill.household_id, Bill.id, Bill.amount, Bill.credited, Bill.paid).where(
            Bill.period == period, _in_chunk(Bill, run_plan, chunk)
        )
    ):
        facts.bills[household_id] = tuple(bill)
    if run_plan.meter_kinds:
        for household_id, kind, previous, current in db.session.execute(
            select(
                MeterReading.household_id,
                MeterReading.meter_kind,
                MeterReading.previous_reading,
                MeterReading.current_reading,
            ).where(MeterReading.period == period, _in_chunk(MeterReading, run_plan, chunk))
        ):
            facts.readings[(household_id, kind)] = (
                scaled(previous, QUANTITY_SCALE),
                scaled(current, QUANTITY_SCALE),
            )
    if run_plan.needs_parking:
        facts.parking = {
            household_id: spaces
            for household_id, spaces in db.session.execute(
                select(ParkingSpace.household_id, func.count())
                .where(_in_chunk(ParkingSpace, run_plan, chunk))
                .group_by(ParkingSpace.household_id)
            )
        }
    for change in db.session.execute(
        select(
            OccupancyChange.household_id,
            OccupancyChange.effective_date,
            OccupancyChange.from_occupancy,
            OccupancyChange.to_occupancy,
        )
        .where(_in_chunk(OccupancyChange, run_plan, chunk))
        .order_by(OccupancyChange.household_id, OccupancyChange.effective_date)
    ):
        facts.changes[change[0]].append(tuple(change[1:]))
    return facts


# --- pricing ----------------------------------------------------------------------------


def price_chunk(
    run_plan: RunPlan, chunk: list[HouseholdFacts], facts: ChunkFacts, tally: RunTally
) -> list[BillDraft]:
    drafts = []
    for household in chunk:
        lines = []
        for plan in run_plan.items:
            if (household.id, plan.item_id) in facts.billed:
                continue
            line = price_line(run_plan, plan, household, facts, tally)
            if line is not None:
                lines.append((plan, line))
        if lines:
            drafts.append(BillDraft(household, facts.bills.get(household.id), lines))
    return drafts


def price_line(run_plan: RunPlan, plan: ItemPlan, household, facts: ChunkFacts, tally):
    """The line of ``plan`` for ``household``, or None when the item does not apply."""
    if plan.household_ids is not None and household.id not in plan.household_ids:
        return None
    if not plan.applies_to(
        household.building_id, household.has_lift, household.floor, household.category_id
    ):
        return None
    if plan.charge_kind == ChargeKind.ONE_OFF:
        line = price_one_off(plan)
        segments = plan.segments
    else:
        days, weighted, pieces, segments = _charged_days(plan, household, facts)
        if days == 0:
            return None
        line = _price_by_kind(run_plan, plan, household, facts, tally, days, weighted, pieces)
        if line is None:
            return None
    adjustments = run_plan.adjustments_for(plan, household.id, household.category_id)
    return apply_adjustments(line, plan, adjustments, segments)


def _charged_days(plan: ItemPlan, household, facts: ChunkFacts):
    """Days charged, weighted days, their pieces and segments; computed once per occupancy
    for the (many) households whose occupancy does not change in the span."""
    changes = facts.changes.get(household.id)
    if not changes:
        cached = plan.by_occupancy.get(household.occupancy)
        if cached is not None:
            return cached
    parts = occupancy_segments(plan.segments, changes or (), household.occupancy)
    days, weighted, pieces = weighted_days(parts, plan.occupancies, plan.vacant_weight)
    result = (days, weighted, pieces, [segment for segment, _occupancy in parts])
    if not changes:
        plan.by_occupancy[household.occupancy] = result
    return result


def _price_by_kind(run_plan, plan, household, facts, tally, days, weighted, pieces):
    kind = plan.charge_kind
    if kind == ChargeKind.PER_AREA:
        return price_time_based(plan, household.area_e2, days, weighted, pieces)
    if kind == ChargeKind.FIXED:
        return price_time_based(plan, QUANTITY_SCALE, days, weighted, pieces)
    if kind == ChargeKind.PER_PARKING_SPACE:
        spaces = facts.parking.get(household.id, 0)
        if not spaces:
            return None
        return price_time_based(plan, spaces * QUANTITY_SCALE, days, weighted, pieces)
    if kind == ChargeKind.METERED:
        reading = facts.readings.get((household.id, plan.meter_kind))
        if reading is None:
            tally.warn(
                "missing_reading",
                f"{household.label}：缺少 {run_plan.period} 的{plan.name}读数",
                household.id,
            )
            return None
        return price_metered(plan, reading[0], reading[1], days, weighted, pieces)
    pool = run_plan.pools.get(plan.item_id)
    if pool is None or pool.usage_e2 is None or not shares_pool(plan, pool, household):
        return None
    if plan.split_basis == SplitBasis.AREA:
        share = (household.area_e2, pool.total_area_e2)
    else:
        share = (1, pool.households)
    if share[1] == 0:
        return None
    return price_shared(plan, pool.usage_e2, share[0], share[1], days, pool.meter_name)


def count_pool_members(run_plan: RunPlan, chunk_size: int) -> None:
    """First pass for common meters: who shares each pool (total area, households)."""
    shared = [
        p
        for p in run_plan.items
        if p.charge_kind == ChargeKind.SHARED_METER and p.item_id in run_plan.pools
    ]
    if not shared:
        return
    for chunk in household_chunks(run_plan.estate.id, chunk_size):
        for household in chunk:
            for plan in shared:
                pool = run_plan.pools[plan.item_id]
                if shares_pool(plan, pool, household) and plan.applies_to(
                    household.building_id,
                    household.has_lift,
                    household.floor,
                    household.category_id,
                ):
                    pool.total_area_e2 += household.area_e2
                    pool.households += 1


# --- the run ----------------------------------------------------------------------------


def run_estate_period(
    run_plan: RunPlan,
    *,
    dry_run: bool,
    run_id=None,
    on_chunk: Callable[[int, int, RunTally], None] | None = None,
) -> RunTally:
    """Price (and unless ``dry_run`` write) the estate's bills for the period.

    Commits once per chunk, after ``on_chunk`` (which records progress in the same
    transaction); a dry run writes nothing but what ``on_chunk`` records.
    """
    config = current_app.config
    size = int(config.get("RUIHE_BILLING_CHUNK", 2000))
    throttle = float(config.get("RUIHE_BILLING_THROTTLE_MS", 0)) / 1000
    total = count_households(run_plan.estate.id)
    tally = RunTally()
    count_pool_members(run_plan, size)
    for plan in run_plan.items:
        pool = run_plan.pools.get(plan.item_id)
        if plan.charge_kind == ChargeKind.SHARED_METER and (pool is None or pool.usage_e2 is None):
            tally.warn(
                "missing_shared_reading", f"缺少 {run_plan.period} 的公摊表读数：{plan.name}"
            )
    done = 0
    for chunk in household_chunks(run_plan.estate.id, size):
        if not dry_run:
            writer.lock_run(run_plan.estate.id, str(run_plan.period))
        facts = chunk_facts(run_plan, chunk)
        drafts = price_chunk(run_plan, chunk, facts, tally)
        for draft in drafts:
            tally.add(draft)
        if not dry_run and drafts:
            writer.write_bills(run_plan, drafts, run_id)
            apply_prepaid_credit([draft.household.id for draft in drafts])
            post_written_bills(run_plan, drafts, run_id)  # the ledger, after the bill locks
        done += len(chunk)
        if on_chunk is not None:
            on_chunk(done, total, tally)
        db.session.commit()
        GROWING.step()  # a first big run would otherwise slow quadratically
        if throttle:
            time.sleep(throttle)
    return tally
