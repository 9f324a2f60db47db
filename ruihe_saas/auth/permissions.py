"""What each role may do, declared once. Views and API handlers name a permission; they
never test roles inline."""

from __future__ import annotations

import enum

from ruihe_saas.auth.models import Role


class Permission(enum.StrEnum):
    VIEW_TENANT = "view_tenant"
    MANAGE_MEMBERS = "manage_members"
    VIEW_MEMBERS = "view_members"
    VIEW_JOBS = "view_jobs"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.ESTATE_ADMIN: frozenset({Permission.VIEW_TENANT, Permission.VIEW_JOBS}),
    Role.FINANCE: frozenset({Permission.VIEW_TENANT, Permission.VIEW_JOBS}),
    Role.CASHIER: frozenset({Permission.VIEW_TENANT, Permission.VIEW_JOBS}),
    Role.VIEWER: frozenset({Permission.VIEW_TENANT}),
}


# Roles that work on some estates only: their membership names the estates (estate scope).
ESTATE_SCOPED_ROLES = frozenset({Role.ESTATE_ADMIN, Role.CASHIER})


def role_allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]
