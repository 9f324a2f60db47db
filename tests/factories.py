"""factory_boy factories. Tenant-owned rows are always created inside their tenant's
context (the scoping guard would refuse anything else)."""

from __future__ import annotations

import factory

from ruihe_saas.auth.models import Membership, Role, User
from ruihe_saas.auth.passwords import hash_password
from ruihe_saas.extensions import db
from ruihe_saas.tenancy.context import tenant_context
from ruihe_saas.tenancy.models import Tenant

PASSWORD = "correct-horse-battery"
_PASSWORD_HASH = hash_password(PASSWORD)


class _Base(factory.alchemy.SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "flush"


class TenantFactory(_Base):
    class Meta:
        model = Tenant

    slug = factory.Sequence(lambda n: f"tenant-{n:04d}")
    name = factory.Sequence(lambda n: f"测试物业{n}")


class UserFactory(_Base):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.test")
    name = factory.Sequence(lambda n: f"用户{n}")
    password_hash = _PASSWORD_HASH


class MembershipFactory(_Base):
    class Meta:
        model = Membership

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.OWNER

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        tenant = kwargs.pop("tenant")
        user = kwargs.pop("user")
        with tenant_context(tenant.id):
            membership = model_class(tenant_id=tenant.id, user_id=user.id, **kwargs)
            db.session.add(membership)
            db.session.flush()
        return membership


def member(role: Role = Role.OWNER, tenant: Tenant | None = None, **user_kwargs) -> Membership:
    """A user with a role in ``tenant`` (a new tenant by default)."""
    tenant = tenant or TenantFactory()
    return MembershipFactory(tenant=tenant, user=UserFactory(**user_kwargs), role=role)
