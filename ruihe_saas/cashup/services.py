"""Cash-up days (日结). A closed day of a cashier takes no new payment or refund dated into
it: ``ensure_day_open`` is called by every service that records money at the desk.
Services flush, never commit.

A cashier's day is the payments they received (``Payment.received_by``) and the refunds they
made (``Refund.created_by``, succeeded) whose ``business_date`` is that tenant-local date,
totalled per method. Closing it freezes those totals into a ``CashUpDay`` row.

Race: a payment recorded while the day closes must either be in the frozen totals or be
refused. On PostgreSQL both ``close_day`` and ``ensure_day_open`` take a transaction-level
advisory lock on (tenant, cashier, date) before they read: the closing transaction computes
its totals only after every payment transaction that already checked the day has committed
(READ COMMITTED: each statement sees what committed before it started), and a payment
transaction that checks after the close has committed sees the closed day and gets 422.
SQLite serialises writers by itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, func, or_, select, text

from ruihe_saas.auth.models import Membership, Role, User
from ruihe_saas.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ruihe_saas.estates.models import Household
from ruihe_saas.extensions import db
from ruihe_saas.payments.models import (
    DESK_METHODS,
    CashUpDay,
    Payment,
    PaymentMethod,
    Receipt,
    ReceiptStatus,
    Refund,
    RefundMethod,
    RefundStatus,
)
from ruihe_saas.payments.services import local_zone, money
from ruihe_saas.tenancy.context import current_actor_user_id, require_tenant_id

ZERO = Decimal("0.00")
MAX_NOTE = 200
MAX_RANGE_DAYS = 366

METHOD_LABELS = {
    PaymentMethod.CASH: _l("Cash"),
    PaymentMethod.BANK_TRANSFER: _l("Bank transfer"),
    PaymentMethod.POS_CARD: _l("POS card"),
    PaymentMethod.WECHAT_QR: _l("WeChat Pay QR"),
    PaymentMethod.ALIPAY_QR: _l("Alipay QR"),
    PaymentMethod.ONLINE: _l("Online"),
}

#: Roles that see and close every cashier's days (the others: their own only).
OVERSEEING_ROLES = frozenset({Role.OWNER, Role.FINANCE})


def business_date_of(moment: datetime) -> date:
    """The tenant-local date a payment or refund taken at ``moment`` belongs to."""
    return moment.astimezone(local_zone()).date()


def local_today() -> date:
    return business_date_of(datetime.now(UTC))


def closed_day(cashier_id: uuid.UUID | None, business_date: date) -> CashUpDay | None:
    if cashier_id is None:
        return None
    return db.session.scalar(
        select(CashUpDay)
        .where(CashUpDay.cashier_id == cashier_id, CashUpDay.business_date == business_date)
        .execution_options(populate_existing=True)
    )


def lock_day(cashier_id: uuid.UUID, business_date: date) -> None:
    """Serialise closing a cashier's day with recording money into it (PostgreSQL advisory
    lock held until the transaction ends); SQLite serialises writers by itself."""
    if db.session.get_bind().dialect.name == "postgresql":
        key = f"cashup:{require_tenant_id()}:{cashier_id}:{business_date.isoformat()}"
        db.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
        )


def ensure_day_open(
    cashier_id: uuid.UUID | None, business_date: date, field: str = "paid_at"
) -> None:
    """422 on ``field`` when the cashier's day ``business_date`` is already closed.

    Takes the day's lock first: call it in the transaction that records the money, so the
    day cannot close between this check and that transaction's commit."""
    if cashier_id is None:
        return
    lock_day(cashier_id, business_date)
    if closed_day(cashier_id, business_date) is not None:
        raise ValidationFailed(
            _l("This cashier's day is closed (cash-up done); date it on an open day."),
            fields={field: [_l("The cash-up of %(day)s is closed.", day=business_date)]},
        )


# --- who may see and close whose day -------------------------------------------------------


def oversees_cash_up(membership: Membership | None) -> bool:
    """Whether this member sees and closes every cashier's days (finance, owner)."""
    return membership is not None and membership.role in OVERSEEING_ROLES


def cashier_of(cashier_id: uuid.UUID | str | None) -> User:
    """A member of the current tenant (404 otherwise), the acting user by default."""
    if cashier_id is None:
        cashier_id = current_actor_user_id()
    try:
        cashier_id = cashier_id if isinstance(cashier_id, uuid.UUID) else uuid.UUID(str(cashier_id))
    except ValueError:
        cashier_id = None
    user = None
    if cashier_id is not None:
        user = db.session.scalar(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.user_id == cashier_id)
        )
    if user is None:
        raise NotFound(_l("Cashier not found."))
    return user


def check_may_see(cashier_id: uuid.UUID, *, oversees: bool) -> None:
    if not oversees and cashier_id != current_actor_user_id():
        raise Forbidden(_l("You can see only your own cash-up days."))


# --- the summary ---------------------------------------------------------------------------


@dataclass
class MethodTotals:
    method: str
    count: int = 0
    received: Decimal = ZERO
    refund_count: int = 0
    refunded: Decimal = ZERO

    @property
    def net(self) -> Decimal:
        return money(self.received - self.refunded)

    @property
    def label(self) -> str:
        try:
            return str(METHOD_LABELS[PaymentMethod(self.method)])
        except ValueError:
            return self.method

    def as_json(self) -> dict:
        return {
            "count": self.count,
            "received": f"{money(self.received)}",
            "refund_count": self.refund_count,
            "refunded": f"{money(self.refunded)}",
            "net": f"{self.net}",
        }

    @classmethod
    def from_json(cls, method: str, data: dict) -> MethodTotals:
        return cls(
            method=method,
            count=int(data.get("count", 0)),
            received=money(data.get("received", "0")),
            refund_count=int(data.get("refund_count", 0)),
            refunded=money(data.get("refunded", "0")),
        )


@dataclass
class PaymentRow:
    payment_id: uuid.UUID
    receipt_number: str | None
    receipt_status: str | None
    household_id: uuid.UUID
    building: str
    unit: str
    room: str
    household_label: str
    method: str
    reference: str
    amount: Decimal
    refunded: Decimal
    paid_at: datetime

    @property
    def method_label(self) -> str:
        return MethodTotals(self.method).label


@dataclass
class RefundRow:
    refund_id: uuid.UUID
    payment_id: uuid.UUID
    receipt_number: str | None
    household_id: uuid.UUID
    building: str
    unit: str
    room: str
    household_label: str
    method: str  # the payment method the refund is counted under
    refund_method: str
    amount: Decimal
    reason: str
    refunded_at: datetime

    @property
    def method_label(self) -> str:
        return MethodTotals(self.method).label


@dataclass
class DaySummary:
    cashier: User
    business_date: date
    methods: list[MethodTotals]
    total: MethodTotals
    payments: list[PaymentRow] = field(default_factory=list)
    refunds: list[RefundRow] = field(default_factory=list)
    day: CashUpDay | None = None
    closed_by_name: str = ""
    # a closed day: methods whose frozen figures differ from a recomputation (none expected)
    differences: list[str] = field(default_factory=list)

    @property
    def cashier_id(self) -> uuid.UUID:
        return self.cashier.id

    @property
    def cashier_name(self) -> str:
        return self.cashier.name or self.cashier.email

    @property
    def closed(self) -> bool:
        return self.day is not None

    @property
    def closed_at(self) -> datetime | None:
        return self.day.closed_at if self.day else None

    @property
    def closed_by(self) -> uuid.UUID | None:
        return self.day.closed_by if self.day else None

    @property
    def note(self) -> str:
        return self.day.note if self.day else ""

    @property
    def receipt_numbers(self) -> list[str]:
        return sorted(p.receipt_number for p in self.payments if p.receipt_number)

    @property
    def receipt_first(self) -> str | None:
        numbers = self.receipt_numbers
        return numbers[0] if numbers else None

    @property
    def receipt_last(self) -> str | None:
        numbers = self.receipt_numbers
        return numbers[-1] if numbers else None


def _day_bounds(business_date: date) -> tuple[datetime, datetime]:
    start = datetime.combine(business_date, time(0), tzinfo=local_zone())
    end = datetime.combine(business_date + timedelta(days=1), time(0), tzinfo=local_zone())
    return start.astimezone(UTC), end.astimezone(UTC)


def _on_day(column_date, column_moment, business_date: date):
    """Dated ``business_date``; rows written without one count by their local moment."""
    start, end = _day_bounds(business_date)
    return or_(
        column_date == business_date,
        and_(column_date.is_(None), column_moment >= start, column_moment < end),
    )


def _refund_method_key(refund_method: RefundMethod, payment_method: PaymentMethod) -> str:
    """The payment method a refund is counted under: the money left through it."""
    if refund_method == RefundMethod.CASH:
        return PaymentMethod.CASH.value
    if refund_method == RefundMethod.BANK_TRANSFER:
        return PaymentMethod.BANK_TRANSFER.value
    if refund_method == RefundMethod.GATEWAY:
        return PaymentMethod.ONLINE.value
    return PaymentMethod(payment_method).value


def _household_parts(household: Household) -> tuple[str, str, str, str]:
    building = household.building.name if household.building is not None else ""
    return building, household.unit or "", household.room, household.label


def _payment_rows(cashier_id: uuid.UUID, business_date: date) -> list[PaymentRow]:
    rows = db.session.execute(
        select(Payment, Household, Receipt.number, Receipt.status)
        .join(
            Household,
            (Household.tenant_id == Payment.tenant_id) & (Household.id == Payment.household_id),
        )
        .outerjoin(
            Receipt,
            (Receipt.tenant_id == Payment.tenant_id) & (Receipt.payment_id == Payment.id),
        )
        .where(
            Payment.received_by == cashier_id,
            _on_day(Payment.business_date, Payment.paid_at, business_date),
        )
        .order_by(Payment.paid_at, Payment.id)
    ).all()
    result = []
    for payment, household, number, status in rows:
        building, unit, room, label = _household_parts(household)
        result.append(
            PaymentRow(
                payment_id=payment.id,
                receipt_number=number,
                receipt_status=ReceiptStatus(status).value if status else None,
                household_id=household.id,
                building=building,
                unit=unit,
                room=room,
                household_label=label,
                method=PaymentMethod(payment.method).value,
                reference=payment.reference or "",
                amount=money(payment.amount),
                refunded=money(payment.refunded or 0),
                paid_at=payment.paid_at,
            )
        )
    return result


def _refund_rows(cashier_id: uuid.UUID, business_date: date) -> list[RefundRow]:
    rows = db.session.execute(
        select(Refund, Payment.method, Household, Receipt.number)
        .join(
            Payment,
            (Payment.tenant_id == Refund.tenant_id) & (Payment.id == Refund.payment_id),
        )
        .join(
            Household,
            (Household.tenant_id == Refund.tenant_id) & (Household.id == Refund.household_id),
        )
        .outerjoin(
            Receipt,
            (Receipt.tenant_id == Refund.tenant_id) & (Receipt.payment_id == Refund.payment_id),
        )
        .where(
            Refund.created_by == cashier_id,
            Refund.status == RefundStatus.SUCCEEDED,
            _on_day(Refund.business_date, Refund.refunded_at, business_date),
        )
        .order_by(Refund.refunded_at, Refund.id)
    ).all()
    result = []
    for refund, payment_method, household, number in rows:
        building, unit, room, label = _household_parts(household)
        result.append(
            RefundRow(
                refund_id=refund.id,
                payment_id=refund.payment_id,
                receipt_number=number,
                household_id=household.id,
                building=building,
                unit=unit,
                room=room,
                household_label=label,
                method=_refund_method_key(RefundMethod(refund.method), payment_method),
                refund_method=RefundMethod(refund.method).value,
                amount=money(refund.amount),
                reason=refund.reason,
                refunded_at=refund.refunded_at,
            )
        )
    return result


def _method_totals(
    payments: Iterable[PaymentRow], refunds: Iterable[RefundRow]
) -> dict[str, MethodTotals]:
    totals = {m.value: MethodTotals(m.value) for m in DESK_METHODS}
    for row in payments:
        entry = totals.setdefault(row.method, MethodTotals(row.method))
        entry.count += 1
        entry.received = money(entry.received + row.amount)
    for row in refunds:
        entry = totals.setdefault(row.method, MethodTotals(row.method))
        entry.refund_count += 1
        entry.refunded = money(entry.refunded + row.amount)
    return totals


def _grand_total(methods: Iterable[MethodTotals]) -> MethodTotals:
    total = MethodTotals("total")
    for entry in methods:
        total.count += entry.count
        total.received = money(total.received + entry.received)
        total.refund_count += entry.refund_count
        total.refunded = money(total.refunded + entry.refunded)
    return total


def _ordered(totals: dict[str, MethodTotals]) -> list[MethodTotals]:
    order = [m.value for m in PaymentMethod]
    return sorted(
        totals.values(),
        key=lambda t: (order.index(t.method) if t.method in order else len(order), t.method),
    )


def cashier_name_of(user_id: uuid.UUID | None) -> str:
    if user_id is None:
        return ""
    user = db.session.get(User, user_id)
    return (user.name or user.email) if user is not None else ""


def day_summary(cashier_id: uuid.UUID | str | None, business_date: date) -> DaySummary:
    """The cashier's day: per method count, received, refunded and net; the grand total;
    the payments and refunds; whether it is closed. A closed day shows its frozen totals
    and lists in ``differences`` the methods a recomputation disagrees with (none expected).
    """
    cashier = cashier_of(cashier_id)
    payments = _payment_rows(cashier.id, business_date)
    refunds = _refund_rows(cashier.id, business_date)
    live = _method_totals(payments, refunds)
    day = closed_day(cashier.id, business_date)
    differences: list[str] = []
    if day is None:
        methods = _ordered(live)
    else:
        frozen = {
            key: MethodTotals.from_json(key, value) for key, value in (day.totals or {}).items()
        }
        methods = _ordered(frozen)
        for key in sorted(set(frozen) | set(live)):
            mine = frozen.get(key, MethodTotals(key)).as_json()
            now = live.get(key, MethodTotals(key)).as_json()
            if mine != now:
                differences.append(key)
    return DaySummary(
        cashier=cashier,
        business_date=business_date,
        methods=methods,
        total=_grand_total(methods),
        payments=payments,
        refunds=refunds,
        day=day,
        closed_by_name=cashier_name_of(day.closed_by) if day else "",
        differences=differences,
    )


# --- closing a day -------------------------------------------------------------------------


def close_day(
    cashier_id: uuid.UUID | str | None,
    business_date: date,
    note: str = "",
    *,
    may_close_others: bool = False,
) -> CashUpDay:
    """Close the cashier's day: its totals per method are frozen into a ``CashUpDay``.

    A cashier closes their own day; ``may_close_others`` (finance, owner: see
    ``oversees_cash_up``) any cashier's. Not a future day (422), not twice (409).
    """
    cashier = cashier_of(cashier_id)
    actor = current_actor_user_id()
    if cashier.id != actor and not may_close_others:
        raise Forbidden(_l("You can close only your own cash-up day."))
    if business_date > local_today():
        raise ValidationFailed(
            _l("A day in the future cannot be closed."),
            fields={"date": [_l("Cannot be in the future.")]},
        )
    note = (note or "").strip()
    if len(note) > MAX_NOTE:
        raise ValidationFailed(
            _l("The note is too long."),
            fields={"note": [_l("At most %(num)s characters.", num=MAX_NOTE)]},
        )
    # The lock first: every payment transaction that checked this day before has committed.
    lock_day(cashier.id, business_date)
    if closed_day(cashier.id, business_date) is not None:
        raise Conflict(
            _l("The cash-up of %(day)s is already closed.", day=business_date.isoformat()),
            code="already_closed",
        )
    payments = _payment_rows(cashier.id, business_date)
    refunds = _refund_rows(cashier.id, business_date)
    methods = _ordered(_method_totals(payments, refunds))
    total = _grand_total(methods)
    day = CashUpDay(
        cashier_id=cashier.id,
        business_date=business_date,
        payment_count=total.count,
        received=total.received,
        refunded=total.refunded,
        totals={entry.method: entry.as_json() for entry in methods},
        closed_at=datetime.now(UTC),
        closed_by=actor,
        note=note,
    )
    db.session.add(day)
    db.session.flush()
    return day


# --- lists ---------------------------------------------------------------------------------


@dataclass
class CashierDay:
    """One cashier's activity on a day, for finance's overview."""

    cashier: User
    payment_count: int
    received: Decimal
    refund_count: int
    refunded: Decimal
    day: CashUpDay | None

    @property
    def cashier_name(self) -> str:
        return self.cashier.name or self.cashier.email

    @property
    def net(self) -> Decimal:
        return money(self.received - self.refunded)

    @property
    def closed(self) -> bool:
        return self.day is not None


def cashiers_with_activity(business_date: date) -> list[CashierDay]:
    """Every user with payments received, refunds made or a closed cash-up on that day,
    with their totals and whether their day is closed (by name)."""
    paid = dict(
        (row[0], (row[1], row[2]))
        for row in db.session.execute(
            select(Payment.received_by, func.count(), func.coalesce(func.sum(Payment.amount), 0))
            .where(
                Payment.received_by.is_not(None),
                _on_day(Payment.business_date, Payment.paid_at, business_date),
            )
            .group_by(Payment.received_by)
        )
    )
    refunded = dict(
        (row[0], (row[1], row[2]))
        for row in db.session.execute(
            select(Refund.created_by, func.count(), func.coalesce(func.sum(Refund.amount), 0))
            .where(
                Refund.created_by.is_not(None),
                Refund.status == RefundStatus.SUCCEEDED,
                _on_day(Refund.business_date, Refund.refunded_at, business_date),
            )
            .group_by(Refund.created_by)
        )
    )
    days = {
        day.cashier_id: day
        for day in db.session.scalars(
            select(CashUpDay).where(CashUpDay.business_date == business_date)
        )
    }
    ids = set(paid) | set(refunded) | set(days)
    if not ids:
        return []
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}
    result = [
        CashierDay(
            cashier=users[user_id],
            payment_count=int(paid.get(user_id, (0, 0))[0]),
            received=money(paid.get(user_id, (0, 0))[1]),
            refund_count=int(refunded.get(user_id, (0, 0))[0]),
            refunded=money(refunded.get(user_id, (0, 0))[1]),
            day=days.get(user_id),
        )
        for user_id in ids
        if user_id in users
    ]
    result.sort(key=lambda c: (c.cashier_name, str(c.cashier.id)))
    return result


def closed_days(
    first: date, last: date, cashier_id: uuid.UUID | None = None
) -> list[tuple[CashUpDay, str, str]]:
    """Closed days from ``first`` to ``last`` (at most a year), newest first, with the
    cashier's and the closer's names; of one cashier or of everyone."""
    if last < first:
        raise ValidationFailed(
            _l("The start date is after the end date."),
            fields={"from": [_l("Must not be after the end date.")]},
        )
    if (last - first).days >= MAX_RANGE_DAYS:
        raise ValidationFailed(
            _l("Choose at most %(num)s days.", num=MAX_RANGE_DAYS),
            fields={"from": [_l("Choose at most %(num)s days.", num=MAX_RANGE_DAYS)]},
        )
    query = (
        select(CashUpDay)
        .where(CashUpDay.business_date >= first, CashUpDay.business_date <= last)
        .order_by(CashUpDay.business_date.desc(), CashUpDay.closed_at.desc(), CashUpDay.id)
    )
    if cashier_id is not None:
        query = query.where(CashUpDay.cashier_id == cashier_id)
    days = list(db.session.scalars(query))
    user_ids = {d.cashier_id for d in days} | {d.closed_by for d in days if d.closed_by}
    users = (
        {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))}
        if user_ids
        else {}
    )

    def name(user_id):
        user = users.get(user_id)
        return (user.name or user.email) if user is not None else ""

    return [(day, name(day.cashier_id), name(day.closed_by)) for day in days]
