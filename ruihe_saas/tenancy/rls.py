"""PostgreSQL row-level security: the database-side half of tenant isolation.

Every tenant-owned table gets ``ENABLE`` + ``FORCE ROW LEVEL SECURITY`` and a policy comparing
``tenant_id`` with the transaction-local setting ``app.tenant_id``. The setting is written with
``set_config(..., true)`` at the start of every transaction (``after_begin``), so a pooled
connection never carries a tenant into the next transaction. ``app.user_id`` lets a user read
their own memberships across tenants (login, tenant picker, ``/api/v1/me``).
"""

from __future__ import annotations

from flask import has_app_context
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from ruihe_saas.tenancy.context import current_actor_user_id, current_tenant_id

SETTINGS_SQL = text(
    "SELECT set_config('app.tenant_id', :tenant_id, true),"
    " set_config('app.user_id', :user_id, true)"
)


def _settings() -> dict[str, str]:
    tenant_id = current_tenant_id()
    user_id = current_actor_user_id()
    return {
        "tenant_id": str(tenant_id) if tenant_id else "",
        "user_id": str(user_id) if user_id else "",
    }


def _apply(connection) -> None:
    if connection.dialect.name == "postgresql" and not _in_failed_transaction(connection):
        connection.execute(SETTINGS_SQL, _settings())


def _in_failed_transaction(connection) -> bool:
    """A transaction aborted by an error accepts no statement until it is rolled back;
    the next transaction gets its settings from ``after_begin``."""
    from psycopg.pq import TransactionStatus

    dbapi_connection = connection.connection.dbapi_connection
    return dbapi_connection.info.transaction_status == TransactionStatus.INERROR


@event.listens_for(Session, "after_begin")
def _set_rls_settings(session, transaction, connection) -> None:
    _apply(connection)


def apply_to_open_transaction() -> None:
    """Re-apply the settings when the tenant changes inside an open transaction."""
    if not has_app_context():
        return
    from ruihe_saas.extensions import db

    session = db.session()
    if session.get_transaction() is not None:
        # A transaction is open: its after_begin already ran with the old settings.
        _apply(session.connection())


# --- DDL used by migrations ------------------------------------------------------------

TENANT_SETTING = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"
USER_SETTING = "NULLIF(current_setting('app.user_id', true), '')::uuid"


def enable_tenant_rls(op, table: str, *, extra_read: str | None = None) -> None:
    """Enable and force RLS on a tenant-owned table (PostgreSQL only; no-op elsewhere).

    ``extra_read`` widens reads only (never writes), e.g. ``user_id = <app.user_id>``.
    """
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} USING (tenant_id = {TENANT_SETTING})"
        f" WITH CHECK (tenant_id = {TENANT_SETTING})"
    )
    if extra_read:
        op.execute(
            f"CREATE POLICY tenant_isolation_read ON {table} FOR SELECT USING ({extra_read})"
        )


def grant_app_role(op, role: str) -> None:
    """Give the runtime role DML on the schema's tables, now and for later migrations."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    exists = bind.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).scalar()
    if not exists:
        raise RuntimeError(
            f"PostgreSQL role {role!r} does not exist: run `CREATE ROLE {role} LOGIN` once "
            "(or set RUIHE_DB_APP_ROLE), then migrate again."
        )
    op.execute(f'GRANT USAGE ON SCHEMA public TO "{role}"')
    op.execute(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"')
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public"
        f' GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "{role}"'
    )
