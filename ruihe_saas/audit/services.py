"""Reading the audit trail (writing is automatic: ``audit.recorder``)."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from ruihe_saas.audit.models import AuditEvent
from ruihe_saas.web.pagination import Page, paginate


def audit_trail(
    page: int = 1,
    per_page: int = 50,
    *,
    object_id: uuid.UUID | None = None,
    object_type: str | None = None,
    estate_id: uuid.UUID | None = None,
) -> Page:
    """Newest first. Estate-scoped members see their estates' events only (ORM scoping)."""
    statement = select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    if object_id:
        statement = statement.where(AuditEvent.object_id == object_id)
    if object_type:
        statement = statement.where(AuditEvent.object_type == object_type)
    if estate_id:
        statement = statement.where(AuditEvent.estate_id == estate_id)
    return paginate(statement, page, per_page)
