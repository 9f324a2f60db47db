"""Desk payments (柜台收款): cash, bank transfer, POS card and WeChat/Alipay QR payments that
a cashier takes for one household, outside the online gateway. Services flush, never commit.

``record_desk_payment`` checks what a cashier may record (a desk method; a reference for
everything but cash; not in the future; not into a closed cash-up day of this cashier),
then records and allocates the payment through ``payments.services.record_payment`` (chosen
bills, else oldest first; the excess stays on it as prepaid credit), dates it on its
business day and issues the receipt.

Idempotency: a caller may name the request with a key (the API's ``Idempotency-Key``
header; the form's hidden key against double submits). The key is unique per tenant in the
database. A replay with the same key and the same body returns the first payment
(``created`` False); the same key with another body is a 422 on ``idempotency_key``. Two
concurrent requests with one key: the loser's insert hits the unique index (after waiting
for the winner's transaction on PostgreSQL), its savepoint is rolled back and it answers
with the winner's payment.

The body of a replay is compared field by field with the stored payment (household,
amount, method, reference, note; ``paid_at`` when the replay names one; chosen bills: the
first payment's allocations must lie within them). The request body itself is not stored.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, or_, select
from sqlalchemy.exc import IntegrityError

from ruihe_saas.auth.models import User
from ruihe_saas.billing.models import Bill, BillLine
from ruihe_saas.cashup.services import business_date_of, ensure_day_open
from ruihe_saas.errors import NotFound, ValidationFailed
from ruihe_saas.estates.models import Estate, Household
from ruihe_saas.extensions import db
from ruihe_saas.payments.models import (
    DESK_METHODS,
    AllocationSource,
    Payment,
    PaymentAllocation,
    PaymentMethod,
    Receipt,
    ReceiptStatus,
)
from ruihe_saas.payments.services import (
    UNSETTLED,
    _valid_amount,
    _valid_paid_at,
    local_zone,
    money,
    record_payment,
)
from ruihe_saas.receipts.services import issue_receipt, receipt_of
from ruihe_saas.tenancy.context import current_actor_user_id
from ruihe_saas.tenancy.lookup import get_owned
from ruihe_saas.web.pagination import Page, paginate

MAX_REFERENCE = 100
MAX_NOTE = 500
MAX_KEY = 100
ZERO = Decimal("0.00")


# --- recording -----------------------------------------------------------------------------


def desk_method(value) -> PaymentMethod:
    """A method a cashier may record (not ``online``); 422 on ``method`` otherwise."""
    try:
        method = PaymentMethod(value)
    except ValueError:
        method = None
    if method not in DESK_METHODS:
        raise ValidationFailed(
            _l("Unknown payment method."),
            fields={"method": [_l("Choose cash, bank transfer, POS card, WeChat or Alipay.")]},
        )
    return method


def _clean_reference(reference, method: PaymentMethod) -> str:
    text = (reference or "").strip() if isinstance(reference, str | None) else None
    if text is None or len(text) > MAX_REFERENCE:
        raise ValidationFailed(
            _l("The reference is too long."),
            fields={"reference": [_l("At most %(max)d characters.", max=MAX_REFERENCE)]},
        )
    if not text and method != PaymentMethod.CASH:
        raise ValidationFailed(
            _l("A reference is required for this payment method."),
            fields={
                "reference": [
                    _l("Enter the transfer, POS slip or QR transaction number (required).")
                ]
            },
        )
    return text


def _clean_note(note) -> str:
    text = (note or "").strip() if isinstance(note, str | None) else None
    if text is None or len(text) > MAX_NOTE:
        raise ValidationFailed(
            _l("The note is too long."),
            fields={"note": [_l("At most %(max)d characters.", max=MAX_NOTE)]},
        )
    return text


def _clean_key(key) -> str | None:
    if key is None:
        return None
    text = key.strip() if isinstance(key, str) else ""
    if not text or len(text) > MAX_KEY or not text.isprintable():
        raise ValidationFailed(
            _l("The idempotency key is invalid."),
            fields={"idempotency_key": [_l("Use 1 to %(max)d printable characters.", max=MAX_KEY)]},
        )
    return text


def _bill_id_set(bill_ids) -> set[uuid.UUID] | None:
    if bill_ids is None:
        return None
    chosen = set()
    for value in bill_ids:
        try:
            chosen.add(value if isinstance(value, uuid.UUID) else uuid.UUID(str(value)))
        except ValueError:
            raise ValidationFailed(
                _l("Unknown bill."), fields={"bill_ids": [_l("Unknown bill.")]}
            ) from None
    return chosen


@dataclass
class _Request:
    household_id: uuid.UUID | None
    amount: Decimal
    method: PaymentMethod
    reference: str
    note: str
    paid_at: datetime | None  # as sent (validated, UTC), None when not named
    bill_ids: set[uuid.UUID] | None = field(default=None)


def record_desk_payment(
    household_id: uuid.UUID | str,
    amount,
    method: PaymentMethod | str,
    *,
    reference: str = "",
    bill_ids: Iterable[uuid.UUID | str] | None = None,
    paid_at: datetime | None = None,
    note: str = "",
    idempotency_key: str | None = None,
) -> tuple[Payment, bool]:
    """Record a desk payment of a household; ``(payment, created)``.

    422 (nothing stored) on a bad amount (not > 0, more than 2 decimals), a method that is
    not a desk method, a missing reference for a non-cash method, a bill that is not the
    household's, ``paid_at`` in the future or in a closed cash-up day of the cashier; 404
    for a household outside the tenant or estate scope. See the module for idempotency.
    """
    key = _clean_key(idempotency_key)
    method = desk_method(method)
    wanted = _Request(
        household_id=_uuid_or_none(household_id),
        amount=_valid_amount(amount),
        method=method,
        reference=_clean_reference(reference, method),
        note=_clean_note(note),
        paid_at=_valid_paid_at(paid_at) if paid_at is not None else None,
        bill_ids=_bill_id_set(bill_ids),
    )
    if key is not None:
        existing = _by_key(key)
        if existing is not None:
            return _replayed(existing, wanted), False
    moment = wanted.paid_at or datetime.now(UTC)
    day = business_date_of(moment)
    ensure_day_open(current_actor_user_id(), day)
    try:
        with db.session.begin_nested():
            payment = record_payment(
                household_id,
                wanted.amount,
                method,
                paid_at=moment,
                reference=wanted.reference,
                bill_ids=bill_ids if wanted.bill_ids is None else sorted(wanted.bill_ids),
                note=wanted.note,
            )
            payment.business_date = day
            payment.idempotency_key = key
            db.session.flush()
    except IntegrityError:
        # only the idempotency key can collide here: a concurrent request with the same key
        # committed first (its transaction ended before our insert went through)
        winner = _by_key(key) if key is not None else None
        if winner is None:
            raise
        return _replayed(winner, wanted), False
    issue_receipt(payment)
    return payment, True


def _uuid_or_none(value) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        return None


def _by_key(key: str) -> Payment | None:
    return db.session.scalar(
        select(Payment)
        .where(Payment.idempotency_key == key)
        .execution_options(populate_existing=True)
    )


def _replayed(payment: Payment, wanted: _Request) -> Payment:
    """The first payment of this key if ``wanted`` asks for the same thing, else 422."""
    same = (
        payment.household_id == wanted.household_id
        and money(payment.amount) == wanted.amount
        and payment.method == wanted.method
        and (payment.reference or "") == wanted.reference
        and (payment.note or "") == wanted.note
        and (wanted.paid_at is None or _same_moment(payment.paid_at, wanted.paid_at))
    )
    if same and wanted.bill_ids is not None:
        allocated = set(
            db.session.scalars(
                select(PaymentAllocation.bill_id).where(
                    PaymentAllocation.payment_id == payment.id,
                    PaymentAllocation.source == AllocationSource.PAYMENT,
                )
            )
        )
        same = allocated <= wanted.bill_ids
    if not same:
        raise ValidationFailed(
            _l("This idempotency key was already used for a different payment."),
            fields={
                "idempotency_key": [
                    _l("Already used for a different payment: use a new key for a new payment.")
                ]
            },
        )
    return payment


def _same_moment(stored: datetime, wanted: datetime) -> bool:
    if stored.tzinfo is None:  # SQLite hands back naive UTC in some paths
        stored = stored.replace(tzinfo=UTC)
    return abs(stored - wanted) < timedelta(seconds=1)


# --- reading -------------------------------------------------------------------------------


def get_payment(payment_id: uuid.UUID | str) -> Payment:
    """A payment of the tenant within the estate scope (404 otherwise)."""
    payment = get_owned(Payment, payment_id)
    if payment is None:
        raise NotFound(_l("Payment not found."))
    return payment


def _owned_or_404(model, object_id, message):
    found = get_owned(model, object_id) if object_id is not None else None
    if found is None:
        raise NotFound(message)
    return found


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=local_zone()).astimezone(UTC)


def list_payments(filters: dict | None = None, **kwargs) -> Page:
    """Payments, newest first. Filters (a dict and/or keywords): ``household_id``,
    ``estate_id``, ``method``, ``date_from`` / ``date_to`` (business dates, inclusive; a
    payment without one counts by the tenant-local date of ``paid_at``), ``cashier_id``
    (who received it), ``page``, ``per_page``. A named estate or household must exist in
    the scope (404); a bad method or an inverted range is a 422."""
    options = {**(filters or {}), **kwargs}
    household_id = options.get("household_id")
    estate_id = options.get("estate_id")
    method = options.get("method")
    date_from, date_to = options.get("date_from"), options.get("date_to")
    cashier_id = options.get("cashier_id")
    statement = select(Payment)
    if estate_id is not None:
        _owned_or_404(Estate, estate_id, _l("Estate not found."))
        statement = statement.where(Payment.estate_id == estate_id)
    if household_id is not None:
        household = _owned_or_404(Household, household_id, _l("Household not found."))
        if estate_id is not None and household.estate_id != estate_id:
            raise NotFound(_l("Household not found."))
        statement = statement.where(Payment.household_id == household.id)
    if method is not None:
        try:
            method = PaymentMethod(method)
        except ValueError:
            raise ValidationFailed(
                _l("Unknown payment method."), fields={"method": [_l("Unknown payment method.")]}
            ) from None
        statement = statement.where(Payment.method == method)
    if date_from is not None and date_to is not None and date_from > date_to:
        raise ValidationFailed(
            _l("The date range is inverted."),
            fields={"to": [_l("Must not be before the start date.")]},
        )
    if date_from is not None:
        statement = statement.where(
            or_(
                Payment.business_date >= date_from,
                and_(Payment.business_date.is_(None), Payment.paid_at >= _day_start(date_from)),
            )
        )
    if date_to is not None:
        end = _day_start(date_to + timedelta(days=1))
        statement = statement.where(
            or_(
                Payment.business_date <= date_to,
                and_(Payment.business_date.is_(None), Payment.paid_at < end),
            )
        )
    if cashier_id is not None:
        statement = statement.where(Payment.received_by == cashier_id)
    statement = statement.order_by(Payment.paid_at.desc(), Payment.id.desc())
    return paginate(statement, options.get("page", 1), options.get("per_page", 20))


@dataclass
class PaymentDetail:
    """A payment with what pages and the API show with it. The payment's own columns read
    through (``detail.amount``, ``detail.method``)."""

    payment: Payment
    receipt_number: str | None = None
    receipt_status: ReceiptStatus | None = None
    household_label: str = ""
    estate_name: str = ""
    cashier_name: str = ""
    allocations: list[dict] = field(default_factory=list)

    def __getattr__(self, name):
        payment = self.__dict__.get("payment")
        if payment is None or name.startswith("_"):
            raise AttributeError(name)
        return getattr(payment, name)

    @property
    def prepaid_credit(self) -> Decimal:
        """What of this payment is still unallocated (the household's prepaid credit)."""
        return self.payment.unallocated

    def as_dict(self) -> dict:
        p = self.payment
        return {
            "id": p.id,
            "receipt_number": self.receipt_number,
            "receipt_status": self.receipt_status.value if self.receipt_status else None,
            "amount": p.amount,
            "unallocated": p.unallocated,
            "refunded": p.refunded,
            "method": p.method.value,
            "reference": p.reference,
            "note": p.note,
            "paid_at": p.paid_at,
            "business_date": p.business_date,
            "household_id": p.household_id,
            "household_label": self.household_label,
            "estate_id": p.estate_id,
            "estate_name": self.estate_name,
            "received_by": p.received_by,
            "cashier_name": self.cashier_name,
            "allocations": self.allocations,
        }


def _labels(payments: list[Payment]) -> tuple[dict, dict, dict, dict]:
    """Receipts, household labels, estate names and cashier names of these payments."""
    ids = [p.id for p in payments]
    receipts = {
        r.payment_id: r
        for r in db.session.scalars(select(Receipt).where(Receipt.payment_id.in_(ids)))
    }
    household_ids = {p.household_id for p in payments}
    households = {
        h.id: h.label
        for h in db.session.scalars(select(Household).where(Household.id.in_(household_ids)))
    }
    estate_ids = {p.estate_id for p in payments}
    estates = {
        e.id: e.name for e in db.session.scalars(select(Estate).where(Estate.id.in_(estate_ids)))
    }
    user_ids = {p.received_by for p in payments if p.received_by is not None}
    users = (
        {
            u.id: u.name or u.email
            for u in db.session.scalars(select(User).where(User.id.in_(user_ids)))
        }
        if user_ids
        else {}
    )
    return receipts, households, estates, users


def _details(payments: list[Payment]) -> list[PaymentDetail]:
    if not payments:
        return []
    receipts, households, estates, users = _labels(payments)
    details = []
    for p in payments:
        receipt = receipts.get(p.id)
        details.append(
            PaymentDetail(
                payment=p,
                receipt_number=receipt.number if receipt else None,
                receipt_status=receipt.status if receipt else None,
                household_label=households.get(p.household_id, ""),
                estate_name=estates.get(p.estate_id, ""),
                cashier_name=users.get(p.received_by, "") if p.received_by else "",
            )
        )
    return details


def payment_summaries(page: Page) -> Page:
    """The page's payments as ``PaymentDetail`` without allocations (for lists)."""
    page.items = _details(page.items)
    return page


def allocation_rows(payment: Payment) -> list[dict]:
    """The payment's allocations with their bill number, period and fee item, oldest first."""
    rows = db.session.execute(
        select(PaymentAllocation, Bill.number, Bill.period, BillLine.name, BillLine.fee_item_code)
        .join(
            Bill,
            (Bill.tenant_id == PaymentAllocation.tenant_id)
            & (Bill.id == PaymentAllocation.bill_id),
        )
        .join(
            BillLine,
            (BillLine.tenant_id == PaymentAllocation.tenant_id)
            & (BillLine.id == PaymentAllocation.bill_line_id),
        )
        .where(PaymentAllocation.payment_id == payment.id)
        .order_by(PaymentAllocation.allocated_at, Bill.period, PaymentAllocation.id)
    ).all()
    return [
        {
            "id": allocation.id,
            "bill_id": allocation.bill_id,
            "bill_number": number,
            "period": period,
            "bill_line_id": allocation.bill_line_id,
            "fee_item": name,
            "fee_item_code": code,
            "amount": allocation.amount,
            "reversed": allocation.reversed,
            "source": allocation.source.value,
            "allocated_at": allocation.allocated_at,
        }
        for allocation, number, period, name, code in rows
    ]


def payment_detail(payment: Payment) -> PaymentDetail:
    """The payment with its receipt, labels and allocations (``.as_dict()`` for JSON)."""
    detail = _details([payment])[0]
    detail.allocations = allocation_rows(payment)
    return detail


def receipt_number_of(payment: Payment) -> str | None:
    receipt = receipt_of(payment)
    return receipt.number if receipt else None


# --- the take-a-payment form's data --------------------------------------------------------


def open_bills(household: Household) -> list[Bill]:
    """The household's unsettled bills, oldest period first."""
    return list(
        db.session.scalars(
            select(Bill)
            .where(Bill.household_id == household.id, Bill.status.in_(UNSETTLED))
            .order_by(Bill.period, Bill.due_date, Bill.id)
        )
    )


def outstanding_total(bills: Iterable[Bill]) -> Decimal:
    return money(sum((bill.outstanding for bill in bills), ZERO))
