"""Payments and how they settle bills: recording a payment, allocating it to bill lines,
prepaid credit (预收) and applying it to bills issued later. Services flush, never commit.

Allocation order ("oldest first"): bill period, due date, bill; within a bill the fee
items' schedule position, then code. What a payment cannot settle stays on it as
``Payment.unallocated``, the household's prepaid credit.

Concurrency: every allocation first locks the household's unsettled bills
(``SELECT … FOR UPDATE``, in id order, on PostgreSQL; SQLite serialises writers anyway) and
re-reads the bills, lines and payments it changes, so two payments or a payment and the
billing run never allocate the same outstanding amount twice. The database backs this with
``CHECK (credited + paid <= amount)`` on bills and lines and ``unallocated >= 0`` on payments.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ruihe_saas.billing.models import Bill, BillLine, BillStatus, bill_status_for
from ruihe_saas.errors import NotFound, ValidationFailed
from ruihe_saas.estates.models import Household
from ruihe_saas.extensions import db
from ruihe_saas.fees.models import FeeItem
from ruihe_saas.ledger import postings
from ruihe_saas.payments.models import AllocationSource, Payment, PaymentAllocation, PaymentMethod
from ruihe_saas.tenancy.context import current_actor_user_id
from ruihe_saas.tenancy.lookup import get_owned

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_AMOUNT = Decimal("999999999999.99")  # NUMERIC(14, 2)
UNSETTLED = (BillStatus.OPEN, BillStatus.PARTIALLY_PAID)


def money(value) -> Decimal:
    """``value`` as a Decimal rounded half up to 0.01 yuan."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


# --- recording a payment -------------------------------------------------------------------


def record_payment(
    household_id: uuid.UUID | str,
    amount,
    method: PaymentMethod | str,
    *,
    paid_at: datetime | None = None,
    reference: str = "",
    bill_ids: Iterable[uuid.UUID | str] | None = None,
    note: str = "",
) -> Payment:
    """Record ``amount`` paid by a household and allocate it to its bills.

    With ``bill_ids`` (bills of this household, else 422) only those bills are settled;
    otherwise the household's outstanding lines oldest first. What is left over stays on the
    payment as prepaid credit. ``paid_at`` (default now; naive means tenant-local time) may
    not lie in the future; the allocations are dated ``paid_at``.
    """
    household = get_owned(Household, household_id)
    if household is None:
        raise NotFound(_l("Household not found."))
    amount = _valid_amount(amount)
    method = _valid_method(method)
    paid_at = _valid_paid_at(paid_at)
    reference = (reference or "").strip()
    if len(reference) > 100:
        raise ValidationFailed(
            _l("The reference is too long."),
            fields={"reference": [_l("At most 100 characters.")]},
        )
    chosen = _chosen_bill_ids(household, bill_ids)
    payment = Payment(
        estate_id=household.estate_id,
        household_id=household.id,
        amount=amount,
        unallocated=amount,
        method=method,
        reference=reference,
        paid_at=paid_at,
        received_by=current_actor_user_id(),
        note=note or "",
    )
    db.session.add(payment)
    db.session.flush()
    lines = _lock_outstanding_lines([household.id], chosen)
    _allocate(lines, [payment], AllocationSource.PAYMENT, paid_at)
    db.session.flush()
    postings.post_payment(payment)  # the ledger: Dr money / Cr 应收, 预收
    return payment


def _valid_amount(value) -> Decimal:
    try:
        amount = Decimal(str(value)) if not isinstance(value, Decimal) else value
        valid = amount.is_finite()
    except (InvalidOperation, ValueError, TypeError):
        valid = False
    if not valid or amount <= 0 or amount > MAX_AMOUNT or amount != money(amount):
        raise ValidationFailed(
            _l("The amount must be positive, in yuan with at most 2 decimals."),
            fields={"amount": [_l("Enter an amount greater than 0 with at most 2 decimals.")]},
        )
    return money(amount)


def _valid_method(value) -> PaymentMethod:
    try:
        return PaymentMethod(value)
    except ValueError:
        raise ValidationFailed(
            _l("Unknown payment method."), fields={"method": [_l("Unknown payment method.")]}
        ) from None


def local_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "Asia/Shanghai")


def _valid_paid_at(value: datetime | None) -> datetime:
    now = datetime.now(UTC)
    if value is None:
        return now
    if value.tzinfo is None:
        value = value.replace(tzinfo=local_zone())
    if value > now:
        raise ValidationFailed(
            _l("The payment time cannot be in the future."),
            fields={"paid_at": [_l("Cannot be in the future.")]},
        )
    return value.astimezone(UTC)


def _chosen_bill_ids(household: Household, bill_ids) -> list[uuid.UUID] | None:
    if bill_ids is None:
        return None
    wanted: set[uuid.UUID] = set()
    for value in bill_ids:
        try:
            wanted.add(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
        except ValueError:
            raise ValidationFailed(
                _l("Unknown bill."), fields={"bill_ids": [_l("Unknown bill.")]}
            ) from None
    if not wanted:
        raise ValidationFailed(
            _l("Choose at least one bill."), fields={"bill_ids": [_l("Choose at least one bill.")]}
        )
    found = set(
        db.session.scalars(
            select(Bill.id).where(Bill.household_id == household.id, Bill.id.in_(wanted))
        )
    )
    if found != wanted:
        raise ValidationFailed(
            _l("Some bills are not bills of this household."),
            fields={"bill_ids": [_l("Not a bill of this household.")]},
        )
    return sorted(wanted)


# --- prepaid credit ------------------------------------------------------------------------


def prepaid_credit(household_id: uuid.UUID | str) -> Decimal:
    """The household's prepaid credit: what its payments have not yet allocated."""
    total = db.session.scalar(
        select(func.coalesce(func.sum(Payment.unallocated), 0)).where(
            Payment.household_id == household_id
        )
    )
    return money(total or 0)


def apply_prepaid_credit(
    household_ids: Iterable[uuid.UUID], *, at: datetime | None = None
) -> Decimal:
    """Spend the prepaid credit of these households on their outstanding lines, oldest
    payments first and oldest lines first (allocations of source ``prepaid_credit`` dated
    ``at``, default now). Returns the total applied.

    Called by the billing run after each chunk of bills: one query finds the households with
    credit among ``household_ids``; only those are locked and processed.
    """
    ids = list(set(household_ids))
    if not ids:
        return ZERO
    with_credit = list(
        db.session.scalars(
            select(Payment.household_id)
            .where(Payment.household_id.in_(ids), Payment.unallocated > 0)
            .group_by(Payment.household_id)
        )
    )
    if not with_credit:
        return ZERO
    lines = _lock_outstanding_lines(with_credit, None)
    if not lines:
        return ZERO
    payments = db.session.scalars(
        select(Payment)
        .where(Payment.household_id.in_(with_credit), Payment.unallocated > 0)
        .order_by(Payment.paid_at, Payment.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    by_household: dict[uuid.UUID, list[Payment]] = defaultdict(list)
    for payment in payments:
        by_household[payment.household_id].append(payment)
    lines_by_household: dict[uuid.UUID, list[_Line]] = defaultdict(list)
    for line in lines:
        lines_by_household[line.line.household_id].append(line)
    applied = ZERO
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    for household_id, household_lines in lines_by_household.items():
        applied += _allocate(
            household_lines,
            by_household.get(household_id, []),
            AllocationSource.PREPAID_CREDIT,
            moment,
        )
    postings.post_pending_prepaid_allocations()  # the ledger: Dr 预收 / Cr 应收 (flushes)
    db.session.flush()
    return applied


# --- allocation ----------------------------------------------------------------------------


@dataclass
class _Line:
    bill: Bill
    line: BillLine


def _lock_outstanding_lines(
    household_ids: list[uuid.UUID], bill_ids: list[uuid.UUID] | None
) -> list[_Line]:
    """The unsettled lines of these households' unsettled bills (or of ``bill_ids``), oldest
    first, after locking those bills."""
    bill_query = (
        select(Bill)
        .where(Bill.household_id.in_(household_ids), Bill.status.in_(UNSETTLED))
        .order_by(Bill.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if bill_ids is not None:
        bill_query = bill_query.where(Bill.id.in_(bill_ids))
    bills = {bill.id: bill for bill in db.session.scalars(bill_query)}
    if not bills:
        return []
    rows = db.session.execute(
        select(BillLine, FeeItem.position)
        .outerjoin(
            FeeItem,
            (FeeItem.tenant_id == BillLine.tenant_id) & (FeeItem.id == BillLine.fee_item_id),
        )
        .where(BillLine.bill_id.in_(list(bills)))
        .execution_options(populate_existing=True)
    ).all()
    lines = [
        (bills[line.bill_id], position or 0, line)
        for line, position in rows
        if line.amount - line.credited - line.paid > 0
    ]
    lines.sort(
        key=lambda r: (r[0].period, r[0].due_date, r[0].id, r[1], r[2].fee_item_code, r[2].id)
    )
    return [_Line(bill, line) for bill, _position, line in lines]


def _allocate(
    lines: list[_Line], payments: list[Payment], source: AllocationSource, at: datetime
) -> Decimal:
    """Pour the payments' unallocated amounts into the lines, in order; returns the total."""
    total = ZERO
    queue = [p for p in payments if p.unallocated > 0]
    index = 0
    for entry in lines:
        line, bill = entry.line, entry.bill
        while index < len(queue):
            outstanding = line.amount - line.credited - line.paid
            if outstanding <= 0:
                break
            payment = queue[index]
            take = min(outstanding, payment.unallocated)
            db.session.add(
                PaymentAllocation(
                    estate_id=line.estate_id,
                    household_id=line.household_id,
                    payment_id=payment.id,
                    bill_id=bill.id,
                    bill_line_id=line.id,
                    amount=take,
                    source=source,
                    allocated_at=at,
                )
            )
            line.paid += take
            bill.paid += take
            bill.status = bill_status_for(bill.amount, bill.credited, bill.paid)
            payment.unallocated -= take
            total += take
            if payment.unallocated <= 0:
                index += 1
        if index >= len(queue):
            break
    return total


def allocations_of(payment: Payment) -> list[PaymentAllocation]:
    return list(
        db.session.scalars(
            select(PaymentAllocation)
            .where(PaymentAllocation.payment_id == payment.id)
            .order_by(PaymentAllocation.allocated_at, PaymentAllocation.id)
        )
    )
