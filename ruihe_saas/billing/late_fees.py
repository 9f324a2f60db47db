"""The late fee (滞纳金) a bill has accrued as of a date: informational only.

Late fees are legally sensitive: they are off unless the schedule enables them, they are
collected (or waived) in the payments workflow, never added to a bill here. The terms come
from the fee schedule of each line's fee item (``FeeSchedule.late_fee_*``):

    days    = as_of − (due_date + grace days)            (nothing while ≤ 0)
    fee     = outstanding principal × daily rate × days    (simple interest)
    fee     ≤ cap % × outstanding principal
    rounded half-up to 0.01 per line; the bill's late fee is the sum of its lines'.

The principal is the line's outstanding amount (``amount − credited − paid``) on the day it
is computed: never a late fee on a late fee (no compounding), nothing on what is paid or
credited. A cap of 0 % means no late fee at all.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select

from ruihe_saas.billing.models import Bill, BillLine, BillStatus
from ruihe_saas.extensions import db
from ruihe_saas.fees.models import FeeItem, FeeSchedule

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


@dataclass(frozen=True)
class LateFeeTerms:
    daily_rate: Decimal  # e.g. 0.0005 (万分之五 per day)
    grace_days: int
    cap_percent: Decimal  # of the outstanding principal

    @classmethod
    def of(cls, schedule: FeeSchedule | None) -> LateFeeTerms | None:
        """The schedule's terms, or None when late fees are off."""
        if schedule is None or not schedule.late_fee_enabled:
            return None
        return cls(
            Decimal(schedule.late_fee_daily_rate or 0),
            int(schedule.late_fee_grace_days or 0),
            Decimal(schedule.late_fee_cap_percent or 0),
        )


def days_overdue(due_date: date, as_of: date, grace_days: int) -> int:
    """Days past the due date and the grace days (0 while not overdue)."""
    return max((as_of - due_date).days - grace_days, 0)


def line_late_fee(
    principal: Decimal, due_date: date, as_of: date, terms: LateFeeTerms | None
) -> Decimal:
    """The late fee of one line's outstanding ``principal`` as of ``as_of`` (0.01, half-up)."""
    if terms is None or principal <= 0:
        return ZERO
    days = days_overdue(due_date, as_of, terms.grace_days)
    if days == 0:
        return ZERO
    fee = principal * terms.daily_rate * days
    cap = principal * terms.cap_percent / 100
    return min(fee, cap).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass
class LineLateFee:
    line_id: uuid.UUID
    fee_item_code: str
    name: str
    principal: Decimal
    days: int
    terms: LateFeeTerms
    amount: Decimal

    @property
    def capped(self) -> bool:
        uncapped = self.principal * self.terms.daily_rate * self.days
        return uncapped > self.principal * self.terms.cap_percent / 100


@dataclass
class LateFee:
    as_of: date
    amount: Decimal = ZERO
    enabled: bool = False  # whether any line's schedule has late fees on
    lines: list[LineLateFee] = field(default_factory=list)


def _schedules_of(lines: list[BillLine]) -> dict[uuid.UUID, FeeSchedule]:
    """``{fee item id: its schedule}`` for the lines' fee items (one query)."""
    item_ids = {line.fee_item_id for line in lines}
    if not item_ids:
        return {}
    rows = db.session.execute(
        select(FeeItem.id, FeeSchedule)
        .join(FeeSchedule, FeeSchedule.id == FeeItem.schedule_id)
        .where(FeeItem.id.in_(item_ids))
    )
    return {item_id: schedule for item_id, schedule in rows}


def late_fee_of(bill: Bill, lines: list[BillLine], as_of: date) -> LateFee:
    """The late fee ``bill`` (with its ``lines``) has accrued as of ``as_of``."""
    result = LateFee(as_of=as_of)
    if bill.status == BillStatus.VOID:
        return result
    schedules = _schedules_of(lines)
    for line in lines:
        terms = LateFeeTerms.of(schedules.get(line.fee_item_id))
        if terms is None:
            continue
        result.enabled = True
        amount = line_late_fee(line.outstanding, bill.due_date, as_of, terms)
        if amount > 0:
            result.lines.append(
                LineLateFee(
                    line_id=line.id,
                    fee_item_code=line.fee_item_code,
                    name=line.name,
                    principal=line.outstanding,
                    days=days_overdue(bill.due_date, as_of, terms.grace_days),
                    terms=terms,
                    amount=amount,
                )
            )
            result.amount += amount
    return result
