"""Tenants and the ``TenantScoped`` mixin every tenant-owned model uses."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Enum,
    ForeignKey,
    ForeignKeyConstraint,
    String,
    UniqueConstraint,
    Uuid,
    func,
)
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from ruihe_saas.db_types import UtcDateTime
from ruihe_saas.extensions import db
from ruihe_saas.ids import new_id


def enum_column(enum_cls: type[enum.Enum], name: str):
    """Store an enum by its value as a VARCHAR with a CHECK (portable, readable in SQL)."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda cls: [member.value for member in cls],
        validate_strings=True,
    )


class TenantStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Tenant(db.Model):
    """One property company (e.g. the Ruihe community's). A reference table on Citus."""

    __tablename__ = "tenants"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[TenantStatus] = mapped_column(
        enum_column(TenantStatus, "tenant_status"), default=TenantStatus.ACTIVE
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), server_default=func.now())
    # receipts are numbered {prefix}-{year}-{n:06d}, e.g. RH-2024-000123
    receipt_prefix: Mapped[str] = mapped_column(String(8), default="RC", server_default="RC")

    @property
    def is_active(self) -> bool:
        return self.status == TenantStatus.ACTIVE

    def __repr__(self) -> str:
        return f"<Tenant {self.slug}>"


class TenantScoped:
    """Mixin for tenant-owned tables: ``tenant_id`` + ``id`` form the primary key.

    Rows are filtered to the current tenant on every ORM read and ``tenant_id`` is filled and
    frozen on flush (``scoping.py``); RLS enforces the same in PostgreSQL. Foreign keys to
    other tenant-owned tables must be composite: use ``tenant_fk``.
    """

    @declared_attr
    def tenant_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(Uuid, ForeignKey("tenants.id"), primary_key=True, sort_order=-20)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id, sort_order=-10)


class EstateScoped:
    """Mixin for tenant-owned rows that belong to one estate (``estate_id``).

    Members scoped to some estates (estate admins, cashiers) see and change only those:
    ``scoping.py`` adds ``estate_id IN (scope)`` to every read and refuses writes outside.
    ``Estate`` itself maps ``estate_id`` as a synonym of its ``id``; a subclass may declare
    its own ``estate_id`` (e.g. nullable, or indexed differently).
    """

    @declared_attr
    def estate_id(cls) -> Mapped[uuid.UUID]:
        return mapped_column(Uuid, index=True)


def tenant_fk(columns: list[str], target_table: str, **kwargs) -> ForeignKeyConstraint:
    """A composite foreign key ``(tenant_id, *columns)`` → ``target (tenant_id, id)``."""
    return ForeignKeyConstraint(
        ["tenant_id", *columns],
        [f"{target_table}.tenant_id", f"{target_table}.id"],
        **kwargs,
    )


class NumberSequence(TenantScoped, db.Model):
    """A per-tenant counter for human-facing numbers (bills, receipts): ``tenancy.sequences``
    takes numbers from it under a row lock, in the caller's transaction, so they are
    gap-free."""

    __tablename__ = "number_sequences"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    name: Mapped[str] = mapped_column(String(40))  # "bill:2024", "receipt:2024"
    last_value: Mapped[int] = mapped_column(BigInteger, default=0)
