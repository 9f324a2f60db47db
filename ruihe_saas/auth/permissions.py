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
    VIEW_ESTATES = "view_estates"
    MANAGE_ESTATES = "manage_estates"  # onboard estates, edit their master data
    EDIT_ESTATE_DATA = "edit_estate_data"  # buildings, households, parking, imports
    MANAGE_HANDOVER = "manage_handover"  # record handover transitions
    VIEW_AUDIT = "view_audit"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: frozenset(Permission),
    Role.ESTATE_ADMIN: frozenset(
        {
            Permission.VIEW_TENANT,
            Permission.VIEW_JOBS,
            Permission.VIEW_ESTATES,
            Permission.EDIT_ESTATE_DATA,
            Permission.MANAGE_HANDOVER,
            Permission.VIEW_AUDIT,
        }
    ),
    Role.FINANCE: frozenset(
        {
            Permission.VIEW_TENANT,
            Permission.VIEW_JOBS,
            Permission.VIEW_ESTATES,
            Permission.VIEW_AUDIT,
        }
    ),
    Role.CASHIER: frozenset(
        {Permission.VIEW_TENANT, Permission.VIEW_JOBS, Permission.VIEW_ESTATES}
    ),
    Role.VIEWER: frozenset({Permission.VIEW_TENANT, Permission.VIEW_ESTATES}),
}


# Roles that work on some estates only: their membership names the estates (estate scope).
ESTATE_SCOPED_ROLES = frozenset({Role.ESTATE_ADMIN, Role.CASHIER})


def role_allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]
