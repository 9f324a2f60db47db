"""Collection rate (收缴率) and arrears clearance rate (清欠率), per estate, building and period.

For the bills of period ``P`` (an estate's, or a building's), as of a moment ``T`` (the end of
the day ``as_of`` in the tenant's time zone; default: now):

- ``billed`` = Σ bill amounts − Σ credits (红冲) dated on or before ``as_of``;
- ``collected`` = Σ allocations to those bills (payments and prepaid credit applied) made
  before ``T``;
- ``rate`` = collected ÷ billed, in percent with 2 decimals (half up); null when nothing
  was billed;
- ``households_paid`` ÷ ``households_billed``: households whose bill of ``P`` has something
  billed and is fully collected, ÷ households with something billed (one bill per household
  and period);
- ``target``: ``Estate.collection_target_percent``; ``gap`` = target − rate in percentage
  points (positive: still short of the target; negative: above it).

Clearance rate of period ``P`` (start ``S`` = local midnight of its first day, end ``E`` =
the next period's start, or ``T`` if earlier), over the bills of *earlier* periods:

- ``arrears_at_start`` = Σ (amount − credits dated before ``P``'s first day − allocations
  made before ``S``) — each bill's outstanding amount at ``S``, reconstructed exactly from
  the credit and allocation rows (equal to the current outstanding + what was allocated and
  credited since ``S``);
- ``collected_on_arrears`` = Σ allocations to those bills made in ``[S, E)``;
- ``clearance_rate`` = collected_on_arrears ÷ arrears_at_start (percent, 2 decimals; null
  when there were no arrears at the start).

Every sum is one SQL query (grouped by estate or building), whatever the number of bills.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select

from ruihe_saas.billing.models import Bill, BillCredit
from ruihe_saas.billing.periods import Period, PeriodError
from ruihe_saas.errors import ValidationFailed
from ruihe_saas.estates.models import Estate
from ruihe_saas.estates.services import buildings_of
from ruihe_saas.extensions import db
from ruihe_saas.handover.services import local_today
from ruihe_saas.payments.models import PaymentAllocation
from ruihe_saas.payments.services import local_zone, money

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
HUNDRED = Decimal(100)
DEFAULT_PERIODS = 12
MAX_PERIODS = 60


def percent(numerator: Decimal, denominator: Decimal) -> Decimal | None:
    """``numerator ÷ denominator`` in percent, 2 decimals half up; None when nothing to
    divide by."""
    if denominator is None or denominator <= 0:
        return None
    return (Decimal(numerator) * HUNDRED / Decimal(denominator)).quantize(
        CENT, rounding=ROUND_HALF_UP
    )


# --- parsing -------------------------------------------------------------------------------


def parse_period(value, name: str = "period") -> Period:
    try:
        return Period.parse(value)
    except PeriodError as error:
        raise ValidationFailed(str(error), fields={name: [str(error)]}) from None


def period_range(first, last) -> list[Period]:
    """``first``…``last`` (``YYYY-MM`` each, or None): default the last 12 periods up to the
    current month; at most 60 periods; 422 with field messages otherwise."""
    last_period = parse_period(last, "to") if last else Period.of(local_today())
    first_period = parse_period(first, "from") if first else last_period.shift(1 - DEFAULT_PERIODS)
    if first_period > last_period:
        raise ValidationFailed(
            _l("The first period is after the last one."),
            fields={"from": [_l("Must not be after the last period.")]},
        )
    count = (last_period.year - first_period.year) * 12 + last_period.month - first_period.month
    if count + 1 > MAX_PERIODS:
        raise ValidationFailed(
            _l("At most %(num)d periods at once.", num=MAX_PERIODS),
            fields={"from": [_l("At most %(num)d periods at once.", num=MAX_PERIODS)]},
        )
    return [first_period.shift(i) for i in range(count + 1)]


def local_midnight(day: date) -> datetime:
    """The start of ``day`` in the tenant's time zone, as a UTC instant."""
    return datetime.combine(day, time.min, tzinfo=local_zone()).astimezone(UTC)


@dataclass(frozen=True)
class Cutoff:
    """What "as of" means: allocations before ``moment``, credits on or before ``day``."""

    moment: datetime
    day: date

    @classmethod
    def of(cls, as_of: date | None) -> Cutoff:
        if as_of is None:
            return cls(datetime.now(UTC), local_today())
        return cls(local_midnight(as_of + timedelta(days=1)), as_of)


# --- results -------------------------------------------------------------------------------


@dataclass
class RateRow:
    id: uuid.UUID | None
    name: str
    period: str
    code: str = ""
    billed: Decimal = ZERO
    collected: Decimal = ZERO
    households_billed: int = 0
    households_paid: int = 0
    arrears_at_start: Decimal = ZERO
    collected_on_arrears: Decimal = ZERO
    target: Decimal | None = None

    @property
    def outstanding(self) -> Decimal:
        return self.billed - self.collected

    @property
    def rate(self) -> Decimal | None:
        return percent(self.collected, self.billed)

    @property
    def paid_household_ratio(self) -> Decimal | None:
        return percent(Decimal(self.households_paid), Decimal(self.households_billed))

    @property
    def clearance_rate(self) -> Decimal | None:
        return percent(self.collected_on_arrears, self.arrears_at_start)

    @property
    def gap(self) -> Decimal | None:
        if self.target is None or self.rate is None:
            return None
        return (self.target - self.rate).quantize(CENT)

    @property
    def meets_target(self) -> bool | None:
        gap = self.gap
        return None if gap is None else gap <= 0

    def add(self, other: RateRow) -> None:
        self.billed += other.billed
        self.collected += other.collected
        self.households_billed += other.households_billed
        self.households_paid += other.households_paid
        self.arrears_at_start += other.arrears_at_start
        self.collected_on_arrears += other.collected_on_arrears


@dataclass
class EstateCollection:
    estate: Estate
    period: str
    as_of: date
    summary: RateRow
    buildings: list[RateRow]


@dataclass
class EstateRates:
    estate: Estate
    cells: list[RateRow] = field(default_factory=list)


@dataclass
class CollectionTable:
    periods: list[str]
    as_of: date
    estates: list[EstateRates]


# --- queries -------------------------------------------------------------------------------


def _sum_by_bill(model, amount_filter, bill_filter):
    """``(bill_id, amount)`` sums of ``model`` rows (credits, allocations) of some bills."""
    return (
        select(model.bill_id.label("bill_id"), func.sum(model.amount).label("amount"))
        .join(Bill, (Bill.tenant_id == model.tenant_id) & (Bill.id == model.bill_id))
        .where(amount_filter, *bill_filter)
        .group_by(model.bill_id)
        .subquery()
    )


def _period_stats(
    periods: list[str], group: str, cutoff: Cutoff, estate_id: uuid.UUID | None = None
) -> dict[tuple[uuid.UUID, str], RateRow]:
    """Billed, collected and household counts per (estate or building, period)."""
    bill_filter = [Bill.period.in_(periods)]
    if estate_id is not None:
        bill_filter.append(Bill.estate_id == estate_id)
    credits = _sum_by_bill(BillCredit, BillCredit.credited_on <= cutoff.day, bill_filter)
    allocations = _sum_by_bill(
        PaymentAllocation, PaymentAllocation.allocated_at < cutoff.moment, bill_filter
    )
    per_bill = (
        select(
            getattr(Bill, group).label("group_id"),
            Bill.period.label("period"),
            (Bill.amount - func.coalesce(credits.c.amount, 0)).label("billed"),
            func.coalesce(allocations.c.amount, 0).label("collected"),
        )
        .outerjoin(credits, credits.c.bill_id == Bill.id)
        .outerjoin(allocations, allocations.c.bill_id == Bill.id)
        .where(*bill_filter)
        .subquery()
    )
    billed = per_bill.c.billed > 0
    statement = select(
        per_bill.c.group_id,
        per_bill.c.period,
        func.sum(per_bill.c.billed),
        func.sum(per_bill.c.collected),
        func.sum(case((billed, 1), else_=0)),
        func.sum(case((billed & (per_bill.c.collected >= per_bill.c.billed), 1), else_=0)),
    ).group_by(per_bill.c.group_id, per_bill.c.period)
    result = {}
    for group_id, period, billed_sum, collected, households, paid in db.session.execute(statement):
        result[(group_id, period)] = RateRow(
            group_id,
            "",
            period,
            billed=money(billed_sum or 0),
            collected=money(collected or 0),
            households_billed=int(households or 0),
            households_paid=int(paid or 0),
        )
    return result


def _clearance_stats(
    period: Period, group: str, cutoff: Cutoff, estate_id: uuid.UUID | None = None
) -> dict[uuid.UUID, tuple[Decimal, Decimal]]:
    """``{group id: (arrears_at_start, collected_on_arrears)}`` for ``period``."""
    start = local_midnight(period.start)
    end = min(local_midnight(period.next().start), cutoff.moment)
    bill_filter = [Bill.period < str(period)]
    if estate_id is not None:
        bill_filter.append(Bill.estate_id == estate_id)
    credits_before = _sum_by_bill(BillCredit, BillCredit.credited_on < period.start, bill_filter)
    allocated_before = _sum_by_bill(
        PaymentAllocation, PaymentAllocation.allocated_at < start, bill_filter
    )
    allocated_during = _sum_by_bill(
        PaymentAllocation,
        (PaymentAllocation.allocated_at >= start) & (PaymentAllocation.allocated_at < end),
        bill_filter,
    )
    per_bill = (
        select(
            getattr(Bill, group).label("group_id"),
            (
                Bill.amount
                - func.coalesce(credits_before.c.amount, 0)
                - func.coalesce(allocated_before.c.amount, 0)
            ).label("at_start"),
            func.coalesce(allocated_during.c.amount, 0).label("collected"),
        )
        .outerjoin(credits_before, credits_before.c.bill_id == Bill.id)
        .outerjoin(allocated_before, allocated_before.c.bill_id == Bill.id)
        .outerjoin(allocated_during, allocated_during.c.bill_id == Bill.id)
        .where(*bill_filter)
        .subquery()
    )
    statement = select(
        per_bill.c.group_id, func.sum(per_bill.c.at_start), func.sum(per_bill.c.collected)
    ).group_by(per_bill.c.group_id)
    return {
        group_id: (money(at_start or 0), money(collected or 0))
        for group_id, at_start, collected in db.session.execute(statement)
    }


# --- services ------------------------------------------------------------------------------


def estate_collection(estate: Estate, period, as_of: date | None = None) -> EstateCollection:
    """The estate's collection and clearance rates for ``period``, per building and in
    total, with the estate's target and the gap."""
    period = parse_period(period)
    cutoff = Cutoff.of(as_of)
    stats = _period_stats([str(period)], "building_id", cutoff, estate.id)
    clearance = _clearance_stats(period, "building_id", cutoff, estate.id)
    target = estate.collection_target_percent
    summary = RateRow(estate.id, estate.name, str(period), code=estate.code, target=target)
    rows = []
    for building in buildings_of(estate):
        row = stats.get((building.id, str(period))) or RateRow(building.id, "", str(period))
        row.name, row.target = building.name, target
        row.arrears_at_start, row.collected_on_arrears = clearance.get(building.id, (ZERO, ZERO))
        summary.add(row)
        rows.append(row)
    return EstateCollection(estate, str(period), cutoff.day, summary, rows)


def collection_table(
    first=None,
    last=None,
    *,
    as_of: date | None = None,
    estate: Estate | None = None,
) -> CollectionTable:
    """Every estate (in scope; or just ``estate``) × every period ``first``…``last``
    (default: the last 12 periods): one query for the rates, one per period for the
    clearance rate."""
    periods = period_range(first, last)
    names = [str(p) for p in periods]
    cutoff = Cutoff.of(as_of)
    estate_id = estate.id if estate is not None else None
    stats = _period_stats(names, "estate_id", cutoff, estate_id)
    clearance = {str(p): _clearance_stats(p, "estate_id", cutoff, estate_id) for p in periods}
    estates = (
        [estate]
        if estate is not None
        else list(db.session.scalars(select(Estate).order_by(Estate.code)))
    )
    rows = []
    for item in estates:
        cells = []
        for name in names:
            cell = stats.get((item.id, name)) or RateRow(item.id, "", name)
            cell.name, cell.code = item.name, item.code
            cell.target = item.collection_target_percent
            cell.arrears_at_start, cell.collected_on_arrears = clearance[name].get(
                item.id, (ZERO, ZERO)
            )
            cells.append(cell)
        rows.append(EstateRates(item, cells))
    return CollectionTable(names, cutoff.day, rows)


def latest_billed_period(estate: Estate) -> str:
    """The estate's latest period with bills, else the current month."""
    latest = db.session.scalar(select(func.max(Bill.period)).where(Bill.estate_id == estate.id))
    return latest or str(Period.of(local_today()))
