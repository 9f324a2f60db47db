"""A payment received from a household and its allocations to bill lines.

What is not allocated is the household's prepaid credit (预收): ``Payment.unallocated``,
spent by later allocations (the billing run applies it to new bills automatically).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, Index, Numeric, String, Text, Uuid, func
from sqlalchemy.orm import Mapped, mapped_column

from ruihe_saas.audit.models import Audited
from ruihe_saas.db_types import UtcDateTime
from ruihe_saas.extensions import db
from ruihe_saas.tenancy.models import EstateScoped, TenantScoped, enum_column, tenant_fk


class PaymentMethod(enum.StrEnum):
    CASH = "cash"
    BANK_TRANSFER = "bank_transfer"
    POS_CARD = "pos_card"
    WECHAT_QR = "wechat_qr"
    ALIPAY_QR = "alipay_qr"
    ONLINE = "online"  # through the payment gateway (Stripe)


class AllocationSource(enum.StrEnum):
    PAYMENT = "payment"  # allocated when the payment was taken
    PREPAID_CREDIT = "prepaid_credit"  # prepaid credit applied later (e.g. by billing)


class Payment(Audited, TenantScoped, EstateScoped, db.Model):
    __tablename__ = "payments"
    __audit_type__ = "payment"
    __table_args__ = (
        tenant_fk(["estate_id"], "estates"),
        tenant_fk(["household_id"], "households"),
        Index("ix_payments_household", "tenant_id", "household_id"),
        CheckConstraint("amount > 0", "amount_positive"),
        CheckConstraint("unallocated >= 0 AND unallocated <= amount", "unallocated_range"),
    )

    estate_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    household_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    unallocated: Mapped[Decimal] = mapped_column(Numeric(14, 2))  # prepaid credit left
    method: Mapped[PaymentMethod] = mapped_column(enum_column(PaymentMethod, "payment_method"))
    reference: Mapped[str] = mapped_column(String(100), default="")
    paid_at: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    received_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class PaymentAllocation(TenantScoped, EstateScoped, db.Model):
    __tablename__ = "payment_allocations"
    __table_args__ = (
        tenant_fk(["payment_id"], "payments"),
        tenant_fk(["bill_id"], "bills"),
        tenant_fk(["bill_line_id"], "bill_lines"),
        Index("ix_payment_allocations_payment", "tenant_id", "payment_id"),
        Index("ix_payment_allocations_bill", "tenant_id", "bill_id"),
        CheckConstraint("amount > 0", "amount_positive"),
    )

    estate_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    household_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    payment_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    bill_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    bill_line_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    source: Mapped[AllocationSource] = mapped_column(
        enum_column(AllocationSource, "allocation_source"), default=AllocationSource.PAYMENT
    )
    allocated_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
