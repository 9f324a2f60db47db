"""Helpers building fee schedules and bills for tests (inside the estate's tenant).

``bill_for`` writes a bill and its lines through the ORM, for tests of what reads bills
(statements, arrears, collection rate) without running the billing engine.
"""

from __future__ import annotations

import itertools
from datetime import date, timedelta
from decimal import Decimal

from ruihe_saas.billing.models import Bill, BillLine, BillStatus
from ruihe_saas.billing.periods import Period
from ruihe_saas.extensions import db
from ruihe_saas.fees.models import (
    ChargeKind,
    FeeItem,
    FeeSchedule,
    RevenueCategory,
    StageApplicability,
)
from ruihe_saas.ids import new_id
from ruihe_saas.tenancy import tenant_context

_numbers = itertools.count(1)


def simple_schedule(estate, *, effective_from=date(2020, 1, 1), rate="0.60", stages="both"):
    """A schedule with one per-area property service item and one fixed garbage item."""
    with tenant_context(estate.tenant_id):
        schedule_id = new_id()
        schedule = FeeSchedule(
            id=schedule_id,
            lineage_id=schedule_id,
            estate_id=estate.id,
            name="测试收费标准",
            stages=StageApplicability(stages),
            effective_from=effective_from,
        )
        db.session.add(schedule)
        db.session.flush()
        for position, (code, name, kind, item_rate, category) in enumerate(
            [
                ("property_service", "物业服务费", ChargeKind.PER_AREA, rate, "property_service"),
                ("garbage", "垃圾清运费", ChargeKind.FIXED, "10.00", "property_service"),
            ]
        ):
            db.session.add(
                FeeItem(
                    schedule_id=schedule.id,
                    estate_id=estate.id,
                    position=position,
                    code=code,
                    name=name,
                    charge_kind=kind,
                    rate=Decimal(item_rate),
                    revenue_category=RevenueCategory(category),
                )
            )
        db.session.flush()
    return schedule


def items_of(schedule) -> dict[str, FeeItem]:
    with tenant_context(schedule.tenant_id):
        rows = db.session.scalars(
            db.select(FeeItem).where(FeeItem.schedule_id == schedule.id)
        ).all()
    return {item.code: item for item in rows}


def bill_for(household, period: str, amounts: dict, schedule, *, due_date: date | None = None):
    """A bill of ``household`` for ``period`` with one line per ``{code: amount}``."""
    items = items_of(schedule)
    parsed = Period.parse(period)
    with tenant_context(household.tenant_id):
        bill = Bill(
            estate_id=household.estate_id,
            building_id=household.building_id,
            household_id=household.id,
            period=period,
            number=f"T{next(_numbers):08d}",
            issued_on=parsed.start,
            due_date=due_date or parsed.start + timedelta(days=30),
            amount=sum((Decimal(str(a)) for a in amounts.values()), Decimal("0.00")),
            status=BillStatus.OPEN,
        )
        db.session.add(bill)
        db.session.flush()
        for code, amount in amounts.items():
            item = items[code]
            db.session.add(
                BillLine(
                    bill_id=bill.id,
                    estate_id=household.estate_id,
                    household_id=household.id,
                    period=period,
                    fee_item_id=item.id,
                    fee_item_code=code,
                    name=item.name,
                    revenue_category=item.revenue_category,
                    charge_kind=item.charge_kind,
                    quantity=Decimal("1"),
                    rate=Decimal(str(amount)),
                    days=parsed.days,
                    period_days=parsed.days,
                    gross=Decimal(str(amount)),
                    amount=Decimal(str(amount)),
                )
            )
        db.session.flush()
    return bill


def set_stages(estate, *moves) -> None:
    """Give ``estate`` a handover history: ``(date, stage)`` advances, oldest first."""
    from ruihe_saas.estates.models import HandoverStage
    from ruihe_saas.handover.models import HandoverTransition

    with tenant_context(estate.tenant_id):
        previous = HandoverStage.PROSPECT
        for day, stage in moves:
            db.session.add(
                HandoverTransition(
                    estate_id=estate.id,
                    from_stage=previous,
                    to_stage=HandoverStage(stage),
                    effective_date=day,
                )
            )
            previous = HandoverStage(stage)
        estate.stage, estate.stage_since = previous, moves[-1][0]
        db.session.flush()
