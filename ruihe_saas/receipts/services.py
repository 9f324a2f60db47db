"""Receipts: one per payment, numbered ``{prefix}-{year}-{n:06d}`` per tenant and year.

The number comes from ``tenancy.sequences.take_numbers`` in the payment's transaction: the
counter row stays locked until that transaction ends, so concurrent payments queue for it
and a payment that rolls back gives its number back — no gaps, no duplicates. A cancelled
receipt keeps its number. Services flush, never commit.
"""

from __future__ import annotations

from sqlalchemy import select

from ruihe_saas.extensions import db
from ruihe_saas.payments.models import Payment, Receipt
from ruihe_saas.payments.services import local_zone
from ruihe_saas.tenancy.context import require_tenant_id
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
