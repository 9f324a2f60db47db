"""A household's statement (对账单): its account history with a running balance.

Entries, in date order (same day: bills, then credits, then payments):

- a bill issued (``issued_on``): a debit, ``+amount``;
- a credit (红冲, ``credited_on``): ``−amount``, with its reason;
- a payment (``paid_at``, as a local date): ``−amount``, whole — whether allocated to bills
  or still the household's prepaid credit (预收);
- a refund (``refunded_at``): ``+amount`` — money given back, owed again or taken from the
  prepaid credit; a refund the gateway refused (failed) is left out, it gave nothing back.

The balance is what the household owes (> 0) or has paid ahead (< 0). With a date window the
statement opens with the balance of everything before it. Totals: billed, credited and paid
within the window; ``outstanding`` (unpaid, uncredited bills) and ``prepaid_credit``
(unallocated payments) as they stand now, whatever the window; ``refunded`` within it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ruihe_saas.billing.models import Bill, BillCredit, BillLine
from ruihe_saas.errors import ValidationFailed
from ruihe_saas.estates.models import Household
from ruihe_saas.extensions import db
from ruihe_saas.payments.models import Payment, Refund, RefundStatus

ZERO = Decimal("0.00")
BILL, CREDIT, PAYMENT, REFUND = "bill", "credit", "payment", "refund"
KIND_ORDER = {BILL: 0, CREDIT: 1, PAYMENT: 2, REFUND: 3}


@dataclass
class StatementEntry:
    on: date
    kind: str  # "bill", "credit", "payment" or "refund"
    amount: Decimal  # signed: + owed (bill, refund), − credit or payment
    balance: Decimal = ZERO  # after this entry
    bill_id: uuid.UUID | None = None
    bill_number: str | None = None
    period: str | None = None
    line_name: str | None = None  # credits: the line credited
    reason: str | None = None  # credits, refunds
    payment_id: uuid.UUID | None = None  # payments, refunds (the payment refunded)
    method: str | None = None  # payments, refunds
    reference: str | None = None  # payments, refunds
    sort_key: tuple = ()

    @property
    def debit(self) -> Decimal | None:
        return self.amount if self.amount > 0 else None

    @property
    def credit(self) -> Decimal | None:
        return -self.amount if self.amount < 0 else None


@dataclass
class StatementTotals:
    billed: Decimal = ZERO
    credited: Decimal = ZERO
    paid: Decimal = ZERO
    refunded: Decimal = ZERO
    outstanding: Decimal = ZERO
    prepaid_credit: Decimal = ZERO


@dataclass
class Statement:
    household_id: uuid.UUID
    start: date | None
    end: date | None
    opening_balance: Decimal = ZERO
    closing_balance: Decimal = ZERO
    entries: list[StatementEntry] = field(default_factory=list)
    totals: StatementTotals = field(default_factory=StatementTotals)


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "Asia/Shanghai")


def _instant(day: date) -> datetime:
    """The first moment of ``day`` where the tenant works, in UTC."""
    return datetime.combine(day, time.min, tzinfo=_zone()).astimezone(UTC)


def _within(column, start, end, *, instant: bool = False):
    """SQL conditions for ``start <= column <= end`` (days; ``instant``: a timestamp)."""
    conditions = []
    if start is not None:
        conditions.append(column >= (_instant(start) if instant else start))
    if end is not None:
        upper = end + timedelta(days=1)
        conditions.append(column < _instant(upper) if instant else column <= end)
    return conditions


def _before(column, start, *, instant: bool = False):
    return column < (_instant(start) if instant else start)


def _sum(column, *conditions) -> Decimal:
    value = db.session.scalar(select(func.coalesce(func.sum(column), 0)).where(*conditions))
    return Decimal(value or 0).quantize(Decimal("0.01"))


def _opening_balance(household_id: uuid.UUID, start: date | None) -> Decimal:
    if start is None:
        return ZERO
    billed = _sum(Bill.amount, Bill.household_id == household_id, _before(Bill.issued_on, start))
    credited = _sum(
        BillCredit.amount,
        BillCredit.household_id == household_id,
        _before(BillCredit.credited_on, start),
    )
    paid = _sum(
        Payment.amount,
        Payment.household_id == household_id,
        _before(Payment.paid_at, start, instant=True),
    )
    refunded = _sum(
        Refund.amount,
        Refund.household_id == household_id,
        Refund.status != RefundStatus.FAILED,
        _before(Refund.refunded_at, start, instant=True),
    )
    return billed - credited - paid + refunded


def _entries(household_id: uuid.UUID, start: date | None, end: date | None):
    bills = db.session.scalars(
        select(Bill).where(Bill.household_id == household_id, *_within(Bill.issued_on, start, end))
    )
    for bill in bills:
        yield StatementEntry(
            on=bill.issued_on,
            kind=BILL,
            amount=bill.amount,
            bill_id=bill.id,
            bill_number=bill.number,
            period=bill.period,
            sort_key=(bill.period, bill.number),
        )
    credits = db.session.execute(
        select(BillCredit, Bill.number, Bill.period, BillLine.name)
        .join(Bill, Bill.id == BillCredit.bill_id)
        .join(BillLine, BillLine.id == BillCredit.bill_line_id)
        .where(
            BillCredit.household_id == household_id,
            *_within(BillCredit.credited_on, start, end),
        )
    )
    for credit, number, period, line_name in credits:
        yield StatementEntry(
            on=credit.credited_on,
            kind=CREDIT,
            amount=-credit.amount,
            bill_id=credit.bill_id,
            bill_number=number,
            period=period,
            line_name=line_name,
            reason=credit.reason,
            sort_key=(credit.created_at or datetime.min.replace(tzinfo=UTC), str(credit.id)),
        )
    payments = db.session.scalars(
        select(Payment).where(
            Payment.household_id == household_id,
            *_within(Payment.paid_at, start, end, instant=True),
        )
    )
    zone = _zone()
    for payment in payments:
        yield StatementEntry(
            on=payment.paid_at.astimezone(zone).date(),
            kind=PAYMENT,
            amount=-payment.amount,
            payment_id=payment.id,
            method=payment.method.value,
            reference=payment.reference,
            sort_key=(payment.paid_at, str(payment.id)),
        )
    refunds = db.session.scalars(
        select(Refund).where(
            Refund.household_id == household_id,
            Refund.status != RefundStatus.FAILED,
            *_within(Refund.refunded_at, start, end, instant=True),
        )
    )
    for refund in refunds:
        yield StatementEntry(
            on=refund.refunded_at.astimezone(zone).date(),
            kind=REFUND,
            amount=refund.amount,
            reason=refund.reason,
            payment_id=refund.payment_id,
            method=refund.method.value,
            reference=refund.reference,
            sort_key=(refund.refunded_at, str(refund.id)),
        )


def _totals(household_id: uuid.UUID, entries: list[StatementEntry]) -> StatementTotals:
    totals = StatementTotals()
    for entry in entries:
        if entry.kind == BILL:
            totals.billed += entry.amount
        elif entry.kind == CREDIT:
            totals.credited -= entry.amount
        elif entry.kind == REFUND:
            totals.refunded += entry.amount
        else:
            totals.paid -= entry.amount
    totals.outstanding = _sum(
        Bill.amount - Bill.credited - Bill.paid, Bill.household_id == household_id
    )
    totals.prepaid_credit = _sum(Payment.unallocated, Payment.household_id == household_id)
    return totals


def household_statement(
    household: Household, start: date | None = None, end: date | None = None
) -> Statement:
    """The statement of ``household`` from ``start`` to ``end`` (days, inclusive; either may
    be None: from the beginning / up to now)."""
    if start is not None and end is not None and start > end:
        raise ValidationFailed(
            _l("The end date is before the start date."),
            fields={"to": [_l("Must not be before the start date.")]},
        )
    entries = sorted(
        _entries(household.id, start, end),
        key=lambda e: (e.on, KIND_ORDER[e.kind], e.sort_key),
    )
    statement = Statement(household.id, start, end)
    statement.opening_balance = balance = _opening_balance(household.id, start)
    for entry in entries:
        balance += entry.amount
        entry.balance = balance
    statement.entries = entries
    statement.closing_balance = balance
    statement.totals = _totals(household.id, entries)
    return statement
