"""What a household pays per month for its monthly items, and what paying months ahead
costs with the schedule's prepayment offer (预交优惠).

``monthly_charges(household, on_date)``: one line per **monthly** item of the schedules in
force on ``on_date`` for the estate's handover stage that applies to the household and is
priced without readings (``per_area``, ``fixed``, ``per_parking_space``):

- applicability filters: buildings, lift, floor ≥ N, household category, occupancy;
- quantity: floor area (m²), 1 household, or the parking spaces assigned to it;
- ``gross`` = rate × quantity × (``vacant_rate_percent`` % if the household is vacant),
  rounded half-up to 0.01;
- adjustments valid that day (the household's and its category's, for every item or that
  item's code): the percentages add up (at most 100 %), then fixed amounts come off; a line
  never goes below 0. ``amount`` = ``gross`` − ``discount``.

``prepayment_quote(household_id, months)``: each line × ``months``; when the line's
schedule offers a prepayment deal and ``months`` ≥ its ``prepay_months``: either
``prepay_discount_percent`` % off the whole prepayment, or ``prepay_free_months`` months
free for each full ``prepay_months`` paid ahead (e.g. 12 + 1 free: 12 months cost 11).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ruihe_saas.errors import NotFound
from ruihe_saas.estates.models import (
    Estate,
    HandoverStage,
    Household,
    Occupancy,
    ParkingSpace,
)
from ruihe_saas.extensions import db
from ruihe_saas.fees.adjustments import adjustments_for
from ruihe_saas.fees.models import (
    AdjustmentKind,
    BillingFrequency,
    ChargeKind,
    FeeItem,
    FeeSchedule,
    StageApplicability,
)
from ruihe_saas.fees.parsing import Errors, local_today, parse_int
from ruihe_saas.payments.services import money
from ruihe_saas.tenancy.lookup import get_owned

HUNDRED = Decimal("100")
PRICED_KINDS = (ChargeKind.PER_AREA, ChargeKind.FIXED, ChargeKind.PER_PARKING_SPACE)
STAGE_SCHEDULES = {
    HandoverStage.PARTIAL_CARETAKING: (
        StageApplicability.PARTIAL_CARETAKING,
        StageApplicability.BOTH,
    ),
    HandoverStage.FULL_TAKEOVER: (StageApplicability.FULL_TAKEOVER, StageApplicability.BOTH),
}


@dataclass
class MonthlyCharge:
    item: FeeItem
    schedule: FeeSchedule
    quantity: Decimal
    gross: Decimal
    discount: Decimal

    @property
    def amount(self) -> Decimal:
        return self.gross - self.discount


def item_applies(item: FeeItem, household: Household) -> bool:
    if item.building_ids and str(household.building_id) not in item.building_ids:
        return False
    if item.lift_only and not household.building.has_lift:
        return False
    if item.min_floor is not None and (household.floor is None or household.floor < item.min_floor):
        return False
    if item.category_ids and str(household.category_id) not in item.category_ids:
        return False
    occupancy = Occupancy(household.occupancy).value
    return not (item.occupancies and occupancy not in item.occupancies)


def _quantity(item: FeeItem, household: Household) -> Decimal:
    if item.charge_kind == ChargeKind.PER_AREA:
        return Decimal(household.area)
    if item.charge_kind == ChargeKind.FIXED:
        return Decimal("1")
    spaces = db.session.scalar(
        select(func.count())
        .select_from(ParkingSpace)
        .where(ParkingSpace.household_id == household.id)
    )
    return Decimal(spaces or 0)


def _discount(gross: Decimal, item: FeeItem, adjustments) -> Decimal:
    mine = [a for a in adjustments if a.fee_item_code in (None, item.code)]
    percent = min(
        sum((a.value for a in mine if a.kind == AdjustmentKind.PERCENT), Decimal(0)), HUNDRED
    )
    fixed = sum((a.value for a in mine if a.kind == AdjustmentKind.FIXED), Decimal(0))
    return min(money(gross * percent / HUNDRED) + fixed, gross)


def _schedules_for(estate: Estate, on_date: date) -> list[FeeSchedule]:
    from ruihe_saas.fees.services import schedules_in_force

    stages = STAGE_SCHEDULES.get(HandoverStage(estate.stage), ())
    return [s for s in schedules_in_force(estate, on_date) if s.stages in stages]


def monthly_charges(household: Household, on_date: date | None = None) -> list[MonthlyCharge]:
    from ruihe_saas.fees.services import items_by_schedule

    on_date = on_date or local_today()
    estate = get_owned(Estate, household.estate_id)
    schedules = {s.id: s for s in _schedules_for(estate, on_date)}
    adjustments = adjustments_for(household, on_date)
    lines = []
    for schedule_id, items in items_by_schedule(schedules).items():
        for item in items:
            if item.frequency != BillingFrequency.MONTHLY or item.charge_kind not in PRICED_KINDS:
                continue
            if not item_applies(item, household):
                continue
            quantity = _quantity(item, household)
            rate = Decimal(item.rate)
            if Occupancy(household.occupancy) == Occupancy.VACANT:
                rate = rate * Decimal(item.vacant_rate_percent) / HUNDRED
            gross = money(rate * quantity)
            lines.append(
                MonthlyCharge(
                    item,
                    schedules[schedule_id],
                    quantity,
                    gross,
                    _discount(gross, item, adjustments),
                )
            )
    return lines


@dataclass
class QuoteLine:
    code: str
    name: str
    monthly: Decimal  # after adjustments
    months: int
    gross: Decimal  # monthly × months
    offer_discount: Decimal

    @property
    def amount(self) -> Decimal:
        return self.gross - self.offer_discount


@dataclass
class PrepaymentQuote:
    household_id: uuid.UUID
    months: int
    on_date: date
    lines: list[QuoteLine]

    @property
    def gross(self) -> Decimal:
        return sum((line.gross for line in self.lines), Decimal("0.00"))

    @property
    def offer_discount(self) -> Decimal:
        return sum((line.offer_discount for line in self.lines), Decimal("0.00"))

    @property
    def amount(self) -> Decimal:
        return self.gross - self.offer_discount


def _offer(schedule: FeeSchedule, monthly: Decimal, months: int) -> Decimal:
    every = schedule.prepay_months
    if not every or months < every:
        return Decimal("0.00")
    if schedule.prepay_discount_percent is not None:
        return money(monthly * months * Decimal(schedule.prepay_discount_percent) / HUNDRED)
    free = (months // every) * (schedule.prepay_free_months or 0)
    return money(monthly * free)


def prepayment_quote(
    household_id: uuid.UUID | str, months: int, on_date: date | None = None
) -> PrepaymentQuote:
    """What paying ``months`` (1–36) ahead costs the household for its monthly items in
    force today, with each schedule's prepayment offer applied."""
    household = get_owned(Household, household_id)
    if household is None:
        raise NotFound(_l("Household not found."))
    errors = Errors()
    months = parse_int(months, "months", errors, low=1, high=36)
    errors.raise_if_any(_l("The number of months is invalid."))
    on_date = on_date or local_today()
    lines = []
    for charge in monthly_charges(household, on_date):
        monthly = charge.amount
        lines.append(
            QuoteLine(
                code=charge.item.code,
                name=charge.item.name,
                monthly=monthly,
                months=months,
                gross=monthly * months,
                offer_discount=_offer(charge.schedule, monthly, months),
            )
        )
    return PrepaymentQuote(household.id, months, on_date, lines)
