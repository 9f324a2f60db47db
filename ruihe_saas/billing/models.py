"""Billing runs, bills, bill lines and credits.

One bill per household per period; one line per applicable fee item, unique on
``(tenant, household, period, fee item)`` so a rerun adds only what is missing. Bills and
lines are written by the billing run in bulk (``billing.writer``), never one by one through
the ORM. A mistake is corrected by a credit (红冲), never by editing or deleting a line.
Amounts: ``outstanding = amount − credited − paid`` on both the bill and each line.
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
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ruihe_saas.audit.models import Audited
from ruihe_saas.db_types import JSON_DOCUMENT, UtcDateTime
from ruihe_saas.extensions import db
from ruihe_saas.fees.models import ChargeKind, RevenueCategory
from ruihe_saas.tenancy.models import EstateScoped, TenantScoped, enum_column, tenant_fk

ZERO = Decimal("0.00")


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)


class BillStatus(enum.StrEnum):
    OPEN = "open"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    VOID = "void"


class BillingRun(Audited, TenantScoped, EstateScoped, db.Model):
    __tablename__ = "billing_runs"
    __audit_type__ = "billing_run"
    __audit_exclude__ = frozenset(
        {
            "tenant_id",
            "created_at",
            "progress_done",
            "progress_total",
            "heartbeat_at",
            "preview",
            "totals",
            "warnings",
        }
    )
    __table_args__ = (
        tenant_fk(["estate_id"], "estates"),
        # at most one unfinished run per estate and period: a second one is a 409
        Index(
            "uq_billing_runs_active",
            "tenant_id",
            "estate_id",
            "period",
            unique=True,
            postgresql_where=text("status IN ('queued', 'running')"),
            sqlite_where=text("status IN ('queued', 'running')"),
        ),
    )

    estate_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    period: Mapped[str] = mapped_column(String(7))
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[RunStatus] = mapped_column(
        enum_column(RunStatus, "billing_run_status"), default=RunStatus.QUEUED
    )
    job_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    requested_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int] = mapped_column(Integer, default=0)
    households_billed: Mapped[int] = mapped_column(Integer, default=0)
    bills_created: Mapped[int] = mapped_column(Integer, default=0)
    lines_created: Mapped[int] = mapped_column(Integer, default=0)
    total_amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=ZERO)
    # {code: {"name", "amount", "lines"}} of what this run produced (or would, when dry)
    totals: Mapped[dict | None] = mapped_column(JSON_DOCUMENT)
    # dry run: {"by_building": {...}, "bills": [first N bills with lines]}
    preview: Mapped[dict | None] = mapped_column(JSON_DOCUMENT)
    warnings: Mapped[list | None] = mapped_column(JSON_DOCUMENT)
    error: Mapped[str | None] = mapped_column(Text)


class Bill(TenantScoped, EstateScoped, db.Model):
    __tablename__ = "bills"
    __table_args__ = (
        tenant_fk(["estate_id"], "estates"),
        tenant_fk(["building_id"], "buildings"),
        tenant_fk(["household_id"], "households"),
        tenant_fk(["billing_run_id"], "billing_runs"),
        UniqueConstraint("tenant_id", "household_id", "period"),
        UniqueConstraint("tenant_id", "number"),
        Index("ix_bills_estate_period", "tenant_id", "estate_id", "period"),
        Index("ix_bills_building_period", "tenant_id", "building_id", "period"),
        CheckConstraint("amount >= 0 AND credited >= 0 AND paid >= 0", "amounts_not_negative"),
        CheckConstraint("ROUND(credited + paid, 2) <= amount", "not_overpaid"),
    )

    estate_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    building_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    household_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    period: Mapped[str] = mapped_column(String(7))
    number: Mapped[str] = mapped_column(String(30))
    billing_run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    issued_on: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=ZERO)
    credited: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=ZERO)
    paid: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=ZERO)
    status: Mapped[BillStatus] = mapped_column(
        enum_column(BillStatus, "bill_status"), default=BillStatus.OPEN
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())

    @property
    def outstanding(self) -> Decimal:
        return self.amount - self.credited - self.paid


class BillLine(TenantScoped, EstateScoped, db.Model):
    __tablename__ = "bill_lines"
    __table_args__ = (
        tenant_fk(["bill_id"], "bills"),
        tenant_fk(["fee_item_id"], "fee_items"),
        tenant_fk(["household_id"], "households"),
        UniqueConstraint("tenant_id", "household_id", "period", "fee_item_id"),
        Index("ix_bill_lines_bill", "tenant_id", "bill_id"),
        CheckConstraint("amount >= 0 AND credited >= 0 AND paid >= 0", "amounts_not_negative"),
        CheckConstraint("ROUND(credited + paid, 2) <= amount", "not_overpaid"),
        CheckConstraint("days >= 0 AND days <= period_days", "days_within_period"),
    )

    bill_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    estate_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    household_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    period: Mapped[str] = mapped_column(String(7))
    fee_item_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    fee_item_code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(50))
    revenue_category: Mapped[RevenueCategory] = mapped_column(
        enum_column(RevenueCategory, "line_revenue_category")
    )
    charge_kind: Mapped[ChargeKind] = mapped_column(enum_column(ChargeKind, "line_charge_kind"))
    quantity: Mapped[Decimal] = mapped_column(Numeric(14, 4))  # m², spaces, kWh, 1 household
    unit: Mapped[str] = mapped_column(String(10), default="")
    rate: Mapped[Decimal] = mapped_column(Numeric(12, 4))
    months: Mapped[int] = mapped_column(Integer, default=1)  # months the line covers
    days: Mapped[int] = mapped_column(Integer)  # days charged (weighted days: see formula)
    period_days: Mapped[int] = mapped_column(Integer)  # days the line's span has
    gross: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    discount: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=ZERO)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))  # gross − discount
    formula: Mapped[str] = mapped_column(String(400), default="")
    credited: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=ZERO)
    paid: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=ZERO)
    billing_run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)

    @property
    def outstanding(self) -> Decimal:
        return self.amount - self.credited - self.paid


class BillCredit(Audited, TenantScoped, EstateScoped, db.Model):
    """A credit (红冲) against one bill line: voiding a line or a whole bill writes these."""

    __tablename__ = "bill_credits"
    __audit_type__ = "bill_credit"
    __table_args__ = (
        tenant_fk(["bill_id"], "bills"),
        tenant_fk(["bill_line_id"], "bill_lines"),
        tenant_fk(["household_id"], "households"),
        Index("ix_bill_credits_household", "tenant_id", "household_id"),
        CheckConstraint("amount > 0", "amount_positive"),
    )

    estate_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    bill_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    bill_line_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    household_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    reason: Mapped[str] = mapped_column(String(200))
    credited_on: Mapped[date] = mapped_column(Date)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


def bill_status_for(amount: Decimal, credited: Decimal, paid: Decimal) -> BillStatus:
    """A bill's status from its amounts: fully credited → void; nothing left → paid; some
    paid → partially paid; else open."""
    if amount > 0 and credited >= amount:
        return BillStatus.VOID
    if amount - credited - paid <= 0:
        return BillStatus.PAID
    if paid > 0:
        return BillStatus.PARTIALLY_PAID
    return BillStatus.OPEN
