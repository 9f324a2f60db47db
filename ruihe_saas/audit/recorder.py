"""Writes the audit trail: one ``AuditEvent`` per created, changed or deleted ``Audited`` row,
added to the same flush (so the trail commits or rolls back with the change itself)."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

from ruihe_saas.audit.models import Audited, AuditEvent
from ruihe_saas.ids import new_id
from ruihe_saas.tenancy.context import current_actor_user_id


def _plain(value):
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict | list | str | int | float | bool) or value is None:
        return value
    return str(value)


def _columns(obj):
    mapper = inspect(obj).mapper
    excluded = obj.__audit_exclude__
    for attr in mapper.column_attrs:
        if attr.key not in excluded and attr.key != "id":
            yield attr.key


def _changes(obj, action: str) -> dict:
    state = inspect(obj)
    changes = {}
    for key in _columns(obj):
        if action == "create":
            value = getattr(obj, key)
            if value is not None:
                changes[key] = [None, _plain(value)]
        elif action == "delete":
            value = state.attrs[key].loaded_value
            changes[key] = [_plain(value), None]
        else:
            history = state.attrs[key].history
            if history.has_changes():
                old = history.deleted[0] if history.deleted else None
                new = history.added[0] if history.added else None
                if old != new:
                    changes[key] = [_plain(old), _plain(new)]
    return changes


def _estate_of(obj):
    return getattr(obj, "estate_id", None)


@event.listens_for(Session, "before_flush")
def _record_audit_trail(session, flush_context, instances) -> None:
    events = []
    for action, objects in (
        ("create", session.new),
        ("update", session.dirty),
        ("delete", session.deleted),
    ):
        for obj in objects:
            if not isinstance(obj, Audited):
                continue
            if action == "create" and obj.id is None:
                obj.id = new_id()
            changes = _changes(obj, action)
            if action == "update" and not changes:
                continue
            events.append(
                AuditEvent(
                    tenant_id=obj.tenant_id,
                    object_type=obj.__audit_type__,
                    object_id=obj.id,
                    estate_id=_estate_of(obj),
                    action=action,
                    changes=changes,
                    actor_user_id=current_actor_user_id(),
                )
            )
    session.add_all(events)
