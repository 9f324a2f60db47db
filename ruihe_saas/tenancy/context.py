"""The one place that knows which tenant the current unit of work belongs to.

A request of the tenant blueprint, a job (``tenant_context``) or a CLI command sets the
current tenant; ``scoping.py`` reads it to filter every ORM query and guard every flush, and
the PostgreSQL session variable ``app.tenant_id`` (row-level security) is set from it at the
start of every transaction. With no tenant set, tenant-owned data is unreachable: ORM queries
raise and RLS returns no rows. ``unscoped()`` lifts the ORM filter explicitly and is logged.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

log = logging.getLogger("ruihe_saas.tenancy")

_tenant_id: ContextVar[uuid.UUID | None] = ContextVar("ruihe_tenant_id", default=None)
_actor_user_id: ContextVar[uuid.UUID | None] = ContextVar("ruihe_actor_user_id", default=None)
_unscoped_reason: ContextVar[str | None] = ContextVar("ruihe_unscoped", default=None)
# None: every estate of the tenant; otherwise the estates this unit of work may touch.
_estate_scope: ContextVar[frozenset[uuid.UUID] | None] = ContextVar(
    "ruihe_estate_scope", default=None
)


class TenantNotSet(RuntimeError):
    """A tenant-owned model was queried or written with no tenant in context."""


class CrossTenantWrite(RuntimeError):
    """A write would create, move or touch a row of another tenant."""


class OutOfEstateScope(CrossTenantWrite):
    """A write would touch an estate outside the current estate scope."""


def current_tenant_id() -> uuid.UUID | None:
    return _tenant_id.get()


def require_tenant_id() -> uuid.UUID:
    tenant_id = _tenant_id.get()
    if tenant_id is None:
        raise TenantNotSet("no tenant is set for this unit of work")
    return tenant_id


def current_actor_user_id() -> uuid.UUID | None:
    return _actor_user_id.get()


def unscoped_reason() -> str | None:
    return _unscoped_reason.get()


def current_estate_scope() -> frozenset[uuid.UUID] | None:
    return _estate_scope.get()


def in_estate_scope(estate_id: uuid.UUID | None) -> bool:
    scope = _estate_scope.get()
    return scope is None or estate_id in scope


def set_estate_scope(estate_ids) -> object:
    """Limit this context to ``estate_ids`` (None: all estates); returns a reset token."""
    scope = None if estate_ids is None else frozenset(_as_uuid(e) for e in estate_ids)
    return _estate_scope.set(scope)


def reset_estate_scope(token) -> None:
    _estate_scope.reset(token)


@contextmanager
def estate_scope(estate_ids) -> Iterator[None]:
    """Run a block limited to some estates (an estate admin's job, a test)."""
    token = set_estate_scope(estate_ids)
    try:
        yield
    finally:
        reset_estate_scope(token)


def _as_uuid(value: uuid.UUID | str) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def set_tenant(tenant_id: uuid.UUID | str | None):
    """Set the tenant for the rest of this context; returns a token for ``reset_tenant``.

    Used by the tenant blueprint (the request ends with ``reset_tenant``). Everything else
    uses ``tenant_context``.
    """
    token = _tenant_id.set(None if tenant_id is None else _as_uuid(tenant_id))
    _sync_open_transaction()
    return token


def reset_tenant(token) -> None:
    _tenant_id.reset(token)
    _sync_open_transaction()


def set_actor(user_id: uuid.UUID | str | None):
    token = _actor_user_id.set(None if user_id is None else _as_uuid(user_id))
    _sync_open_transaction()
    return token


def reset_actor(token) -> None:
    _actor_user_id.reset(token)
    _sync_open_transaction()


@contextmanager
def tenant_context(tenant_id: uuid.UUID | str) -> Iterator[uuid.UUID]:
    """Run a block (a job, a CLI command, a test) as the given tenant."""
    token = set_tenant(tenant_id)
    try:
        yield _tenant_id.get()
    finally:
        reset_tenant(token)


@contextmanager
def acting_as(user_id: uuid.UUID | str) -> Iterator[None]:
    """Run a block as the given user (RLS lets a user read their own memberships)."""
    token = set_actor(user_id)
    try:
        yield
    finally:
        reset_actor(token)


@contextmanager
def unscoped(reason: str) -> Iterator[None]:
    """Lift the ORM tenant filter for a block, explicitly and logged.

    Row-level security still applies underneath on PostgreSQL: this is for reading across
    tenants where a policy allows it (a user's own memberships) or for platform operations.
    """
    if not reason:
        raise ValueError("unscoped() needs a reason")
    log.info("tenant scope lifted: %s", reason)
    token = _unscoped_reason.set(reason)
    try:
        yield
    finally:
        _unscoped_reason.reset(token)


def _sync_open_transaction() -> None:
    # Imported lazily: scoping imports this module.
    from ruihe_saas.tenancy.rls import apply_to_open_transaction

    apply_to_open_transaction()
