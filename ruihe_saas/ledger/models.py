"""Accounts, journal entries and their lines, closed periods.

An *entity* is an estate (``estate_id``) or the tenant's collective economy (``estate_id``
NULL). Entries are posted once and never change: a correction is one reversing entry
(``reverses_id``, unique). On PostgreSQL the database enforces the rules itself (migration
0005: a deferred constraint trigger checks every entry balances with at least two lines;
triggers and grants stop the app role from updating, deleting or truncating entries and
lines; no line may be dated into a closed period of its entity); ``services.py`` checks the
same before writing, which is all SQLite gets.
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
    ForeignKeyConstraint,
    Index,
    Numeric,
    String,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from ruihe_saas.audit.models import Audited
from ruihe_saas.db_types import UtcDateTime
from ruihe_saas.extensions import db
from ruihe_saas.tenancy.models import EstateScoped, TenantScoped, enum_column, tenant_fk


class AccountType(enum.StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    INCOME = "income"
    EXPENSE = "expense"

    @property
    def debit_normal(self) -> bool:
        return self in (AccountType.ASSET, AccountType.EXPENSE)


class Account(Audited, TenantScoped, db.Model):
    """An account of the tenant's chart. ``role`` names the accounts automatic postings use
    (``receivable``, ``prepaid``, ``cash`` …); finance may add accounts without a role."""

    __tablename__ = "accounts"
    __audit_type__ = "account"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        UniqueConstraint("tenant_id", "role"),
    )

    code: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(100))
    type: Mapped[AccountType] = mapped_column(enum_column(AccountType, "account_type"))
    role: Mapped[str | None] = mapped_column(String(40))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class EntrySource(enum.StrEnum):
    BILLING = "billing"
    VOID = "void"
    PAYMENT = "payment"
    PREPAID_APPLIED = "prepaid_applied"
    REFUND = "refund"
    GATEWAY = "gateway"  # payouts and fees reported by the gateway
    MANUAL = "manual"
    CLOSE = "close"
    REVERSAL = "reversal"


class JournalEntry(TenantScoped, db.Model):
    """A posted entry. ``source_key`` makes automatic postings idempotent (one entry per
    payment, per billed line set, per refund …); ``pair_id`` links the two sides of an
    inter-entity posting."""

    __tablename__ = "journal_entries"
    __table_args__ = (
        tenant_fk(["reverses_id"], "journal_entries"),
        UniqueConstraint("tenant_id", "number"),
        UniqueConstraint("tenant_id", "source_key"),
        UniqueConstraint("tenant_id", "reverses_id"),  # a correction is exactly one reversal
        UniqueConstraint("tenant_id", "id", "entry_date"),  # lines carry the entry's date
        Index("ix_journal_entries_date", "tenant_id", "entry_date"),
        # the inter-entity entries of some days, for the reports' eliminations (migration 0008)
        Index(
            "ix_journal_entries_paired",
            "tenant_id",
            "entry_date",
            postgresql_include=["id"],
            postgresql_where=text("pair_id IS NOT NULL"),
            sqlite_where=text("pair_id IS NOT NULL"),
        ),
    )

    number: Mapped[str] = mapped_column(String(30))
    entry_date: Mapped[date] = mapped_column(Date)
    memo: Mapped[str] = mapped_column(String(300), default="")
    source: Mapped[EntrySource] = mapped_column(enum_column(EntrySource, "entry_source"))
    source_key: Mapped[str | None] = mapped_column(String(120))
    reference: Mapped[str] = mapped_column(String(100), default="")
    reverses_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    pair_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())


class JournalLine(TenantScoped, EstateScoped, db.Model):
    """One side of an entry for one entity (``estate_id``; NULL: the collective economy).
    ``entry_date`` is the entry's, copied so reports aggregate lines without a join."""

    __tablename__ = "journal_lines"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "entry_id", "entry_date"],
            ["journal_entries.tenant_id", "journal_entries.id", "journal_entries.entry_date"],
        ),
        tenant_fk(["account_id"], "accounts"),
        tenant_fk(["estate_id"], "estates"),
        CheckConstraint(
            "debit >= 0 AND credit >= 0 AND (debit > 0) <> (credit > 0)", "one_side_positive"
        ),
        Index("ix_journal_lines_entry", "tenant_id", "entry_id"),
        Index("ix_journal_lines_account_date", "tenant_id", "account_id", "entry_date"),
        # reports read the days of a range that are not whole months (AccountMonthTotal) from
        # here; on PostgreSQL the INCLUDE makes that an index-only scan (migration 0008)
        Index(
            "ix_journal_lines_date",
            "tenant_id",
            "entry_date",
            postgresql_include=["account_id", "estate_id", "entry_id", "debit", "credit"],
        ),
        # partial: only receivable/prepaid lines name a household; a full index would also
        # tempt the planner (on a tenant's first big load, statistics still empty) to serve
        # the balance check's lookup by entry from it, scanning the tenant's lines each time
        Index(
            "ix_journal_lines_household",
            "tenant_id",
            "household_id",
            postgresql_where=text("household_id IS NOT NULL"),
            sqlite_where=text("household_id IS NOT NULL"),
        ),
    )

    estate_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    entry_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    entry_date: Mapped[date] = mapped_column(Date)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    debit: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    credit: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    household_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # receivable / prepaid
    memo: Mapped[str] = mapped_column(String(200), default="")


class AccountMonthTotal(TenantScoped, EstateScoped, db.Model):
    """The lines of one entity, account and month summed: debits, credits and the part of
    inter-entity entries (``pair_id`` set). Written only by the database, on every insert into
    ``journal_lines`` (migration 0008: a statement trigger on PostgreSQL, row triggers on
    SQLite; the app role may only read it), so ``reports.py`` reads a year of a tenant from
    a few thousand rows instead of every line. ``month`` is the month's first day."""

    __tablename__ = "account_month_totals"
    __table_args__ = (
        tenant_fk(["account_id"], "accounts"),
        tenant_fk(["estate_id"], "estates"),
        # the keys the triggers add to (two, as the collective economy's estate_id is NULL)
        Index(
            "uq_account_month_totals_estate",
            "tenant_id",
            "estate_id",
            "account_id",
            "month",
            unique=True,
            postgresql_where=text("estate_id IS NOT NULL"),
            sqlite_where=text("estate_id IS NOT NULL"),
        ),
        Index(
            "uq_account_month_totals_collective",
            "tenant_id",
            "account_id",
            "month",
            unique=True,
            postgresql_where=text("estate_id IS NULL"),
            sqlite_where=text("estate_id IS NULL"),
        ),
    )

    estate_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    account_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    month: Mapped[date] = mapped_column(Date)
    debit: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal("0"))
    credit: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal("0"))
    paired_debit: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal("0"))
    paired_credit: Mapped[Decimal] = mapped_column(Numeric(18, 2), default=Decimal("0"))


class PeriodClose(Audited, TenantScoped, EstateScoped, db.Model):
    """A month closed for one entity. Reopening (owner, with a reason) sets ``reopened_at``;
    the row stays as the record. At most one standing close per entity and month."""

    __tablename__ = "period_closes"
    __audit_type__ = "period_close"
    __table_args__ = (
        tenant_fk(["estate_id"], "estates"),
        tenant_fk(["entry_id"], "journal_entries"),
        Index("ix_period_closes_entity", "tenant_id", "estate_id", "period"),
    )

    estate_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    income: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    expenses: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    surplus: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    entry_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)  # the closing entry
    closed_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    closed_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    reopened_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    reopened_by: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    reopen_reason: Mapped[str] = mapped_column(String(200), default="")
