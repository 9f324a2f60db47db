"""What a billing run of one estate and period will price: the fee items in force (as
``ItemPlan``), the adjustments, and the common meters' pools. Read once per run."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import or_, select

from ruihe_saas.billing.charges import QUANTITY_SCALE, Adjustment, ItemPlan, scaled
from ruihe_saas.billing.periods import Period, due_date, span_for
from ruihe_saas.billing.proration import clip, stage_segments
from ruihe_saas.estates.models import Estate, HandoverStage, Occupancy
from ruihe_saas.extensions import db
from ruihe_saas.fees.models import (
    AdjustmentKind,
    ChargeKind,
    FeeAdjustment,
    FeeItem,
    FeeSchedule,
    SharedMeter,
    SharedMeterReading,
    StageApplicability,
)
from ruihe_saas.handover.services import stage_timeline

STAGES = {
    StageApplicability.PARTIAL_CARETAKING: frozenset({HandoverStage.PARTIAL_CARETAKING}),
    StageApplicability.FULL_TAKEOVER: frozenset({HandoverStage.FULL_TAKEOVER}),
    StageApplicability.BOTH: frozenset(
        {HandoverStage.PARTIAL_CARETAKING, HandoverStage.FULL_TAKEOVER}
    ),
}
LONGEST_SPAN_MONTHS = 12


@dataclass
class SharedPool:
    """A common meter's reading for the period and who shares it."""

    meter_name: str
    usage_e2: int | None  # None: no reading for the period
    building_id: uuid.UUID | None
    unit: str | None
    total_area_e2: int = 0
    households: int = 0


@dataclass
class RunPlan:
    estate: Estate
    period: Period
    items: list[ItemPlan]
    adjustments_by_household: dict = field(default_factory=lambda: defaultdict(list))
    adjustments_by_category: dict = field(default_factory=lambda: defaultdict(list))
    pools: dict = field(default_factory=dict)  # item_id → SharedPool

    def adjustments_for(self, plan: ItemPlan, household_id, category_id) -> list[Adjustment]:
        found = []
        for code, adjustment in self.adjustments_by_household.get(household_id, ()):
            if code is None or code == plan.code:
                found.append(adjustment)
        for code, adjustment in self.adjustments_by_category.get(category_id, ()):
            if code is None or code == plan.code:
                found.append(adjustment)
        return found

    @property
    def needs_parking(self) -> bool:
        return any(p.charge_kind == ChargeKind.PER_PARKING_SPACE for p in self.items)

    @property
    def meter_kinds(self) -> set[str]:
        return {p.meter_kind for p in self.items if p.charge_kind == ChargeKind.METERED}


def build_plan(estate: Estate, period: Period) -> RunPlan:
    timeline = stage_timeline(estate)
    last_day = period.shift(LONGEST_SPAN_MONTHS - 1).end
    schedules = db.session.scalars(
        select(FeeSchedule).where(
            FeeSchedule.estate_id == estate.id,
            FeeSchedule.superseded_by_id.is_(None),
            FeeSchedule.effective_from <= last_day,
            or_(FeeSchedule.effective_to.is_(None), FeeSchedule.effective_to >= period.start),
        )
    ).all()
    by_id = {schedule.id: schedule for schedule in schedules}
    items = db.session.scalars(
        select(FeeItem)
        .where(FeeItem.schedule_id.in_(list(by_id)) if by_id else FeeItem.id.is_(None))
        .order_by(FeeItem.schedule_id, FeeItem.position, FeeItem.code)
    ).all()
    plans = []
    for item in items:
        plan = _item_plan(item, by_id[item.schedule_id], timeline, period)
        if plan is not None:
            plans.append(plan)
    plans.sort(key=lambda p: (p.code, p.segments[0][0]))
    run_plan = RunPlan(estate=estate, period=period, items=plans)
    _load_adjustments(run_plan)
    _load_pools(run_plan)
    return run_plan


def _item_plan(item: FeeItem, schedule: FeeSchedule, timeline, period: Period):
    span = span_for(item.frequency, period, item.charge_period)
    if span is None:
        return None
    segments = stage_segments(timeline, span.start, span.end, STAGES[schedule.stages])
    segments = clip(segments, schedule.effective_from, schedule.effective_to or date.max)
    if not segments:
        return None
    return ItemPlan(
        item_id=item.id,
        code=item.code,
        name=item.name,
        revenue_category=item.revenue_category,
        charge_kind=item.charge_kind,
        unit=item.unit or "",
        rate=item.rate,
        span=span,
        segments=segments,
        due_date=due_date(period, item.due_day, item.due_days),
        fixed_part=item.fixed_part or 0,
        meter_kind=item.meter_kind,
        shared_meter_id=item.shared_meter_id,
        split_basis=item.split_basis,
        occupied_only=item.occupied_only,
        household_ids=_id_set(item.household_ids),
        building_ids=_id_set(item.building_ids),
        lift_only=item.lift_only,
        min_floor=item.min_floor,
        category_ids=_id_set(item.category_ids),
        occupancies=(
            frozenset(Occupancy(o) for o in item.occupancies) if item.occupancies else None
        ),
        vacant_weight=scaled(item.vacant_rate_percent, 100),
    )


def _id_set(values) -> frozenset | None:
    if not values:
        return None
    return frozenset(uuid.UUID(str(v)) for v in values)


def _load_adjustments(run_plan: RunPlan) -> None:
    period = run_plan.period
    last_day = period.shift(LONGEST_SPAN_MONTHS - 1).end
    rows = db.session.scalars(
        select(FeeAdjustment).where(
            FeeAdjustment.estate_id == run_plan.estate.id,
            FeeAdjustment.valid_from <= last_day,
            or_(FeeAdjustment.valid_to.is_(None), FeeAdjustment.valid_to >= period.start),
        )
    ).all()
    for row in rows:
        adjustment = Adjustment(
            percent_e2=scaled(row.value, 100) if row.kind == AdjustmentKind.PERCENT else None,
            fixed_fen=scaled(row.value, 100) if row.kind == AdjustmentKind.FIXED else None,
            valid_from=row.valid_from,
            valid_to=row.valid_to,
            reason=row.reason,
        )
        if row.household_id is not None:
            run_plan.adjustments_by_household[row.household_id].append(
                (row.fee_item_code, adjustment)
            )
        else:
            run_plan.adjustments_by_category[row.category_id].append(
                (row.fee_item_code, adjustment)
            )


def _load_pools(run_plan: RunPlan) -> None:
    shared = [p for p in run_plan.items if p.charge_kind == ChargeKind.SHARED_METER]
    if not shared:
        return
    meters = {
        m.id: m
        for m in db.session.scalars(
            select(SharedMeter).where(SharedMeter.id.in_([p.shared_meter_id for p in shared]))
        )
    }
    readings = {
        r.shared_meter_id: r
        for r in db.session.scalars(
            select(SharedMeterReading).where(
                SharedMeterReading.shared_meter_id.in_(list(meters)),
                SharedMeterReading.period == str(run_plan.period),
            )
        )
    }
    for plan in shared:
        meter = meters.get(plan.shared_meter_id)
        if meter is None:
            continue
        reading = readings.get(meter.id)
        usage = (
            None
            if reading is None
            else scaled(reading.current_reading - reading.previous_reading, QUANTITY_SCALE)
        )
        run_plan.pools[plan.item_id] = SharedPool(meter.name, usage, meter.building_id, meter.unit)


def shares_pool(plan: ItemPlan, pool: SharedPool, household) -> bool:
    """Whether the household shares the common meter of ``plan`` (before its own filters)."""
    if pool.building_id is not None and household.building_id != pool.building_id:
        return False
    if pool.unit is not None and household.unit != pool.unit:
        return False
    return not (plan.occupied_only and household.occupancy == Occupancy.VACANT)
