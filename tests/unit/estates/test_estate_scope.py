"""The estate scope: one level below the tenant, enforced by the same mechanism."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.auth.services import estate_scope_of
from ruihe_saas.estates.models import Building, Estate, Household
from ruihe_saas.jobs import commit_and_dispatch, enqueue
from ruihe_saas.jobs.services import get_job
from ruihe_saas.tenancy import tenant_context
from ruihe_saas.tenancy.context import OutOfEstateScope, estate_scope
from ruihe_saas.tenancy.lookup import get_owned
from tests.estate_factories import estate_with_households, scope_member
from tests.factories import member


@pytest.fixture
def two_estates(db):
    owner = member(Role.OWNER)
    a = estate_with_households(owner.tenant_id, "A", buildings=2, rooms=3)
    b = estate_with_households(owner.tenant_id, "B", buildings=1, rooms=2)
    db.session.commit()  # (a savepoint: the test's rollbacks below keep this setup)
    return owner, a, b


def count(model) -> int:
    from ruihe_saas.extensions import db

    return db.session.scalar(select(func.count()).select_from(model))


def test_scope_filters_estates_and_their_rows(db, two_estates):
    owner, a, b = two_estates
    with tenant_context(owner.tenant_id):
        assert (count(Estate), count(Building), count(Household)) == (2, 3, 8)
        with estate_scope([a.id]):
            assert db.session.scalars(select(Estate.code)).all() == ["A"]
            assert (count(Building), count(Household)) == (2, 6)
            assert get_owned(Estate, b.id) is None  # even though b is in the identity map
            assert get_owned(Estate, a.id) is a
        with estate_scope([]):
            assert (count(Estate), count(Household)) == (0, 0)


def building_of(db, estate) -> Building:
    return db.session.scalars(
        select(Building)
        .where(Building.estate_id == estate.id)
        .execution_options(populate_existing=True)
    ).first()


def test_writes_outside_the_scope_are_refused(db, two_estates):
    owner, a, b = two_estates
    with tenant_context(owner.tenant_id):
        with estate_scope([a.id]):
            db.session.add(Building(estate_id=b.id, name="99栋", floors=3))
            with pytest.raises(OutOfEstateScope):
                db.session.flush()
        db.session.rollback()
        building_b = building_of(db, b)
        with estate_scope([a.id]):
            building_b.name = "改名"
            with pytest.raises(OutOfEstateScope):
                db.session.flush()
        db.session.rollback()


def test_moving_a_row_into_the_scope_from_outside_is_refused(db, two_estates):
    owner, a, b = two_estates
    with tenant_context(owner.tenant_id):
        building_b = building_of(db, b)
        with estate_scope([a.id]):
            building_b.estate_id = a.id
            with pytest.raises(OutOfEstateScope):
                db.session.flush()
        db.session.rollback()


def test_only_estate_roles_have_a_scope(db, two_estates):
    owner, a, b = two_estates
    admin = member(Role.ESTATE_ADMIN, tenant=owner.tenant)
    cashier = member(Role.CASHIER, tenant=owner.tenant)
    finance = member(Role.FINANCE, tenant=owner.tenant)
    scope_member(admin, a)
    scope_member(cashier, a, b)
    with tenant_context(owner.tenant_id):
        assert estate_scope_of(owner) is None and estate_scope_of(finance) is None
        assert estate_scope_of(admin) == [a.id]
        assert sorted(estate_scope_of(cashier)) == sorted([a.id, b.id])


def test_a_job_runs_in_the_scope_it_was_asked_in(db, two_estates, app, monkeypatch):
    from tests import jobs_probe

    monkeypatch.setitem(app.config, "RUIHE_JOBS_INLINE", True)
    owner, a, b = two_estates
    with tenant_context(owner.tenant_id), estate_scope([a.id]):
        record = enqueue(jobs_probe.count_households)
        commit_and_dispatch()
    with tenant_context(owner.tenant_id):
        assert get_job(record.id).result == {"households": 6}
        assert get_job(record.id).estate_scope == [str(a.id)]
