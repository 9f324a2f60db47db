"""ORM-side tenant isolation, installed once on every SQLAlchemy ``Session``.

- ``do_orm_execute``: every ORM SELECT/UPDATE/DELETE touching a ``TenantScoped`` model gets
  ``tenant_id = <current tenant>`` through ``with_loader_criteria`` (joins, aliases and
  relationship loads included); with no tenant set it raises ``TenantNotSet`` (fail closed).
- ``before_flush``: new rows get the current ``tenant_id``; a row of another tenant, or a
  change of ``tenant_id``, raises ``CrossTenantWrite``.
- The estate scope works the same way one level down: with a scope set (an estate admin's
  request or job), ``EstateScoped`` rows are filtered to ``estate_id IN (scope)`` and a write
  outside it raises ``OutOfEstateScope``.

``unscoped(reason)`` lifts both, explicitly and logged.
"""

from __future__ import annotations

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, with_loader_criteria
from sqlalchemy.sql.util import find_tables

from ruihe_saas.tenancy.context import (
    CrossTenantWrite,
    OutOfEstateScope,
    TenantNotSet,
    current_estate_scope,
    current_tenant_id,
    unscoped_reason,
)
from ruihe_saas.tenancy.models import EstateScoped, TenantScoped


def _scoped_table_names() -> set[str]:
    from ruihe_saas.extensions import db

    return {
        mapper.local_table.name
        for mapper in db.Model.registry.mappers
        if issubclass(mapper.class_, TenantScoped)
    }


def _touches_tenant_data(state) -> bool:
    if any(issubclass(m.class_, TenantScoped) for m in state.all_mappers):
        return True
    names = _scoped_table_names()
    tables = find_tables(
        state.statement, include_joins=True, include_selects=True, include_crud=True
    )
    return any(getattr(t, "name", None) in names for t in tables)


@event.listens_for(Session, "do_orm_execute")
def _scope_orm_statement(state) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or unscoped_reason() is not None:
        return
    tenant_id = current_tenant_id()
    if tenant_id is None:
        if _touches_tenant_data(state):
            raise TenantNotSet("tenant-owned data queried with no tenant set")
        return
    options = [
        with_loader_criteria(
            TenantScoped,
            lambda cls: cls.tenant_id == tenant_id,
            include_aliases=True,
        )
    ]
    estates = current_estate_scope()
    if estates is not None:
        allowed = sorted(estates)
        options.append(
            with_loader_criteria(
                EstateScoped,
                lambda cls: cls.estate_id.in_(allowed),
                include_aliases=True,
            )
        )
    state.statement = state.statement.options(*options)


@event.listens_for(Session, "before_flush")
def _guard_tenant_writes(session, flush_context, instances) -> None:
    lifted = unscoped_reason() is not None
    tenant_id = current_tenant_id()
    for obj in session.new:
        if not isinstance(obj, TenantScoped):
            continue
        if obj.tenant_id is None:
            if tenant_id is None:
                raise TenantNotSet(f"cannot create {type(obj).__name__} with no tenant set")
            obj.tenant_id = tenant_id
        elif not lifted and obj.tenant_id != tenant_id:
            raise CrossTenantWrite(f"{type(obj).__name__} belongs to another tenant")
    for obj in list(session.dirty) + list(session.deleted):
        if not isinstance(obj, TenantScoped):
            continue
        history = inspect(obj).attrs.tenant_id.history
        if history.deleted and history.deleted[0] is not None:
            raise CrossTenantWrite(f"tenant_id of {type(obj).__name__} cannot change")
        if not lifted and obj.tenant_id != tenant_id:
            raise CrossTenantWrite(f"{type(obj).__name__} belongs to another tenant")
    if not lifted:
        _guard_estate_writes(session)


def _guard_estate_writes(session) -> None:
    estates = current_estate_scope()
    if estates is None:
        return
    for obj in list(session.new) + list(session.dirty) + list(session.deleted):
        if not isinstance(obj, EstateScoped):
            continue
        if obj.estate_id not in estates:
            raise OutOfEstateScope(f"{type(obj).__name__} is outside your estates")
        history = inspect(obj).attrs.estate_id.history
        if any(old is not None and old not in estates for old in history.deleted or ()):
            raise OutOfEstateScope(f"{type(obj).__name__} is outside your estates")
