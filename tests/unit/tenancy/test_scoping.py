"""The ORM half of tenant isolation: filtered reads, guarded writes, fail closed."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from ruihe_saas.auth.models import Membership, Role
from ruihe_saas.tenancy import CrossTenantWrite, TenantNotSet, tenant_context, unscoped
from tests.factories import TenantFactory, UserFactory, member


@pytest.fixture
def two_tenants(db):
    a = member(Role.OWNER)
    b = member(Role.OWNER)
    member(Role.VIEWER, tenant=b.tenant)
    return a, b


def test_reads_see_only_the_current_tenant(db, two_tenants):
    a, b = two_tenants
    with tenant_context(a.tenant_id):
        rows = db.session.scalars(select(Membership)).all()
    assert [m.id for m in rows] == [a.id]
    with tenant_context(b.tenant_id):
        rows = db.session.scalars(select(Membership)).all()
    assert {m.tenant_id for m in rows} == {b.tenant_id} and len(rows) == 2


def test_query_without_tenant_raises(db, two_tenants):
    with pytest.raises(TenantNotSet):
        db.session.scalars(select(Membership)).all()


def test_joined_query_without_tenant_raises(db, two_tenants):
    from ruihe_saas.auth.models import User

    with pytest.raises(TenantNotSet):
        db.session.execute(select(User.email).join(Membership, Membership.user_id == User.id)).all()


def test_global_tables_need_no_tenant(db, two_tenants):
    from ruihe_saas.tenancy.models import Tenant

    assert len(db.session.scalars(select(Tenant)).all()) >= 2


def test_get_by_primary_key_of_other_tenant_is_none(db, two_tenants):
    a, b = two_tenants
    with tenant_context(a.tenant_id):
        assert db.session.get(Membership, (a.tenant_id, b.id)) is None


def test_bulk_update_touches_only_current_tenant(db, two_tenants):
    a, b = two_tenants
    tenant_a, tenant_b = a.tenant_id, b.tenant_id
    with tenant_context(tenant_a):
        db.session.execute(update(Membership).values(role=Role.FINANCE))
    db.session.expire_all()
    with tenant_context(tenant_b):
        roles = {m.role for m in db.session.scalars(select(Membership))}
    assert Role.FINANCE not in roles


def test_new_rows_get_the_current_tenant(db):
    tenant = TenantFactory()
    user = UserFactory()
    with tenant_context(tenant.id):
        membership = Membership(user_id=user.id, role=Role.VIEWER)
        db.session.add(membership)
        db.session.flush()
    assert membership.tenant_id == tenant.id


def test_creating_a_row_without_tenant_raises(db):
    user = UserFactory()
    db.session.add(Membership(user_id=user.id, role=Role.VIEWER))
    with pytest.raises(TenantNotSet):
        db.session.flush()
    db.session.rollback()


def test_writing_a_row_of_another_tenant_raises(db, two_tenants):
    a, b = two_tenants
    user = UserFactory()
    with tenant_context(a.tenant_id):
        db.session.add(Membership(tenant_id=b.tenant_id, user_id=user.id, role=Role.VIEWER))
        with pytest.raises(CrossTenantWrite):
            db.session.flush()
    db.session.rollback()


def test_tenant_id_cannot_change(db, two_tenants):
    a, b = two_tenants
    with tenant_context(a.tenant_id):
        membership = db.session.get(Membership, (a.tenant_id, a.id))
        membership.tenant_id = b.tenant_id
        with pytest.raises(CrossTenantWrite):
            db.session.flush()
    db.session.rollback()


def test_modifying_a_loaded_row_outside_its_tenant_raises(db, two_tenants):
    a, b = two_tenants
    with tenant_context(a.tenant_id):
        membership = db.session.get(Membership, (a.tenant_id, a.id))
    with tenant_context(b.tenant_id):
        membership.role = Role.VIEWER
        with pytest.raises(CrossTenantWrite):
            db.session.flush()
    db.session.rollback()


def test_unscoped_lifts_the_filter_and_is_logged(db, two_tenants, caplog):
    a, b = two_tenants
    caplog.set_level("INFO", logger="ruihe_saas.tenancy")
    with unscoped("test: count every membership"):
        rows = db.session.scalars(
            select(Membership).where(Membership.tenant_id.in_([a.tenant_id, b.tenant_id]))
        ).all()
    # Row-level security still applies underneath on PostgreSQL, so only SQLite sees all.
    if db.engine.dialect.name == "sqlite":
        assert len(rows) == 3
    assert "test: count every membership" in caplog.text


def test_unscoped_needs_a_reason():
    with pytest.raises(ValueError), unscoped(""):
        pass


def test_tenant_context_restores_previous_tenant(db, two_tenants):
    from ruihe_saas.tenancy import current_tenant_id

    a, b = two_tenants
    with tenant_context(a.tenant_id):
        with tenant_context(b.tenant_id):
            assert current_tenant_id() == b.tenant_id
        assert current_tenant_id() == a.tenant_id
    assert current_tenant_id() is None
