"""The ``[[users]]`` section of a tenant definition: people, their role in the tenant and,
for estate admins and cashiers, their estate scope (``estates = ["MOER"]``)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from ruihe_saas.auth import services
from ruihe_saas.auth.models import Membership, Role
from ruihe_saas.auth.permissions import ESTATE_SCOPED_ROLES
from ruihe_saas.errors import ValidationFailed
from ruihe_saas.extensions import db
from ruihe_saas.tenancy.definitions import LoadReport, secret_value, section

USER_KEYS = {"email", "name", "password", "password_env", "role", "platform_admin", "estates"}


@section("users", order=10)  # after estates (order 5): a scope names estates by code
def load_users(entries: list, report: LoadReport, base: Path, *, demo: bool) -> None:
    if not isinstance(entries, list):
        raise ValidationFailed("[[users]] must be a list of tables.")
    for entry in entries:
        unknown = set(entry) - USER_KEYS
        if unknown:
            raise ValidationFailed(f"users: unknown keys {', '.join(sorted(unknown))}.")
        email = services.normalise_email(entry.get("email", ""))
        try:
            role = Role(entry.get("role", "viewer"))
        except ValueError:
            roles = ", ".join(role.value for role in Role)
            raise ValidationFailed(
                f"users: {email} has an unknown role (one of {roles})."
            ) from None
        user = services.find_user_by_email(email)
        password = secret_value(entry, "password")
        if user is None:
            if not password:
                raise ValidationFailed(f"users: {email} needs a password or password_env.")
            user = services.create_user(
                email,
                password,
                name=entry.get("name", ""),
                is_platform_admin=bool(entry.get("platform_admin", False)),
            )
            report.lines.append(f"user {email} created")
        membership = db.session.scalar(select(Membership).where(Membership.user_id == user.id))
        if membership is None:
            membership = Membership(user_id=user.id, role=role)
            db.session.add(membership)
            report.lines.append(f"member {email} added as {role.value}")
        elif membership.role != role:
            membership.role = role
            report.lines.append(f"member {email} is now {role.value}")
        if "estates" in entry:
            db.session.flush()
            _set_estate_scope(membership, email, entry["estates"], report)
        if demo and password:
            report.logins.append((email, password, role.value))
    db.session.flush()


def _set_estate_scope(membership: Membership, email: str, codes, report: LoadReport) -> None:
    """The member's estates, exactly as the file lists them (changed only if they differ)."""
    from ruihe_saas.estates.models import Estate

    if not isinstance(codes, list) or not all(isinstance(code, str) for code in codes):
        raise ValidationFailed(f"users: {email}: estates must be a list of estate codes.")
    if membership.role not in ESTATE_SCOPED_ROLES:
        raise ValidationFailed(f"users: {email}: only estate admins and cashiers have estates.")
    estate_ids = dict(db.session.execute(select(Estate.code, Estate.id)).tuples().all())
    unknown = set(codes) - set(estate_ids)
    if unknown:
        raise ValidationFailed(f"users: {email}: unknown estates {', '.join(sorted(unknown))}.")
    wanted = {estate_ids[code] for code in codes}
    if set(services.estate_scope_of(membership) or ()) != wanted:
        services.set_estate_scope_of(membership, wanted)
        report.lines.append(f"member {email} works on {', '.join(codes) or 'no estate'}")


def member_who_may(email, permission, estates, where: str, key: str):
    """``(user id, e-mail)`` of the tenant's member named by ``key`` in a definition entry
    (e.g. the cashier of ``[[payments]]``): a user of the tenant whose role allows
    ``permission`` and whose estate scope holds every estate of ``estates``."""
    from ruihe_saas.auth.models import User
    from ruihe_saas.auth.permissions import role_allows

    if not isinstance(email, str) or not email.strip():
        raise ValidationFailed(f"{where}: {key} must be the e-mail of a user of the tenant.")
    email = services.normalise_email(email)
    row = db.session.execute(
        select(Membership, User.id)
        .join(User, User.id == Membership.user_id)
        .where(User.email == email)
    ).first()
    if row is None:
        raise ValidationFailed(f"{where}: {key} {email} is not a user of the tenant.")
    membership, user_id = row
    if not role_allows(membership.role, permission):
        raise ValidationFailed(
            f"{where}: {key} {email} is a {membership.role.value}: not allowed to "
            f"{permission.value.replace('_', ' ')}."
        )
    scope = services.estate_scope_of(membership)
    for estate in estates:
        if scope is not None and estate.id not in scope:
            raise ValidationFailed(f"{where}: {key} {email} does not work on estate {estate.code}.")
    return user_id, email
