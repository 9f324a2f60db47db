"""Arrears (欠费): aging, households in arrears, outstanding bills and reminder notices
(chasing records: ``chases``).

A bill is in arrears when it is unsettled (``open`` or ``partially_paid``), has something
outstanding (``amount − credited − paid``) and its due date has passed: on ``as_of`` it is
``as_of − due_date`` days overdue (≥ 1; on the due date itself it is not yet overdue). The
aging buckets count those days: 0–30 (1…30), 31–90, 91–180, 181–365, over 365. Amounts are
what is outstanding now; ``as_of`` (default: today in the tenant's time zone) only moves the
day the overdue days are counted to. Services flush, never commit.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, case, func, select

from ruihe_saas.billing.models import Bill, BillLine, BillStatus
from ruihe_saas.errors import ValidationFailed
from ruihe_saas.estates.models import Building, Estate, Household
from ruihe_saas.estates.services import buildings_of, households_by_ids
from ruihe_saas.extensions import db
from ruihe_saas.fees.models import FeeItem
from ruihe_saas.handover.services import local_today
from ruihe_saas.payments.services import money
from ruihe_saas.web.pagination import Page

ZERO = Decimal("0.00")
UNSETTLED = (BillStatus.OPEN, BillStatus.PARTIALLY_PAID)
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2100, 12, 31)


@dataclass(frozen=True)
class Bucket:
    key: str
    label: str
    first: int  # days overdue, inclusive
    last: int | None  # None: no upper bound


BUCKETS = (
    Bucket("d0_30", _l("0–30 days"), 1, 30),
    Bucket("d31_90", _l("31–90 days"), 31, 90),
    Bucket("d91_180", _l("91–180 days"), 91, 180),
    Bucket("d181_365", _l("181–365 days"), 181, 365),
    Bucket("over_365", _l("Over 365 days"), 366, None),
)
BUCKET_KEYS = tuple(b.key for b in BUCKETS)
SORTS = ("amount", "oldest")


def bucket_for_days(days_overdue: int) -> str | None:
    """The bucket of a bill ``days_overdue`` days past its due date (None: not overdue)."""
    for bucket in BUCKETS:
        if days_overdue >= bucket.first and (bucket.last is None or days_overdue <= bucket.last):
            return bucket.key
    return None


def outstanding_of_bill():
    return Bill.amount - Bill.credited - Bill.paid


def overdue_filter(as_of: date):
    return (
        Bill.status.in_(UNSETTLED),
        Bill.due_date < as_of,
        outstanding_of_bill() > 0,
    )


def bucket_expression(as_of: date):
    """SQL for ``bucket_for_days(as_of − due_date)`` of an overdue bill (portable: compares
    the due date with precomputed dates, no date arithmetic in SQL)."""
    whens = [
        (Bill.due_date >= as_of - timedelta(days=bucket.last), bucket.key)
        for bucket in BUCKETS
        if bucket.last is not None
    ]
    return case(*whens, else_=BUCKETS[-1].key)


def valid_as_of(as_of: date | None, name: str = "as_of") -> date:
    if as_of is None:
        return local_today()
    if not FIRST_DAY <= as_of <= LAST_DAY:
        raise ValidationFailed(
            _l("The date is out of range."),
            fields={name: [_l("Use a date between 2000-01-01 and 2100-12-31.")]},
        )
    return as_of


# --- aging ---------------------------------------------------------------------------------


@dataclass
class AgingCell:
    amount: Decimal = ZERO
    households: int = 0


@dataclass
class AgingRow:
    """Arrears of one estate, building (or the tenant) by bucket, and in total."""

    id: uuid.UUID | None
    name: str
    code: str = ""
    buckets: dict[str, AgingCell] = field(
        default_factory=lambda: {key: AgingCell() for key in BUCKET_KEYS}
    )
    total: AgingCell = field(default_factory=AgingCell)


@dataclass
class EstateAging:
    as_of: date
    estate: Estate
    summary: AgingRow
    buildings: list[AgingRow]


@dataclass
class TenantAging:
    as_of: date
    summary: AgingRow
    estates: list[AgingRow]


def _aging_by(group: str, as_of: date, estate_id: uuid.UUID | None = None) -> dict:
    """``{group id: AgingRow}`` for ``group`` ``estate_id`` or ``building_id``: two queries
    (per bucket; in total), each counting distinct households."""
    inner = select(
        getattr(Bill, group).label("group_id"),
        Bill.household_id,
        outstanding_of_bill().label("outstanding"),
        bucket_expression(as_of).label("bucket"),
    ).where(*overdue_filter(as_of))
    if estate_id is not None:
        inner = inner.where(Bill.estate_id == estate_id)
    rows = inner.subquery()
    households = func.count(rows.c.household_id.distinct())
    result: dict[uuid.UUID, AgingRow] = {}
    per_bucket = select(
        rows.c.group_id, rows.c.bucket, func.sum(rows.c.outstanding), households
    ).group_by(rows.c.group_id, rows.c.bucket)
    for group_id, bucket, amount, count in db.session.execute(per_bucket):
        row = result.setdefault(group_id, AgingRow(group_id, ""))
        row.buckets[bucket] = AgingCell(_money(amount), count)
    totals = select(rows.c.group_id, func.sum(rows.c.outstanding), households).group_by(
        rows.c.group_id
    )
    for group_id, amount, count in db.session.execute(totals):
        result.setdefault(group_id, AgingRow(group_id, "")).total = AgingCell(_money(amount), count)
    return result


def _summed(rows: list[AgingRow], name: str, row_id=None) -> AgingRow:
    """The sum of rows whose households are disjoint (buildings of an estate, estates)."""
    summary = AgingRow(row_id, name)
    for row in rows:
        for key in BUCKET_KEYS:
            cell = summary.buckets[key]
            cell.amount += row.buckets[key].amount
            cell.households += row.buckets[key].households
        summary.total.amount += row.total.amount
        summary.total.households += row.total.households
    return summary


def estate_aging(estate: Estate, as_of: date | None = None) -> EstateAging:
    """Arrears of the estate per building (every building, arrears or not) and in total."""
    as_of = valid_as_of(as_of)
    found = _aging_by("building_id", as_of, estate.id)
    rows = []
    for building in buildings_of(estate):
        row = found.pop(building.id, None) or AgingRow(building.id, "")
        row.name = building.name
        rows.append(row)
    return EstateAging(as_of, estate, _summed(rows, estate.name, estate.id), rows)


def tenant_aging(as_of: date | None = None) -> TenantAging:
    """Arrears per estate (every estate in the member's scope) and for the tenant."""
    as_of = valid_as_of(as_of)
    found = _aging_by("estate_id", as_of)
    rows = []
    for estate in db.session.scalars(select(Estate).order_by(Estate.code)):
        row = found.pop(estate.id, None) or AgingRow(estate.id, "")
        row.name, row.code = estate.name, estate.code
        rows.append(row)
    return TenantAging(as_of, _summed(rows, ""), rows)


# --- households in arrears -----------------------------------------------------------------


@dataclass
class HouseholdArrears:
    household: Household | None
    household_id: uuid.UUID
    estate_id: uuid.UUID
    building_id: uuid.UUID
    total: Decimal
    oldest_due: date
    days_overdue: int
    bills: int
    buckets: dict[str, Decimal]


def household_arrears_query(
    as_of: date,
    *,
    estate_id: uuid.UUID | None = None,
    building_id: uuid.UUID | None = None,
    sort: str = "amount",
) -> Select:
    """One row per household in arrears: ids, total, oldest due date, bills, per bucket."""
    inner = select(
        Bill.estate_id,
        Bill.building_id,
        Bill.household_id,
        Bill.due_date,
        outstanding_of_bill().label("outstanding"),
        bucket_expression(as_of).label("bucket"),
    ).where(*overdue_filter(as_of))
    if estate_id is not None:
        inner = inner.where(Bill.estate_id == estate_id)
    if building_id is not None:
        inner = inner.where(Bill.building_id == building_id)
    rows = inner.subquery()
    total = func.sum(rows.c.outstanding).label("total")
    oldest = func.min(rows.c.due_date).label("oldest_due")
    statement = select(
        rows.c.estate_id,
        rows.c.building_id,
        rows.c.household_id,
        total,
        oldest,
        func.count().label("bills"),
        *(
            func.sum(case((rows.c.bucket == key, rows.c.outstanding), else_=0)).label(key)
            for key in BUCKET_KEYS
        ),
    ).group_by(rows.c.estate_id, rows.c.building_id, rows.c.household_id)
    if sort == "oldest":
        return statement.order_by(oldest, total.desc(), rows.c.household_id)
    return statement.order_by(total.desc(), oldest, rows.c.household_id)


def _household_rows(rows, as_of: date, households: dict) -> list[HouseholdArrears]:
    return [
        HouseholdArrears(
            household=households.get(row.household_id),
            household_id=row.household_id,
            estate_id=row.estate_id,
            building_id=row.building_id,
            total=_money(row.total),
            oldest_due=row.oldest_due,
            days_overdue=(as_of - row.oldest_due).days,
            bills=row.bills,
            buckets={key: _money(getattr(row, key)) for key in BUCKET_KEYS},
        )
        for row in rows
    ]


def households_in_arrears(
    estate: Estate,
    page: int = 1,
    per_page: int = 50,
    *,
    as_of: date | None = None,
    building_id: uuid.UUID | None = None,
    sort: str = "amount",
) -> Page:
    """The estate's households in arrears, largest amount (``sort="amount"``) or oldest
    due date (``"oldest"``) first; ``items`` are ``HouseholdArrears``."""
    as_of = valid_as_of(as_of)
    if sort not in SORTS:
        raise ValidationFailed(
            _l("Unknown sort order."), fields={"sort": [_l("Use amount or oldest.")]}
        )
    page, per_page = max(page, 1), max(per_page, 1)
    statement = household_arrears_query(
        as_of, estate_id=estate.id, building_id=building_id, sort=sort
    )
    total = db.session.scalar(select(func.count()).select_from(statement.subquery()))
    rows = db.session.execute(statement.limit(per_page).offset((page - 1) * per_page)).all()
    households = households_by_ids(estate, (row.household_id for row in rows))
    return Page(_household_rows(rows, as_of, households), total or 0, page, per_page)


def household_arrears_total(household: Household, as_of: date | None = None) -> Decimal:
    """What the household owes on bills overdue on ``as_of``."""
    as_of = valid_as_of(as_of)
    total = db.session.scalar(
        select(func.coalesce(func.sum(outstanding_of_bill()), 0)).where(
            Bill.household_id == household.id, *overdue_filter(as_of)
        )
    )
    return _money(total)


@dataclass
class OutstandingBill:
    bill: Bill
    outstanding: Decimal
    days_overdue: int  # ≤ 0: not yet due
    bucket: str | None
    lines: list[tuple[BillLine, Decimal]] = field(default_factory=list)


def outstanding_bills(
    household: Household, as_of: date | None = None, *, overdue_only: bool = False
) -> list[OutstandingBill]:
    """The household's unsettled bills with something outstanding, oldest first, each with
    its lines that are not settled (in the fee schedule's order)."""
    as_of = valid_as_of(as_of)
    statement = select(Bill).where(
        Bill.household_id == household.id,
        Bill.status.in_(UNSETTLED),
        outstanding_of_bill() > 0,
    )
    if overdue_only:
        statement = statement.where(Bill.due_date < as_of)
    bills = list(db.session.scalars(statement.order_by(Bill.period, Bill.due_date, Bill.id)))
    lines: dict[uuid.UUID, list] = defaultdict(list)
    if bills:
        for line in db.session.scalars(
            select(BillLine)
            .outerjoin(
                FeeItem,
                (FeeItem.tenant_id == BillLine.tenant_id) & (FeeItem.id == BillLine.fee_item_id),
            )
            .where(BillLine.bill_id.in_([b.id for b in bills]))
            .order_by(FeeItem.position, BillLine.fee_item_code, BillLine.id)
        ):
            left = line.amount - line.credited - line.paid
            if left > 0:
                lines[line.bill_id].append((line, _money(left)))
    result = []
    for bill in bills:
        days = (as_of - bill.due_date).days
        result.append(
            OutstandingBill(
                bill, _money(bill.outstanding), days, bucket_for_days(days), lines[bill.id]
            )
        )
    return result


def building_names(estate_ids: set[uuid.UUID] | None = None) -> dict[uuid.UUID, str]:
    statement = select(Building.id, Building.name)
    if estate_ids is not None:
        statement = statement.where(Building.estate_id.in_(estate_ids))
    return dict(db.session.execute(statement).all())


def _money(value) -> Decimal:
    return money(value or 0)
