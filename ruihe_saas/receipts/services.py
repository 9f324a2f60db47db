"""Receipts: one per payment, numbered ``{prefix}-{year}-{n:06d}`` per tenant and year.

The number comes from ``tenancy.sequences.take_numbers`` in the payment's transaction: the
counter row stays locked until that transaction ends, so concurrent payments queue for it
and a payment that rolls back gives its number back — no gaps, no duplicates. A cancelled
receipt keeps its number. Services flush, never commit.

Printing (``print_receipt``) counts the prints on the receipt row, locked while it counts:
the first print is the original, every later one a copy (副本). Cancelling
(``cancel_receipt``) needs a reason, keeps the number and is final. Both changes go to the
audit trail (``Receipt`` is audited).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ruihe_saas.errors import Conflict, NotFound, ValidationFailed
from ruihe_saas.extensions import db
from ruihe_saas.payments.models import Payment, Receipt, ReceiptStatus
from ruihe_saas.payments.services import local_zone
from ruihe_saas.receipts.pdf import receipt_pdf
from ruihe_saas.tenancy.context import current_actor_user_id, require_tenant_id
from ruihe_saas.tenancy.lookup import get_owned
from ruihe_saas.tenancy.models import Tenant
from ruihe_saas.tenancy.sequences import take_numbers


def receipt_sequence(year: int) -> str:
    return f"receipt:{year}"


def issue_receipt(payment: Payment) -> Receipt:
    """The payment's receipt, numbered now (the year of the tenant-local payment date)."""
    existing = receipt_of(payment)
    if existing is not None:
        return existing
    tenant = db.session.get(Tenant, require_tenant_id())
    year = payment.paid_at.astimezone(local_zone()).year
    number = take_numbers(receipt_sequence(year))
    receipt = Receipt(
        estate_id=payment.estate_id,
        payment_id=payment.id,
        number=f"{tenant.receipt_prefix}-{year}-{number:06d}",
    )
    db.session.add(receipt)
    db.session.flush()
    return receipt


def receipt_of(payment: Payment) -> Receipt | None:
    return db.session.scalar(select(Receipt).where(Receipt.payment_id == payment.id))


MAX_CANCEL_REASON = 200


def get_payment(payment_id: uuid.UUID | str) -> Payment:
    """The payment, within the current tenant and estate scope (else 404)."""
    payment = get_owned(Payment, payment_id)
    if payment is None:
        raise NotFound(_l("Payment not found."))
    return payment


def get_receipt(payment: Payment, *, lock: bool = False) -> Receipt:
    """The payment's receipt (404 if it has none); ``lock``: row-locked, freshly read."""
    query = select(Receipt).where(Receipt.payment_id == payment.id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    receipt = db.session.scalar(query)
    if receipt is None:
        raise NotFound(_l("This payment has no receipt."))
    return receipt


def print_receipt(payment: Payment) -> tuple[bytes, bool]:
    """The receipt PDF and whether it is a copy: the first print is the original, every
    later one says 副本. Counts the print (``print_count``, audited)."""
    receipt = get_receipt(payment, lock=True)
    copy = receipt.print_count > 0
    receipt.print_count += 1
    db.session.flush()
    return receipt_pdf(payment, receipt, copy), copy


def cancel_receipt(payment_id: uuid.UUID | str, reason: str) -> Receipt:
    """Cancel the payment's receipt (作废): it keeps its number, its status becomes
    cancelled. The payment itself stands (a refund is a separate step). A reason is
    required; a receipt is cancelled once (409 the second time)."""
    payment = get_payment(payment_id)
    # one line of printable text: no control characters (PostgreSQL refuses NUL), no
    # lone surrogates, runs of whitespace as one space
    printable = "".join(c for c in str(reason or "") if c.isprintable() or c.isspace())
    reason = " ".join(printable.split())
    if not reason:
        raise ValidationFailed(
            _l("Give a reason for cancelling the receipt."),
            fields={"reason": [_l("Enter the reason.")]},
        )
    if len(reason) > MAX_CANCEL_REASON:
        raise ValidationFailed(
            _l("The reason is too long."),
            fields={"reason": [_l("At most %(count)s characters.", count=MAX_CANCEL_REASON)]},
        )
    receipt = get_receipt(payment, lock=True)
    if receipt.status == ReceiptStatus.CANCELLED:
        raise Conflict(
            _l("Receipt %(number)s is already cancelled.", number=receipt.number),
            code="receipt_cancelled",
        )
    receipt.status = ReceiptStatus.CANCELLED
    receipt.cancelled_at = datetime.now(UTC)
    receipt.cancelled_by = current_actor_user_id()
    receipt.cancel_reason = reason
    db.session.flush()
    return receipt
