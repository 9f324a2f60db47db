"""Per-tenant number sequences for human-facing numbers (bills, receipts).

``take_numbers(name, count)`` reserves ``count`` consecutive numbers in the caller's
transaction: the counter row is updated (and so locked) until the transaction ends, so two
transactions never get the same number, and a rolled-back transaction gives its numbers back
(the sequence stays gap-free). Works the same on PostgreSQL and SQLite.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ruihe_saas.extensions import db
from ruihe_saas.tenancy.context import require_tenant_id
from ruihe_saas.tenancy.models import NumberSequence


def take_numbers(name: str, count: int = 1) -> int:
    """Reserve ``count`` numbers of the tenant's sequence ``name``; return the first."""
    if count < 1:
        raise ValueError("count must be at least 1")
    tenant_id = require_tenant_id()
    last = _advance(tenant_id, name, count)
    if last is None:
        _create(tenant_id, name)
        last = _advance(tenant_id, name, count)
    return last - count + 1


def _advance(tenant_id, name: str, count: int) -> int | None:
    table = NumberSequence.__table__
    return db.session.execute(
        update(table)
        .where(table.c.tenant_id == tenant_id, table.c.name == name)
        .values(last_value=table.c.last_value + count)
        .returning(table.c.last_value)
    ).scalar_one_or_none()


def _create(tenant_id, name: str) -> None:
    """Create the counter; a concurrent creator wins harmlessly (savepoint + unique)."""
    try:
        with db.session.begin_nested():
            db.session.add(NumberSequence(tenant_id=tenant_id, name=name, last_value=0))
    except IntegrityError:
        pass


def current_number(name: str) -> int:
    """The last number taken from ``name`` (0 if none)."""
    value = db.session.scalar(select(NumberSequence.last_value).where(NumberSequence.name == name))
    return value or 0
