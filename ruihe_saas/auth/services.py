"""Account rules: users, memberships, API tokens. Services flush, never commit."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from ruihe_saas.auth.models import ApiToken, Membership, Role, User
from ruihe_saas.auth.passwords import (
    MIN_PASSWORD_LENGTH,
    hash_password,
    needs_rehash,
    verify_password,
)
from ruihe_saas.auth.permissions import ESTATE_SCOPED_ROLES
from ruihe_saas.errors import Conflict, NotFound, ValidationFailed
from ruihe_saas.extensions import db
from ruihe_saas.tenancy.context import acting_as, require_tenant_id, unscoped
from ruihe_saas.tenancy.lookup import get_owned

TOKEN_PREFIX = "rh_"  # noqa: S105  (a prefix, not a secret)


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


def find_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def check_password_rules(password: str, field: str = "password") -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            _l("Password too short."),
            fields={field: [_l("At least %(count)s characters.", count=MIN_PASSWORD_LENGTH)]},
        )


def create_user(
    email: str, password: str, *, name: str = "", is_platform_admin: bool = False
) -> User:
    email = normalise_email(email)
    if "@" not in email:
        raise ValidationFailed(_l("Invalid email."), fields={"email": [_l("Not a valid email.")]})
    check_password_rules(password)
    if find_user_by_email(email):
        raise Conflict(
            _l("A user with this email exists."), fields={"email": [_l("Already taken.")]}
        )
    user = User(
        email=email,
        name=name,
        password_hash=hash_password(password),
        is_platform_admin=is_platform_admin,
    )
    db.session.add(user)
    db.session.flush()
    return user


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, else None (constant-ish time)."""
    user = find_user_by_email(email)
    if not verify_password(user.password_hash if user else None, password):
        return None
    if not user.is_active:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def change_password(user: User, current_password: str, new_password: str) -> None:
    if not verify_password(user.password_hash, current_password):
        raise ValidationFailed(
            _l("Current password is wrong."), fields={"current_password": [_l("Wrong password.")]}
        )
    check_password_rules(new_password, "new_password")
    user.password_hash = hash_password(new_password)
    user.session_generation += 1  # ends every other session of this user
    db.session.flush()


def set_password(user: User, password: str) -> None:
    check_password_rules(password)
    user.password_hash = hash_password(password)
    user.session_generation += 1
    db.session.flush()


# --- memberships (tenant-scoped: the current tenant is the one changed) -------------------


def memberships_of(user: User) -> list[Membership]:
    """The user's memberships in every tenant (login, tenant picker, /me)."""
    with acting_as(user.id), unscoped("a user's own memberships across tenants"):
        return list(
            db.session.scalars(
                select(Membership).where(Membership.user_id == user.id).order_by(Membership.id)
            ).unique()
        )


def membership_in_current_tenant(user: User) -> Membership | None:
    return db.session.scalar(select(Membership).where(Membership.user_id == user.id))


def estate_scope_of(membership: Membership) -> list[uuid.UUID] | None:
    """The estates a member may work on, or None for every estate of the tenant."""
    if membership.role not in ESTATE_SCOPED_ROLES:
        return None
    from ruihe_saas.estates.models import MembershipEstate

    return list(
        db.session.scalars(
            select(MembershipEstate.estate_id).where(
                MembershipEstate.membership_id == membership.id
            )
        )
    )


def add_member(
    email: str, role: Role | str, estate_ids: list[uuid.UUID] | None = None
) -> Membership:
    """Give an existing user a role here; estate admins and cashiers get ``estate_ids``."""
    require_tenant_id()
    role = Role(role)
    _check_scope_fits_role(role, estate_ids)
    user = find_user_by_email(email)
    if user is None:
        raise NotFound(_l("No user with this email."), fields={"email": [_l("No such user.")]})
    if membership_in_current_tenant(user):
        raise Conflict(_l("Already a member."), fields={"email": [_l("Already a member.")]})
    membership = Membership(user_id=user.id, role=role)
    db.session.add(membership)
    db.session.flush()
    if estate_ids:
        set_estate_scope_of(membership, estate_ids)
    return membership


def update_member(
    membership: Membership, role: Role | str | None = None, estate_ids: list | None = None
) -> Membership:
    """Change a member's role and/or estate scope (a tenant keeps at least one owner)."""
    role = Role(role) if role is not None else membership.role
    _check_scope_fits_role(role, estate_ids)
    if membership.role == Role.OWNER and role != Role.OWNER:
        _refuse_if_last_owner(membership)
    membership.role = role
    if role not in ESTATE_SCOPED_ROLES:
        set_estate_scope_of(membership, [])
    elif estate_ids is not None:
        set_estate_scope_of(membership, estate_ids)
    db.session.flush()
    return membership


def _check_scope_fits_role(role: Role, estate_ids) -> None:
    if estate_ids and role not in ESTATE_SCOPED_ROLES:
        raise ValidationFailed(
            _l("Only estate admins and cashiers are limited to estates."),
            fields={"estate_ids": [_l("This role sees every estate.")]},
        )


def set_estate_scope_of(membership: Membership, estate_ids) -> None:
    """Replace the member's estate scope with ``estate_ids`` (estates of this tenant)."""
    from ruihe_saas.estates.models import Estate, MembershipEstate

    wanted = {uuid.UUID(str(e)) for e in estate_ids}
    known = (
        set(db.session.scalars(select(Estate.id).where(Estate.id.in_(wanted)))) if wanted else set()
    )
    if wanted - known:
        raise ValidationFailed(
            _l("Unknown estate."), fields={"estate_ids": [_l("Not an estate of this company.")]}
        )
    current = {
        link.estate_id: link
        for link in db.session.scalars(
            select(MembershipEstate).where(MembershipEstate.membership_id == membership.id)
        )
    }
    for estate_id, link in current.items():
        if estate_id not in wanted:
            db.session.delete(link)
    for estate_id in sorted(wanted - set(current)):
        db.session.add(MembershipEstate(membership_id=membership.id, estate_id=estate_id))
    db.session.flush()


def remove_member(membership: Membership) -> None:
    if membership.role == Role.OWNER:
        _refuse_if_last_owner(membership)
    set_estate_scope_of(membership, [])  # explicitly, so the audit trail records it
    db.session.delete(membership)
    db.session.flush()


def _refuse_if_last_owner(membership: Membership) -> None:
    owners = db.session.scalar(
        select(func.count()).select_from(Membership).where(Membership.role == Role.OWNER)
    )
    if owners <= 1:
        raise Conflict(
            _l("A company keeps at least one owner."), fields={"role": [_l("Last owner.")]}
        )


def list_members(page: int, per_page: int):
    from ruihe_saas.web.pagination import paginate

    return paginate(
        select(Membership).order_by(Membership.created_at, Membership.id), page, per_page
    )


def get_member(membership_id: uuid.UUID) -> Membership:
    membership = get_owned(Membership, membership_id)
    if membership is None:
        raise NotFound(_l("Member not found."))
    return membership


# --- API tokens ----------------------------------------------------------------------------


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User, *, days: int) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    db.session.add(
        ApiToken(
            user_id=user.id,
            token_hash=_hash_token(token),
            created_at=now,
            expires_at=now + timedelta(days=days),
        )
    )
    db.session.flush()
    return token


def user_for_token(token: str) -> tuple[User, ApiToken] | None:
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    api_token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash_token(token)))
    now = datetime.now(UTC)
    if api_token is None or api_token.revoked_at is not None:
        return None
    if api_token.expires_at <= now or not api_token.user.is_active:
        return None
    last_used = api_token.last_used_at
    if last_used is None or last_used < now - timedelta(minutes=5):
        api_token.last_used_at = now
    return api_token.user, api_token


def revoke_token(api_token: ApiToken) -> None:
    api_token.revoked_at = datetime.now(UTC)
    db.session.flush()
