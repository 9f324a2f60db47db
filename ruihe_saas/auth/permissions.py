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
    VIEW_BILLING = "view_billing"  # fee schedules, bills, arrears, collection rate
    MANAGE_FEES = "manage_fees"  # fee schedules, items, adjustments, shared meters
    ENTER_READINGS = "enter_readings"  # meter readings, occupancy changes
    RUN_BILLING = "run_billing"  # preview and run billing
    VOID_BILLS = "void_bills"  # credit (红冲) a bill or a line
    CHASE_ARREARS = "chase_arrears"  # record arrears chasing, print reminder notices
    VIEW_PAYMENTS = "view_payments"  # payments, receipts, refunds, cash-up sheets
    TAKE_PAYMENTS = "take_payments"  # desk payments, pay links, print receipts
    REFUND_PAYMENTS = "refund_payments"  # refunds, cancel receipts
    CLOSE_CASH_UP = "close_cash_up"  # close a cashier's day (日结): own day, or any for finance
    MANAGE_GATEWAY = "manage_gateway"  # the tenant's online payment settings (owner only)
    VIEW_LEDGER = "view_ledger"  # finance reports, journal entries, periods (estate admins: theirs)
    POST_ENTRIES = "post_entries"  # manual journal entries, improvement spending, reversals
    CLOSE_PERIODS = "close_periods"  # the monthly close of an entity
    REOPEN_PERIODS = "reopen_periods"  # reopen a closed month, with a reason (owner only)
    MANAGE_ACCOUNTS = "manage_accounts"  # add and deactivate accounts of the chart


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
            Permission.VIEW_BILLING,
            Permission.MANAGE_FEES,
            Permission.ENTER_READINGS,
            Permission.RUN_BILLING,
            Permission.CHASE_ARREARS,
            Permission.VIEW_PAYMENTS,
            Permission.VIEW_LEDGER,
        }
    ),
    Role.FINANCE: frozenset(
        {
            Permission.VIEW_TENANT,
            Permission.VIEW_JOBS,
            Permission.VIEW_ESTATES,
            Permission.VIEW_AUDIT,
            Permission.VIEW_BILLING,
            Permission.VOID_BILLS,
            Permission.CHASE_ARREARS,
            Permission.VIEW_PAYMENTS,
            Permission.REFUND_PAYMENTS,
            Permission.CLOSE_CASH_UP,
            Permission.VIEW_LEDGER,
            Permission.POST_ENTRIES,
            Permission.CLOSE_PERIODS,
            Permission.MANAGE_ACCOUNTS,
        }
    ),
    Role.CASHIER: frozenset(
        {
            Permission.VIEW_TENANT,
            Permission.VIEW_JOBS,
            Permission.VIEW_ESTATES,
            Permission.VIEW_BILLING,
            Permission.ENTER_READINGS,
            Permission.CHASE_ARREARS,
            Permission.VIEW_PAYMENTS,
            Permission.TAKE_PAYMENTS,
            Permission.CLOSE_CASH_UP,
        }
    ),
    Role.VIEWER: frozenset(
        {Permission.VIEW_TENANT, Permission.VIEW_ESTATES, Permission.VIEW_BILLING}
    ),
}


# Roles that work on some estates only: their membership names the estates (estate scope).
ESTATE_SCOPED_ROLES = frozenset({Role.ESTATE_ADMIN, Role.CASHIER})


def role_allows(role: Role, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[role]
