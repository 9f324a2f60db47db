"""Checks on the PostgreSQL role the application connects as."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Engine

ROLE_SQL = text(
    "SELECT r.rolsuper OR r.rolbypassrls"
    " OR EXISTS (SELECT 1 FROM pg_tables t WHERE t.tableowner = current_user"
    "            AND t.schemaname = 'public')"
    " FROM pg_roles r WHERE r.rolname = current_user"
)


def runtime_role_bypasses_rls(engine: Engine) -> bool:
    """True when the connection's role is superuser, BYPASSRLS or owns the tables."""
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as connection:
        return bool(connection.execute(ROLE_SQL).scalar())
