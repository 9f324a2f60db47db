"""The schema as migrated: every tenant-owned table is distributable by tenant and isolated."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, text

from ruihe_saas.extensions import db as database
from ruihe_saas.models import import_all_models
from ruihe_saas.tenancy.models import TenantScoped


def _tenant_owned_tables() -> set[str]:
    import_all_models()
    return {
        mapper.local_table.name
        for mapper in database.Model.registry.mappers
        if issubclass(mapper.class_, TenantScoped)
    }


def test_every_table_with_tenant_id_is_a_tenant_scoped_model(db):
    inspector = inspect(db.session.connection())
    with_tenant_id = {
        table
        for table in inspector.get_table_names()
        if any(col["name"] == "tenant_id" for col in inspector.get_columns(table))
    }
    assert with_tenant_id == _tenant_owned_tables()
    assert {"memberships", "job_records"} <= with_tenant_id


def test_tenant_owned_tables_are_keyed_and_linked_by_tenant(db):
    inspector = inspect(db.session.connection())
    owned = _tenant_owned_tables()
    problems = []
    for table in sorted(owned):
        columns = {col["name"]: col for col in inspector.get_columns(table)}
        if columns["tenant_id"]["nullable"]:
            problems.append(f"{table}.tenant_id is nullable")
        pk = inspector.get_pk_constraint(table)["constrained_columns"]
        if pk != ["tenant_id", "id"]:
            problems.append(f"{table} primary key is {pk}, not (tenant_id, id)")
        for fk in inspector.get_foreign_keys(table):
            if fk["referred_table"] == "tenants":
                continue
            if fk["referred_table"] in owned and (
                fk["constrained_columns"][0] != "tenant_id"
                or fk["referred_columns"][0] != "tenant_id"
            ):
                problems.append(f"{table} → {fk['referred_table']} does not include tenant_id")
        tenant_fks = [
            fk for fk in inspector.get_foreign_keys(table) if fk["referred_table"] == "tenants"
        ]
        if not tenant_fks:
            problems.append(f"{table}.tenant_id has no foreign key to tenants")
    assert problems == []


@pytest.mark.postgres
def test_row_level_security_is_forced_with_a_policy_on_every_tenant_table(db):
    rows = db.session.execute(
        text(
            "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
            " (SELECT count(*) FROM pg_policies p WHERE p.tablename = c.relname"
            "   AND p.policyname = 'tenant_isolation')"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = 'public' AND c.relkind = 'r'"
        )
    ).all()
    state = {name: (enabled, forced, policies) for name, enabled, forced, policies in rows}
    for table in _tenant_owned_tables():
        assert state[table] == (True, True, 1), table


@pytest.mark.postgres
def test_the_app_role_is_bound_by_row_level_security(app, db):
    from ruihe_saas.tenancy.roles import runtime_role_bypasses_rls

    role = db.session.execute(
        text("SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
    ).one()
    assert role.rolname == app.config["RUIHE_DB_APP_ROLE"]
    assert (role.rolsuper, role.rolbypassrls) == (False, False)
    assert runtime_role_bypasses_rls(database.engine) is False


@pytest.mark.postgres
def test_production_refuses_a_role_that_bypasses_rls(app, monkeypatch):
    from ruihe_saas import create_app

    monkeypatch.setenv("RUIHE_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s" * 40)
    monkeypatch.setenv("DATABASE_URL", app.config["DATABASE_OWNER_URL"])  # owns the tables
    with pytest.raises(RuntimeError, match="row-level security"):
        create_app()
    monkeypatch.setenv("DATABASE_URL", app.config["SQLALCHEMY_DATABASE_URI"])  # the app role
    production = create_app()
    assert production.config["RUIHE_ENV"] == "production"
    with production.app_context():
        database.engine.dispose()


@pytest.mark.postgres
def test_the_app_role_cannot_change_or_remove_the_audit_trail(db):
    from sqlalchemy.exc import DBAPIError

    from ruihe_saas.auth.models import Role
    from ruihe_saas.tenancy import tenant_context
    from tests.factories import member

    owner = member(Role.OWNER)  # writes a "member created" audit event
    with tenant_context(owner.tenant_id):
        assert db.session.execute(text("SELECT count(*) FROM audit_events")).scalar() == 1
        for statement in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"):
            with (
                pytest.raises(DBAPIError, match="permission denied"),
                db.session.begin_nested(),
            ):
                db.session.execute(text(statement))
