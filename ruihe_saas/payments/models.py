"""Payments received from households, their allocations to bill lines, receipts, refunds
(with the allocation reversals they cause), online checkout sessions, gateway settings,
events and payouts, and the cashiers' daily cash-up (日结).

What is not allocated is the household's prepaid credit (预收): ``Payment.unallocated``,
spent by later allocations (the billing run applies it to new bills automatically).
Nothing here is ever deleted: a refund is its own dated record with one reversal per
allocation it takes back, a cancelled receipt keeps its number.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from ruihe_saas.audit.models import Audited
from ruihe_saas.db_types import JSON_DOCUMENT, UtcDateTime
from ruihe_saas.extensions import db
from ruihe_saas.tenancy.models import EstateScoped, TenantScoped, enum_column, tenant_fk


class PaymentMethod(enum.StrEnum):
    CASH = "cash"
    BANK_TRANSFER = "bank_transfer"
    POS_CARD = "pos_card"
    WECHAT_QR = "wechat_qr"
    ALIPAY_QR = "alipay_qr"
    ONLINE = "online"  # through the payment gateway (Stripe)


DESK_METHODS = tuple(m for m in PaymentMethod if m != PaymentMethod.ONLINE)


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
        CheckConstraint("refunded >= 0 AND refunded <= amount", "refunded_range"),
        # a retried API call with the same Idempotency-Key finds the first payment
        UniqueConstraint("tenant_id", "idempotency_key"),
        # one payment per gateway payment (Stripe PaymentIntent), however often it is reported
        UniqueConstraint("tenant_id", "gateway_payment_id"),
        Index("ix_payments_cashier_day", "tenant_id", "received_by", "business_date"),
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
    # the tenant-local date of paid_at: the cash-up day it belongs to
    business_date: Mapped[date | None] = mapped_column(Date)
    refunded: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    gateway_payment_id: Mapped[str | None] = mapped_column(String(100))  # pi_…
    checkout_session_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)


class PaymentAllocation(TenantScoped, EstateScoped, db.Model):
    __tablename__ = "payment_allocations"
    __table_args__ = (
        tenant_fk(["payment_id"], "payments"),
        tenant_fk(["bill_id"], "bills"),
        tenant_fk(["bill_line_id"], "bill_lines"),
        Index("ix_payment_allocations_payment", "tenant_id", "payment_id"),
        Index("ix_payment_allocations_bill", "tenant_id", "bill_id"),
        CheckConstraint("amount > 0", "amount_positive"),
        CheckConstraint("reversed >= 0 AND reversed <= amount", "reversed_range"),
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
    # taken back by refunds (each one an AllocationReversal); the allocation's net is
    # amount − reversed, and the bill line's paid is the sum of those nets
    reversed: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))


class ReceiptStatus(enum.StrEnum):
    ISSUED = "issued"
    CANCELLED = "cancelled"  # keeps its number; the payment stands unless refunded


class Receipt(Audited, TenantScoped, EstateScoped, db.Model):
    """The receipt (收据) of one payment, numbered per tenant without gaps (``RH-2024-000123``)."""

    __tablename__ = "receipts"
    __audit_type__ = "receipt"
    __table_args__ = (
        tenant_fk(["estate_id"], "estates"),
        tenant_fk(["payment_id"], "payments"),
        UniqueConstraint("tenant_id", "payment_id"),
        UniqueConstraint("tenant_id", "number"),
        CheckConstraint("print_count >= 0", "print_count_not_negative"),
    )

    payment_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    number: Mapped[str] = mapped_column(String(30))
    status: Mapped[ReceiptStatus] = mapped_column(
        enum_column(ReceiptStatus, "receipt_status"), default=ReceiptStatus.ISSUED
    )
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    print_count: Mapped[int] = mapped_column(Integer, default=0)  # > 0: reprints say 副本
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    cancelled_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    cancel_reason: Mapped[str] = mapped_column(String(200), default="")


class RefundMethod(enum.StrEnum):
    GATEWAY = "gateway"  # back through Stripe (online payments)
    CASH = "cash"
    BANK_TRANSFER = "bank_transfer"
    ORIGINAL = "original"  # desk refund by the payment's own method (POS, QR)


class RefundStatus(enum.StrEnum):
    PENDING = "pending"  # asked of the gateway, not yet confirmed
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the gateway refused: allocations were restored


class Refund(Audited, TenantScoped, EstateScoped, db.Model):
    """Money given back from one payment: first its prepaid credit (unallocated), then its
    allocations newest first (one ``AllocationReversal`` each, reopening the bills)."""

    __tablename__ = "refunds"
    __audit_type__ = "refund"
    __table_args__ = (
        tenant_fk(["estate_id"], "estates"),
        tenant_fk(["household_id"], "households"),
        tenant_fk(["payment_id"], "payments"),
        UniqueConstraint("tenant_id", "idempotency_key"),
        UniqueConstraint("tenant_id", "gateway_refund_id"),
        Index("ix_refunds_payment", "tenant_id", "payment_id"),
        CheckConstraint("amount > 0", "amount_positive"),
        CheckConstraint(
            "from_credit >= 0 AND from_bills >= 0"
            " AND ROUND(from_credit + from_bills, 2) = ROUND(amount, 2)",
            "parts_add_up",
        ),
    )

    household_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    payment_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    from_credit: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    from_bills: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    method: Mapped[RefundMethod] = mapped_column(enum_column(RefundMethod, "refund_method"))
    status: Mapped[RefundStatus] = mapped_column(
        enum_column(RefundStatus, "refund_status"), default=RefundStatus.SUCCEEDED
    )
    reason: Mapped[str] = mapped_column(String(200))
    reference: Mapped[str] = mapped_column(String(100), default="")
    refunded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    business_date: Mapped[date | None] = mapped_column(Date)
    idempotency_key: Mapped[str | None] = mapped_column(String(100))
    gateway_refund_id: Mapped[str | None] = mapped_column(String(100))  # re_…
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class AllocationReversal(TenantScoped, EstateScoped, db.Model):
    """Part of an allocation taken back by a refund (or restored if the gateway refused)."""

    __tablename__ = "allocation_reversals"
    __table_args__ = (
        tenant_fk(["refund_id"], "refunds"),
        tenant_fk(["allocation_id"], "payment_allocations"),
        tenant_fk(["bill_id"], "bills"),
        tenant_fk(["bill_line_id"], "bill_lines"),
        Index("ix_allocation_reversals_refund", "tenant_id", "refund_id"),
        CheckConstraint("amount <> 0", "amount_not_zero"),
    )

    household_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    refund_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    allocation_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    bill_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    bill_line_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    # > 0 takes money back from the line; < 0 restores it (a refund the gateway refused)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    reversed_at: Mapped[datetime] = mapped_column(UtcDateTime())


class CheckoutStatus(enum.StrEnum):
    OPEN = "open"
    COMPLETE = "complete"  # paid: payment_id is set
    FAILED = "failed"  # an asynchronous payment method failed
    EXPIRED = "expired"


class CheckoutSession(TenantScoped, EstateScoped, db.Model):
    """A resident's online payment attempt: one Stripe Checkout Session for chosen bills."""

    __tablename__ = "checkout_sessions"
    __table_args__ = (
        tenant_fk(["estate_id"], "estates"),
        tenant_fk(["household_id"], "households"),
        UniqueConstraint("tenant_id", "idempotency_key"),
        UniqueConstraint("tenant_id", "gateway_session_id"),
        Index("ix_checkout_sessions_household", "tenant_id", "household_id"),
        CheckConstraint("amount > 0", "amount_positive"),
    )

    household_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    bill_ids: Mapped[list] = mapped_column(JSON_DOCUMENT, default=list)  # [str, …]
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3), default="cny")
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    idempotency_key: Mapped[str] = mapped_column(String(100))
    provider: Mapped[str] = mapped_column(String(20), default="stripe")
    connected_account_id: Mapped[str | None] = mapped_column(String(100))
    gateway_session_id: Mapped[str | None] = mapped_column(String(200))  # cs_…
    gateway_payment_id: Mapped[str | None] = mapped_column(String(100))  # pi_…
    url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[CheckoutStatus] = mapped_column(
        enum_column(CheckoutStatus, "checkout_status"), default=CheckoutStatus.OPEN
    )
    payment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class GatewayMode(enum.StrEnum):
    CONNECT = "connect"  # direct charges on the tenant's Stripe Connect account
    PLATFORM = "platform"  # the platform's own Stripe keys (single-company deployment)


class GatewaySettings(Audited, TenantScoped, db.Model):
    """The tenant's online payment settings. No secret is stored here: Stripe keys and the
    webhook secret are deployment configuration (``STRIPE_SECRET_KEY`` …)."""

    __tablename__ = "gateway_settings"
    __audit_type__ = "gateway_settings"
    __table_args__ = (
        UniqueConstraint("tenant_id", "provider"),
        CheckConstraint(
            "application_fee_percent >= 0 AND application_fee_percent < 100",
            "application_fee_range",
        ),
    )

    provider: Mapped[str] = mapped_column(String(20), default="stripe")
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    mode: Mapped[GatewayMode] = mapped_column(
        enum_column(GatewayMode, "gateway_mode"), default=GatewayMode.CONNECT
    )
    connected_account_id: Mapped[str | None] = mapped_column(String(100))  # acct_…
    application_fee_percent: Mapped[Decimal] = mapped_column(Numeric(5, 2), default=Decimal("0"))
    # Checkout payment_method_types: a subset of card, alipay, wechat_pay
    payment_methods: Mapped[list] = mapped_column(JSON_DOCUMENT, default=lambda: ["card"])
    updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), onupdate=func.now())


class GatewayEvent(TenantScoped, db.Model):
    """A gateway event applied once: inserted (ON CONFLICT DO NOTHING) in the same
    transaction as its effect, so a replay finds the row and changes nothing."""

    __tablename__ = "gateway_events"
    __table_args__ = (UniqueConstraint("tenant_id", "provider", "event_id"),)

    provider: Mapped[str] = mapped_column(String(20), default="stripe")
    event_id: Mapped[str] = mapped_column(String(100))  # evt_…
    event_type: Mapped[str] = mapped_column(String(100))
    object_id: Mapped[str] = mapped_column(String(200), default="")  # cs_… / pi_… / ch_…
    source: Mapped[str] = mapped_column(String(20), default="webhook")  # or reconcile
    outcome: Mapped[str] = mapped_column(String(200), default="")
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class PayoutStatus(enum.StrEnum):
    PAID = "paid"  # the money reached the bank (only paid payouts are recorded)
    FAILED = "failed"  # reported paid, then returned by the bank: its entry is reversed


class GatewayPayout(TenantScoped, db.Model):
    """A payout of the gateway (Stripe ``po_…``) to the tenant's bank, recorded once with
    its journal entry (Dr 银行存款 ``amount``, Dr 支付手续费 ``fees`` / Cr Stripe 待清算
    ``gross``): ``online.payouts``. ``gross`` is what left the clearing account. A paid
    payout the bank later returns (``payout.failed``) becomes ``failed`` on ``failed_on``,
    with the reversal of its entry (the money is back in Stripe clearing)."""

    __tablename__ = "gateway_payouts"
    __table_args__ = (
        tenant_fk(["journal_entry_id"], "journal_entries"),
        tenant_fk(["reversal_entry_id"], "journal_entries"),
        CheckConstraint(
            "(status = 'failed') = (failed_on IS NOT NULL AND reversal_entry_id IS NOT NULL)",
            "failure_recorded",
        ),
        UniqueConstraint("tenant_id", "payout_id"),
        Index("ix_gateway_payouts_arrival", "tenant_id", "arrival_date"),
        CheckConstraint("amount > 0", "amount_positive"),
        CheckConstraint("fees >= 0", "fees_not_negative"),
        CheckConstraint("ROUND(amount + fees, 2) = ROUND(gross, 2)", "gross_adds_up"),
    )

    provider: Mapped[str] = mapped_column(String(20), default="stripe")
    payout_id: Mapped[str] = mapped_column(String(100))  # po_…
    connected_account_id: Mapped[str | None] = mapped_column(String(100))  # acct_…
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))  # paid to the bank
    fees: Mapped[Decimal] = mapped_column(Numeric(14, 2))  # kept by the gateway
    gross: Mapped[Decimal] = mapped_column(Numeric(14, 2))  # amount + fees
    currency: Mapped[str] = mapped_column(String(3), default="cny")
    arrival_date: Mapped[date] = mapped_column(Date)
    status: Mapped[PayoutStatus] = mapped_column(
        enum_column(PayoutStatus, "payout_status"), default=PayoutStatus.PAID
    )
    journal_entry_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    source: Mapped[str] = mapped_column(String(20), default="reconcile")  # or webhook
    failed_on: Mapped[date | None] = mapped_column(Date)  # when the failure was learnt
    reversal_entry_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class CashUpDay(Audited, TenantScoped, db.Model):
    """A cashier's closed business day (日结): totals per method, frozen; no payment or
    refund can be dated into a closed day of that cashier."""

    __tablename__ = "cash_up_days"
    __audit_type__ = "cash_up_day"
    __table_args__ = (UniqueConstraint("tenant_id", "cashier_id", "business_date"),)

    cashier_id: Mapped[uuid.UUID] = mapped_column(Uuid, ForeignKey("users.id"))
    business_date: Mapped[date] = mapped_column(Date)
    payment_count: Mapped[int] = mapped_column(Integer, default=0)
    received: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    refunded: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    totals: Mapped[dict] = mapped_column(JSON_DOCUMENT, default=dict)  # per method
    closed_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    closed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    note: Mapped[str] = mapped_column(String(200), default="")
