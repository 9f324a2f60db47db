"""The audit trail: who changed what and when, with old and new values. Kept forever."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import String, Uuid, func
from sqlalchemy.orm import Mapped, mapped_column

from ruihe_saas.db_types import JSON_DOCUMENT, UtcDateTime
from ruihe_saas.extensions import db
from ruihe_saas.tenancy.models import EstateScoped, TenantScoped


class Audited:
    """Mixin: every create, update and delete of this model is written to the audit trail
    (``audit.recorder``), in the same transaction. ``__audit_type__`` names the object type."""

    __audit_type__: str
    __audit_exclude__: frozenset[str] = frozenset({"tenant_id", "created_at"})


class AuditEvent(TenantScoped, EstateScoped, db.Model):
    __tablename__ = "audit_events"

    object_type: Mapped[str] = mapped_column(String(40), index=True)
    object_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)
    # The estate the object belongs to (None for tenant-wide objects such as members):
    # estate-scoped members see the trail of their estates only.
    estate_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    action: Mapped[str] = mapped_column(String(10))  # create, update, delete
    changes: Mapped[dict] = mapped_column(JSON_DOCUMENT)
    actor_user_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    # Set by the app (one clock for every event of a flush, and no read-back of a server
    # default per row); the server default covers rows written by SQL.
    at: Mapped[datetime] = mapped_column(
        UtcDateTime(), default=lambda: datetime.now(UTC), server_default=func.now(), index=True
    )
