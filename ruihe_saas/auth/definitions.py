"""The ``[[users]]`` section of a tenant definition: people and their role in the tenant."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from ruihe_saas.auth import services
from ruihe_saas.auth.models import Membership, Role
from ruihe_saas.errors import ValidationFailed
from ruihe_saas.extensions import db
from ruihe_saas.tenancy.definitions import LoadReport, secret_value, section

USER_KEYS = {"email", "name", "password", "password_env", "role", "platform_admin"}


@section("users", order=10)
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
            db.session.add(Membership(user_id=user.id, role=role))
            report.lines.append(f"member {email} added as {role.value}")
        elif membership.role != role:
            membership.role = role
            report.lines.append(f"member {email} is now {role.value}")
        if demo and password:
            report.logins.append((email, password, role.value))
    db.session.flush()
