"""The PostgreSQL half of tenant isolation: row-level security under raw SQL."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ruihe_saas.auth.models import Role
from ruihe_saas.tenancy import tenant_context
from tests.factories import UserFactory, member

pytestmark = pytest.mark.postgres

RAW_MEMBERS = text("SELECT tenant_id, id FROM memberships")
RAW_INSERT = text(
    "INSERT INTO memberships (tenant_id, id, user_id, role) VALUES (:tenant, :id, :user, 'viewer')"
)


@pytest.fixture
def two_tenants(db):
    a = member(Role.OWNER)
    b = member(Role.OWNER)
    member(Role.FINANCE, tenant=b.tenant)
    return a, b


def test_raw_sql_in_a_tenant_sees_only_that_tenant(db, two_tenants):
    a, b = two_tenants
    with tenant_context(a.tenant_id):
        rows = db.session.execute(RAW_MEMBERS).all()
    assert {tenant for tenant, _ in rows} == {a.tenant_id}
    with tenant_context(b.tenant_id):
        rows = db.session.execute(RAW_MEMBERS).all()
    assert {tenant for tenant, _ in rows} == {b.tenant_id} and len(rows) == 2


def test_raw_sql_without_tenant_sees_nothing_and_cannot_insert(db, two_tenants):
    a, _ = two_tenants
    assert db.session.execute(RAW_MEMBERS).all() == []
    user = UserFactory()
    with pytest.raises(DBAPIError, match="row-level security"):
        db.session.execute(RAW_INSERT, {"tenant": a.tenant_id, "id": uuid.uuid4(), "user": user.id})
    db.session.rollback()


def test_raw_insert_of_another_tenants_row_fails(db, two_tenants):
    a, b = two_tenants
    user = UserFactory()
    with tenant_context(a.tenant_id), pytest.raises(DBAPIError, match="row-level security"):
        db.session.execute(RAW_INSERT, {"tenant": b.tenant_id, "id": uuid.uuid4(), "user": user.id})
    db.session.rollback()


def test_raw_update_cannot_reach_or_move_rows_across_tenants(db, two_tenants):
    a, b = two_tenants
    with tenant_context(a.tenant_id):
        touched = db.session.execute(
            text("UPDATE memberships SET role = 'viewer' WHERE tenant_id = :b"), {"b": b.tenant_id}
        ).rowcount
        assert touched == 0
        with pytest.raises(DBAPIError, match="row-level security"):
            db.session.execute(
                text("UPDATE memberships SET tenant_id = :b WHERE id = :id"),
                {"b": b.tenant_id, "id": a.id},
            )
    db.session.rollback()


def test_a_user_reads_only_their_own_memberships_across_tenants(db, two_tenants):
    """The one widening of the read policy: app.user_id may see its own rows."""
    from ruihe_saas.auth.models import User
    from ruihe_saas.auth.services import memberships_of

    a, b = two_tenants
    user = db.session.get(User, a.user_id)
    member(Role.VIEWER, tenant=b.tenant)  # someone else in B
    from tests.factories import MembershipFactory

    MembershipFactory(tenant=b.tenant, user=user, role=Role.VIEWER)
    tenants = {m.tenant_id for m in memberships_of(user)}
    assert tenants == {a.tenant_id, b.tenant_id}
    assert all(m.user_id == user.id for m in memberships_of(user))


@pytest.mark.committed
def test_pooled_connection_does_not_carry_a_tenant_over(app, db):
    """Pool of one connection: a unit of work for A, then one with no tenant, sees nothing."""
    a = member(Role.OWNER)
    tenant_a = a.tenant_id
    db.session.commit()
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"], pool_size=1, max_overflow=0)
    try:
        with Session(engine) as session, tenant_context(tenant_a):
            first_pid = session.execute(text("SELECT pg_backend_pid()")).scalar()
            assert len(session.execute(RAW_MEMBERS).all()) == 1
            session.commit()
        with Session(engine) as session:
            assert session.execute(text("SELECT pg_backend_pid()")).scalar() == first_pid
            assert session.execute(RAW_MEMBERS).all() == []
            setting = session.execute(text("SELECT current_setting('app.tenant_id', true)"))
            assert setting.scalar() in ("", None)
    finally:
        engine.dispose()


@pytest.mark.committed
def test_request_for_one_tenant_then_another_request_sees_nothing(app, db, client):
    """Same thing through the app: its pool reuses connections between requests."""
    from ruihe_saas.auth.services import issue_token
    from tests.conftest import bearer

    a = member(Role.OWNER)
    b = member(Role.OWNER)
    token = issue_token(a.user, days=1)
    slug_a, slug_b = a.tenant.slug, b.tenant.slug
    db.session.commit()
    assert client.get(f"/api/v1/t/{slug_a}/members", headers=bearer(token)).status_code == 200
    assert client.get(f"/api/v1/t/{slug_b}/members", headers=bearer(token)).status_code == 404
    with app.app_context():
        from ruihe_saas.extensions import db as database

        assert database.session.execute(RAW_MEMBERS).all() == []
