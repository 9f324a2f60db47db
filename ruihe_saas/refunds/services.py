"""Refunds of payments (退款). Services flush, never commit.

A refund gives back part or all of one payment: first what the payment still holds as
prepaid credit (``Payment.unallocated``), then its allocations newest first
(``allocated_at`` desc, then id desc). Each allocation touched gets one
``AllocationReversal`` (amount > 0), its ``reversed`` grows, and its bill line and bill lose
that much ``paid`` (the bill reopens: status from ``billing.models.bill_status_for``).
Nothing is deleted: the refund and every reversal are dated records.

- Online payments (``method == "online"`` with a ``gateway_payment_id``) are refunded
  through the gateway (``online.settings.active_gateway()``), inside the transaction once
  the local rows are flushed, with a deterministic idempotency key; a gateway error rolls the
  local rows back (a savepoint) and becomes a 409. The gateway's answer sets the status
  (``succeeded`` or ``pending``); ``settle_gateway_refund`` later moves a pending refund
  forward (``failed`` restores everything with negative reversals).
- Desk payments are refunded at the desk (``cash``, ``bank_transfer`` or ``original``, the
  default), succeeded at once, dated into the refunding cashier's business day, which must
  still be open (cash-up).
- ``record_gateway_refund`` records a refund made outside the app (the Stripe dashboard),
  once per gateway refund id.

Invariant kept for every payment: ``amount − refunded = Σ(allocation amount − reversed) +
unallocated`` (failed refunds count as not refunded).

Locks (PostgreSQL; SQLite serialises writers): the bills the payment's allocations touch
(``FOR UPDATE``, id order), then their lines, then the payment — the same order as
``payments.services`` (bills before payments), so a refund and a payment or the billing run
never deadlock.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ruihe_saas.billing.models import Bill, BillLine, bill_status_for
from ruihe_saas.errors import Conflict, NotFound, ValidationFailed
from ruihe_saas.estates.models import Estate, Household
from ruihe_saas.extensions import db
from ruihe_saas.ids import new_id
from ruihe_saas.ledger import postings
from ruihe_saas.payments.models import (
    AllocationReversal,
    Payment,
    PaymentAllocation,
    PaymentMethod,
    Refund,
    RefundMethod,
    RefundStatus,
)
from ruihe_saas.payments.services import MAX_AMOUNT, local_zone, money
from ruihe_saas.tenancy.context import current_actor_user_id, require_tenant_id
from ruihe_saas.tenancy.lookup import get_owned
from ruihe_saas.web.pagination import Page, paginate

log = logging.getLogger(__name__)

ZERO = Decimal("0.00")
MAX_REASON = 200
MAX_REFERENCE = 100
MAX_KEY = 100
DESK_REFUND_METHODS = (RefundMethod.ORIGINAL, RefundMethod.CASH, RefundMethod.BANK_TRANSFER)
# refunds that took money back (a failed one restored everything)
EFFECTIVE = (RefundStatus.PENDING, RefundStatus.SUCCEEDED)


# --- validation ----------------------------------------------------------------------------


def _clean_reason(reason) -> str:
    text = (reason or "").strip() if isinstance(reason, str) else ""
    if not text:
        raise ValidationFailed(
            _l("A reason is required to refund."), fields={"reason": [_l("Required.")]}
        )
    if len(text) > MAX_REASON:
        raise ValidationFailed(
            _l("The reason is too long."),
            fields={"reason": [_l("At most %(max)d characters.", max=MAX_REASON)]},
        )
    return text


def _clean_reference(reference) -> str:
    text = (reference or "").strip() if isinstance(reference, str) else ""
    if len(text) > MAX_REFERENCE:
        raise ValidationFailed(
            _l("The reference is too long."),
            fields={"reference": [_l("At most %(max)d characters.", max=MAX_REFERENCE)]},
        )
    return text


def _clean_key(key) -> str | None:
    if key is None:
        return None
    text = key.strip() if isinstance(key, str) else ""
    if not text or len(text) > MAX_KEY:
        raise ValidationFailed(
            _l("The idempotency key is invalid."),
            fields={
                "idempotency_key": [_l("Use 1 to %(max)d characters.", max=MAX_KEY)],
            },
        )
    return text


def _amount_error() -> ValidationFailed:
    return ValidationFailed(
        _l("The amount must be positive, in yuan with at most 2 decimals."),
        fields={"amount": [_l("Enter an amount greater than 0 with at most 2 decimals.")]},
    )


def _valid_amount(value) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise _amount_error()
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip())
        valid = amount.is_finite()
    except (InvalidOperation, ValueError, TypeError):
        valid = False
    if not valid or amount <= 0 or amount > MAX_AMOUNT or amount != money(amount):
        raise _amount_error()
    return money(amount)


def _is_online(payment: Payment) -> bool:
    return payment.method == PaymentMethod.ONLINE and bool(payment.gateway_payment_id)


def _valid_method(value, online: bool) -> RefundMethod:
    if value in (None, ""):
        return RefundMethod.GATEWAY if online else RefundMethod.ORIGINAL
    try:
        method = RefundMethod(value)
    except ValueError:
        method = None
    allowed = (RefundMethod.GATEWAY,) if online else DESK_REFUND_METHODS
    if method not in allowed:
        message = (
            _l("An online payment is refunded through the payment gateway.")
            if online
            else _l("Choose original method, cash or bank transfer.")
        )
        raise ValidationFailed(_l("Unknown refund method."), fields={"method": [message]})
    return method


def refund_methods_for(payment: Payment) -> tuple[RefundMethod, ...]:
    """The methods a refund of ``payment`` may use (for forms)."""
    return (RefundMethod.GATEWAY,) if _is_online(payment) else DESK_REFUND_METHODS


def refundable(payment: Payment) -> Decimal:
    """What is left to refund of ``payment``."""
    return money(payment.amount - (payment.refunded or ZERO))


# --- reading -------------------------------------------------------------------------------


def get_payment(payment_id) -> Payment:
    payment = get_owned(Payment, payment_id) if payment_id is not None else None
    if payment is None:
        raise NotFound(_l("Payment not found."))
    return payment


def get_refund(refund_id) -> Refund:
    refund = get_owned(Refund, refund_id) if refund_id is not None else None
    if refund is None:
        raise NotFound(_l("Refund not found."))
    return refund


def refunds_of(payment: Payment) -> list[Refund]:
    """The payment's refunds, oldest first (failed ones included)."""
    return list(
        db.session.scalars(
            select(Refund)
            .where(Refund.payment_id == payment.id)
            .order_by(Refund.refunded_at, Refund.id)
        )
    )


def reversals_of(refund: Refund) -> list[AllocationReversal]:
    return list(
        db.session.scalars(
            select(AllocationReversal)
            .where(AllocationReversal.refund_id == refund.id)
            .order_by(AllocationReversal.reversed_at, AllocationReversal.id)
        )
    )


def _zone_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=local_zone()).astimezone(UTC)


def household_refunds(
    household_id: uuid.UUID, start: date | None = None, end: date | None = None
) -> list[Refund]:
    """The household's refunds that gave money back (pending or succeeded; failed ones
    restored everything), refunded from ``start`` to ``end`` (tenant-local days,
    inclusive; either may be None), oldest first. For the household statement: each is a
    debit (+amount) — money that went back to the household."""
    statement = select(Refund).where(
        Refund.household_id == household_id, Refund.status.in_(EFFECTIVE)
    )
    if start is not None:
        statement = statement.where(Refund.refunded_at >= _zone_start(start))
    if end is not None:
        statement = statement.where(Refund.refunded_at < _zone_start(end + timedelta(days=1)))
    return list(db.session.scalars(statement.order_by(Refund.refunded_at, Refund.id)))


def household_refunded(household_id: uuid.UUID, before: date | None = None) -> Decimal:
    """Total refunded to the household (pending or succeeded), all time or before a day."""
    statement = select(func.coalesce(func.sum(Refund.amount), 0)).where(
        Refund.household_id == household_id, Refund.status.in_(EFFECTIVE)
    )
    if before is not None:
        statement = statement.where(Refund.refunded_at < _zone_start(before))
    return money(db.session.scalar(statement) or 0)


def list_refunds(
    *,
    estate_id: uuid.UUID | None = None,
    household_id: uuid.UUID | None = None,
    payment_id: uuid.UUID | None = None,
    start: date | None = None,
    end: date | None = None,
    status: RefundStatus | str | None = None,
    method: RefundMethod | str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> Page:
    """Refunds, newest first. A named estate, household or payment must exist within the
    scope (404); dates are tenant-local days (inclusive)."""
    statement = select(Refund)
    if estate_id is not None:
        if get_owned(Estate, estate_id) is None:
            raise NotFound(_l("Estate not found."))
        statement = statement.where(Refund.estate_id == estate_id)
    if household_id is not None:
        if get_owned(Household, household_id) is None:
            raise NotFound(_l("Household not found."))
        statement = statement.where(Refund.household_id == household_id)
    if payment_id is not None:
        statement = statement.where(Refund.payment_id == get_payment(payment_id).id)
    if start is not None and end is not None and start > end:
        raise ValidationFailed(
            _l("The end date is before the start date."),
            fields={"to": [_l("Must not be before the start date.")]},
        )
    if start is not None:
        statement = statement.where(Refund.refunded_at >= _zone_start(start))
    if end is not None:
        statement = statement.where(Refund.refunded_at < _zone_start(end + timedelta(days=1)))
    if status is not None:
        try:
            statement = statement.where(Refund.status == RefundStatus(status))
        except ValueError:
            raise ValidationFailed(
                _l("The status is invalid."), fields={"status": [_l("Unknown status.")]}
            ) from None
    if method is not None:
        try:
            statement = statement.where(Refund.method == RefundMethod(method))
        except ValueError:
            raise ValidationFailed(
                _l("Unknown refund method."), fields={"method": [_l("Unknown refund method.")]}
            ) from None
    statement = statement.order_by(Refund.refunded_at.desc(), Refund.id.desc())
    return paginate(statement, page, per_page)


@dataclass
class ReversalLine:
    bill_id: uuid.UUID
    bill_line_id: uuid.UUID
    amount: Decimal
    reversed_at: datetime
    bill_number: str = ""
    period: str = ""
    line_name: str = ""


@dataclass
class RefundDetail:
    """A refund with its reversals (bill number, period, line name) and household label."""

    refund: Refund
    household_label: str = ""
    reversals: list[ReversalLine] = field(default_factory=list)

    def __getattr__(self, name):
        refund = self.__dict__.get("refund")
        if refund is None or name.startswith("_"):
            raise AttributeError(name)
        return getattr(refund, name)


def _labels(household_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    from ruihe_saas.billing.bills import household_labels

    return household_labels(household_ids)


def refund_detail(refund: Refund) -> RefundDetail:
    rows = db.session.execute(
        select(AllocationReversal, Bill.number, Bill.period, BillLine.name)
        .join(Bill, Bill.id == AllocationReversal.bill_id)
        .join(BillLine, BillLine.id == AllocationReversal.bill_line_id)
        .where(AllocationReversal.refund_id == refund.id)
        .order_by(AllocationReversal.reversed_at, AllocationReversal.id)
    ).all()
    reversals = [
        ReversalLine(
            bill_id=reversal.bill_id,
            bill_line_id=reversal.bill_line_id,
            amount=reversal.amount,
            reversed_at=reversal.reversed_at,
            bill_number=number,
            period=period,
            line_name=name,
        )
        for reversal, number, period, name in rows
    ]
    label = _labels([refund.household_id]).get(refund.household_id, "")
    return RefundDetail(refund=refund, household_label=label, reversals=reversals)


def household_label(household_id: uuid.UUID) -> str:
    return _labels([household_id]).get(household_id, "")


@dataclass
class AllocationLine:
    """One allocation of a payment, as a refund would take it back (newest first)."""

    bill_id: uuid.UUID
    bill_number: str
    period: str
    line_name: str
    amount: Decimal
    reversed: Decimal

    @property
    def net(self) -> Decimal:
        return self.amount - self.reversed


def payment_allocations(payment: Payment) -> list[AllocationLine]:
    """The payment's allocations in the order a refund takes them back (newest first)."""
    rows = db.session.execute(
        select(PaymentAllocation, Bill.number, Bill.period, BillLine.name)
        .join(Bill, Bill.id == PaymentAllocation.bill_id)
        .join(BillLine, BillLine.id == PaymentAllocation.bill_line_id)
        .where(PaymentAllocation.payment_id == payment.id)
        .order_by(PaymentAllocation.allocated_at.desc(), PaymentAllocation.id.desc())
    ).all()
    return [
        AllocationLine(a.bill_id, number, period, name, a.amount, a.reversed)
        for a, number, period, name in rows
    ]


def summaries(page: Page) -> Page:
    """The page's refunds with household labels (no reversals)."""
    labels = _labels(refund.household_id for refund in page.items)
    page.items = [RefundDetail(r, labels.get(r.household_id, "")) for r in page.items]
    return page


# --- locking -------------------------------------------------------------------------------


def _lock(model, ids: Iterable[uuid.UUID]) -> dict:
    """Rows of ``model`` by id, locked FOR UPDATE in id order and re-read."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    rows = db.session.scalars(
        select(model)
        .where(model.id.in_(ids))
        .order_by(model.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {row.id: row for row in rows}


def _lock_bills(bill_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Bill]:
    return _lock(Bill, bill_ids)


def _lock_lines(line_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, BillLine]:
    return _lock(BillLine, line_ids)


def _lock_payment(payment_id: uuid.UUID) -> Payment:
    payment = db.session.scalar(
        select(Payment)
        .where(Payment.id == payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if payment is None:
        raise NotFound(_l("Payment not found."))
    return payment


def _allocations(payment_id: uuid.UUID) -> list[PaymentAllocation]:
    """The payment's allocations, newest first (the order refunds take them back)."""
    return list(
        db.session.scalars(
            select(PaymentAllocation)
            .where(PaymentAllocation.payment_id == payment_id)
            .order_by(PaymentAllocation.allocated_at.desc(), PaymentAllocation.id.desc())
            .execution_options(populate_existing=True)
        )
    )


@dataclass
class _Locked:
    payment: Payment
    allocations: list[PaymentAllocation]
    bills: dict[uuid.UUID, Bill]
    lines: dict[uuid.UUID, BillLine]


def _lock_for_refund(payment_id: uuid.UUID) -> _Locked:
    """Lock the bills and lines of the payment's allocations, then the payment; re-read the
    allocations under the payment lock (one added meanwhile gets its bill locked too)."""
    bill_ids = set(
        db.session.scalars(
            select(PaymentAllocation.bill_id).where(PaymentAllocation.payment_id == payment_id)
        )
    )
    bills = _lock_bills(bill_ids)
    payment = _lock_payment(payment_id)
    allocations = _allocations(payment_id)
    missing = {a.bill_id for a in allocations} - set(bills)
    if missing:
        bills.update(_lock_bills(missing))
    lines = _lock_lines(a.bill_line_id for a in allocations)
    return _Locked(payment, allocations, bills, lines)


# --- moving money --------------------------------------------------------------------------


def _take_back(locked: _Locked, refund: Refund, amount: Decimal, at: datetime) -> None:
    """Take ``amount`` back from the payment: prepaid credit first, then allocations newest
    first, one reversal per allocation touched (the refund is flushed, its parts set)."""
    payment = locked.payment
    from_credit = refund.from_credit
    payment.unallocated -= from_credit
    remaining = amount - from_credit
    for allocation in locked.allocations:
        if remaining <= 0:
            break
        net = allocation.amount - allocation.reversed
        if net <= 0:
            continue
        take = min(net, remaining)
        line = locked.lines[allocation.bill_line_id]
        bill = locked.bills[allocation.bill_id]
        allocation.reversed += take
        line.paid -= take
        bill.paid -= take
        bill.status = bill_status_for(bill.amount, bill.credited, bill.paid)
        db.session.add(
            AllocationReversal(
                estate_id=allocation.estate_id,
                household_id=allocation.household_id,
                refund_id=refund.id,
                allocation_id=allocation.id,
                bill_id=allocation.bill_id,
                bill_line_id=allocation.bill_line_id,
                amount=take,
                reversed_at=at,
            )
        )
        remaining -= take
    if remaining > 0:  # the invariant says this cannot happen
        raise Conflict(_l("The payment's allocations do not add up; nothing was refunded."))
    payment.refunded = (payment.refunded or ZERO) + amount


def _restore(locked: _Locked, refund: Refund, at: datetime) -> None:
    """Undo a refund the gateway refused: a negative reversal per reversal, lines and bills
    paid again — as far as each line still has room (a line paid or voided meanwhile keeps
    that); what finds no room becomes prepaid credit again."""
    payment = locked.payment
    by_id = {allocation.id: allocation for allocation in locked.allocations}
    net_reversed: dict[uuid.UUID, Decimal] = {}
    for reversal in reversals_of(refund):
        net_reversed[reversal.allocation_id] = (
            net_reversed.get(reversal.allocation_id, ZERO) + reversal.amount
        )
    back_to_credit = refund.from_credit
    for allocation_id, taken in sorted(net_reversed.items(), key=lambda item: str(item[0])):
        if taken <= 0:
            continue
        allocation = by_id[allocation_id]
        line = locked.lines[allocation.bill_line_id]
        bill = locked.bills[allocation.bill_id]
        room = max(line.amount - line.credited - line.paid, ZERO)
        give = min(taken, room, allocation.reversed)
        if give > 0:
            allocation.reversed -= give
            line.paid += give
            bill.paid += give
            bill.status = bill_status_for(bill.amount, bill.credited, bill.paid)
            db.session.add(
                AllocationReversal(
                    estate_id=allocation.estate_id,
                    household_id=allocation.household_id,
                    refund_id=refund.id,
                    allocation_id=allocation.id,
                    bill_id=allocation.bill_id,
                    bill_line_id=allocation.bill_line_id,
                    amount=-give,
                    reversed_at=at,
                )
            )
        back_to_credit += taken - give
    payment.unallocated += back_to_credit
    payment.refunded = (payment.refunded or ZERO) - refund.amount


# --- refunding -----------------------------------------------------------------------------


def _find_by_key(key: str) -> Refund | None:
    return db.session.scalar(select(Refund).where(Refund.idempotency_key == key))


def _replay(existing: Refund, payment_id, amount) -> Refund:
    """The first refund made with this key, if the retry asks for the same thing (422)."""
    same_payment = str(existing.payment_id) == str(payment_id)
    try:
        same_amount = _valid_amount(amount) == existing.amount
    except ValidationFailed:
        same_amount = False
    if not (same_payment and same_amount):
        raise ValidationFailed(
            _l("This idempotency key was already used for another refund."),
            fields={"idempotency_key": [_l("Already used for another refund.")]},
        )
    return existing


def _gateway_key(payment: Payment, amount: Decimal, key: str | None) -> str:
    """Deterministic: a retry of the same request reaches the gateway with the same key (it
    answers with the refund it already made instead of refunding twice)."""
    if key is not None:
        digest = hashlib.sha256(f"{require_tenant_id()}:{key}".encode()).hexdigest()[:40]
        return f"refund:{payment.id}:k:{digest}"
    count = db.session.scalar(
        select(func.count()).select_from(Refund).where(Refund.payment_id == payment.id)
    )
    fen = int(amount * 100)
    return f"refund:{payment.id}:{count}:{fen}"


def refund_payment(
    payment_id: uuid.UUID | str,
    amount,
    reason: str,
    *,
    method: RefundMethod | str | None = None,
    idempotency_key: str | None = None,
    reference: str = "",
) -> Refund:
    """Refund ``amount`` of a payment (422 with field messages on bad input, nothing
    stored). A replay with the same ``idempotency_key`` returns the first refund."""
    refund, _created = refund_payment_once(
        payment_id,
        amount,
        reason,
        method=method,
        idempotency_key=idempotency_key,
        reference=reference,
    )
    return refund


def refund_payment_once(
    payment_id: uuid.UUID | str,
    amount,
    reason: str,
    *,
    method: RefundMethod | str | None = None,
    idempotency_key: str | None = None,
    reference: str = "",
) -> tuple[Refund, bool]:
    """``refund_payment``, also telling whether the refund was made now (False: a replay
    of the same idempotency key, or the gateway answered with a refund already recorded)."""
    key = _clean_key(idempotency_key)
    if key is not None and (existing := _find_by_key(key)) is not None:
        return _replay(existing, payment_id, amount), False
    found = get_payment(payment_id)
    errors: dict[str, list] = {}
    checks = (
        ("reason", lambda: _clean_reason(reason)),
        ("amount", lambda: _valid_amount(amount)),
        ("method", lambda: _valid_method(method, _is_online(found))),
        ("reference", lambda: _clean_reference(reference)),
    )
    values = {}
    for name, check in checks:
        try:
            values[name] = check()
        except ValidationFailed as error:
            errors.update(error.fields)
    if errors:
        raise ValidationFailed(_l("The refund is not valid."), fields=errors)
    amount, method = values["amount"], values["method"]

    locked = _lock_for_refund(found.id)
    payment = locked.payment
    if key is not None and (existing := _find_by_key(key)) is not None:
        return _replay(existing, payment_id, amount), False  # a concurrent retry won the lock
    left = refundable(payment)
    if amount > left:
        raise ValidationFailed(
            _l("The amount is more than what is left to refund."),
            fields={"amount": [_l("At most %(amount)s can be refunded.", amount=left)]},
        )
    now = datetime.now(UTC)
    online = method == RefundMethod.GATEWAY
    actor = current_actor_user_id()
    from ruihe_saas.cashup.services import business_date_of, ensure_day_open

    business_date = business_date_of(now)
    if not online:
        ensure_day_open(actor, business_date, field="amount")

    try:
        # a savepoint: a gateway refusal undoes the local rows (and only them)
        with db.session.begin_nested():
            refund = Refund(
                id=new_id(),
                estate_id=payment.estate_id,
                household_id=payment.household_id,
                payment_id=payment.id,
                amount=amount,
                from_credit=min(payment.unallocated, amount),
                from_bills=amount - min(payment.unallocated, amount),
                method=method,
                status=RefundStatus.PENDING if online else RefundStatus.SUCCEEDED,
                reason=values["reason"],
                reference=values["reference"],
                refunded_at=now,
                business_date=business_date,
                idempotency_key=key,
                created_by=actor,
            )
            db.session.add(refund)
            db.session.flush()
            _take_back(locked, refund, amount, now)
            db.session.flush()
            if online:
                replayed = _refund_at_gateway(payment, refund, key)
                if replayed is not None:
                    raise _Replayed(replayed)
                db.session.flush()
    except _Replayed as replay:
        return replay.refund, False
    postings.post_refund(refund)  # the ledger: Cr money / Dr 应收, 预收
    return refund, True


class _Replayed(Exception):
    """The gateway answered with a refund already recorded: undo ours, return that one."""

    def __init__(self, refund: Refund):
        super().__init__("replayed")
        self.refund = refund


def _refund_at_gateway(payment: Payment, refund: Refund, key: str | None) -> Refund | None:
    """Ask the gateway for the money; sets the refund's gateway id and status. Returns an
    existing refund when the gateway answered with one already recorded (a replay)."""
    from ruihe_saas.online.settings import active_gateway, connected_account_of
    from ruihe_saas.payments.gateway import (
        GatewayError,
        GatewayNotConfigured,
        RefundRequest,
        to_minor_units,
    )

    try:
        gateway, settings = active_gateway()
        result = gateway.refund(
            RefundRequest(
                idempotency_key=_gateway_key(payment, refund.amount, key),
                payment_intent_id=payment.gateway_payment_id,
                amount_fen=to_minor_units(refund.amount),
                connected_account=_connected_account(payment) or connected_account_of(settings),
                metadata={
                    "tenant_id": str(payment.tenant_id),
                    "payment_id": str(payment.id),
                    "refund_id": str(refund.id),
                },
            )
        )
    except GatewayNotConfigured as error:
        raise Conflict(
            _l("Online payment is not configured: the refund was not made."),
            fields={"method": [error.message]},
            code="gateway_not_configured",
        ) from None
    except GatewayError as error:
        raise Conflict(
            _l("The payment gateway refused the refund: %(message)s", message=error.message),
            fields={"amount": [error.message]},
            code="gateway_refused",
        ) from None
    if result.status == RefundStatus.FAILED.value:
        raise Conflict(
            _l("The payment gateway refused the refund."),
            fields={"amount": [_l("The payment gateway refused the refund.")]},
            code="gateway_refused",
        )
    existing = db.session.scalar(
        select(Refund).where(Refund.gateway_refund_id == result.refund_id, Refund.id != refund.id)
    )
    if existing is not None:
        return existing
    refund.gateway_refund_id = result.refund_id
    refund.status = RefundStatus.SUCCEEDED if result.status == "succeeded" else RefundStatus.PENDING
    return None


def _connected_account(payment: Payment) -> str | None:
    """The Stripe account the payment was made on (its checkout session's), if known."""
    if payment.checkout_session_id is None:
        return None
    from ruihe_saas.payments.models import CheckoutSession

    session = db.session.scalar(
        select(CheckoutSession).where(CheckoutSession.id == payment.checkout_session_id)
    )
    return session.connected_account_id if session is not None else None


def _by_gateway_id(gateway_refund_id: str) -> Refund | None:
    return db.session.scalar(select(Refund).where(Refund.gateway_refund_id == gateway_refund_id))


def record_gateway_refund(
    payment: Payment,
    amount,
    gateway_refund_id: str,
    *,
    reason: str = "",
    status: RefundStatus | str = RefundStatus.SUCCEEDED,
) -> Refund | None:
    """Record a refund made at the gateway outside the app (the Stripe dashboard), once:
    the refund already recorded for ``gateway_refund_id`` is returned as is. Same reversal
    logic as ``refund_payment``, method ``gateway``, no gateway call. Returns None (and
    records nothing) when the amount is invalid or more than is left to refund."""
    if not gateway_refund_id:
        return None
    existing = _by_gateway_id(gateway_refund_id)
    if existing is not None:
        return existing
    try:
        amount = _valid_amount(amount)
    except ValidationFailed:
        return None
    status = RefundStatus(status)
    locked = _lock_for_refund(payment.id)
    existing = _by_gateway_id(gateway_refund_id)  # recorded meanwhile (we waited for it)
    if existing is not None:
        return existing
    if amount > refundable(locked.payment) or status == RefundStatus.FAILED:
        log.warning(
            "gateway refund %s of %s not recorded (refundable %s, status %s)",
            gateway_refund_id,
            amount,
            refundable(locked.payment),
            status,
        )
        return None
    from ruihe_saas.cashup.services import business_date_of

    now = datetime.now(UTC)
    text = (reason or "").strip()[:MAX_REASON] or str(_l("Refunded at the payment gateway."))
    refund = Refund(
        id=new_id(),
        estate_id=locked.payment.estate_id,
        household_id=locked.payment.household_id,
        payment_id=locked.payment.id,
        amount=amount,
        from_credit=min(locked.payment.unallocated, amount),
        from_bills=amount - min(locked.payment.unallocated, amount),
        method=RefundMethod.GATEWAY,
        status=status,
        reason=text,
        reference="",
        refunded_at=now,
        business_date=business_date_of(now),
        gateway_refund_id=gateway_refund_id,
        created_by=current_actor_user_id(),
    )
    db.session.add(refund)
    db.session.flush()
    _take_back(locked, refund, amount, now)
    db.session.flush()
    postings.post_refund(refund)  # the ledger: Cr money / Dr 应收, 预收
    return refund


def settle_gateway_refund(gateway_refund_id: str, status: RefundStatus | str) -> Refund | None:
    """The gateway's final word on a refund: ``pending`` → ``succeeded``, or ``pending`` →
    ``failed`` (``canceled`` counts as failed), which restores the allocations, lines, bills
    and prepaid credit with negative reversals. States only move forward: anything else
    changes nothing. Returns the refund (None when unknown)."""
    try:
        status = RefundStatus("failed" if status == "canceled" else status)
    except ValueError:
        return _by_gateway_id(gateway_refund_id) if gateway_refund_id else None
    refund = _by_gateway_id(gateway_refund_id) if gateway_refund_id else None
    if refund is None or refund.status != RefundStatus.PENDING:
        return refund
    if status == RefundStatus.SUCCEEDED:
        refund.status = RefundStatus.SUCCEEDED
        db.session.flush()
        return refund
    if status != RefundStatus.FAILED:
        return refund
    locked = _lock_for_refund(refund.payment_id)
    refund = db.session.scalar(
        select(Refund)
        .where(Refund.id == refund.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if refund.status != RefundStatus.PENDING:  # settled meanwhile
        return refund
    _restore(locked, refund, datetime.now(UTC))
    refund.status = RefundStatus.FAILED
    db.session.flush()
    postings.post_refund_failed(refund)  # the ledger: the refund's entry reversed
    return refund
