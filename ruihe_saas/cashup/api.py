"""Cashiers' daily cash-up (日结): JSON API.

- ``GET /cash-up?date=YYYY-MM-DD&cashier_id=`` (``view_payments``): a cashier's day per
  method (count, received, refunded, net), the grand total, the payments and refunds, and
  whether it is closed (frozen totals). Default: the caller, today (tenant-local). A cashier
  sees only their own days (403), finance and the owner anyone's.
- ``POST /cash-up/close`` ``{"date", "cashier_id"?, "note"?}`` (``close_cash_up``): 201 with
  the closed day; 409 when already closed, 422 for a future day, 403 for another cashier's
  day unless finance or owner.
- ``GET /cash-up/days?from=&to=&cashier_id=`` (``view_payments``): closed days, newest first
  (default: the last 31 days; at most 366).

Bad dates: 422 with field messages. An id that is not a member of the tenant: 404.
"""

from __future__ import annotations

from datetime import timedelta

from flask import g

from ruihe_saas.auth.permissions import Permission
from ruihe_saas.cashup import services
from ruihe_saas.cashup.schemas import (
    ClosedDaySchema,
    ClosedDaysSchema,
    CloseSchema,
    DayArgs,
    DaysArgs,
    DaySummarySchema,
)
from ruihe_saas.tenancy.blueprints import require_permission, tenant_api_blueprint
from ruihe_saas.tenancy.context import current_actor_user_id
from ruihe_saas.web.api import errors

blp = tenant_api_blueprint("cashup_api", __name__, "", description="Cashiers' daily cash-up (日结)")


def closed_day_record(day, cashier_name: str, closed_by_name: str) -> dict:
    return {
        "id": day.id,
        "cashier_id": day.cashier_id,
        "cashier_name": cashier_name,
        "business_date": day.business_date,
        "payment_count": day.payment_count,
        "received": day.received,
        "refunded": day.refunded,
        "net": services.money(day.received - day.refunded),
        "totals": day.totals or {},
        "closed_at": day.closed_at,
        "closed_by": day.closed_by,
        "closed_by_name": closed_by_name,
        "note": day.note,
    }


@blp.get("/cash-up")
@blp.arguments(DayArgs, location="query")
@blp.response(200, DaySummarySchema)
@errors(blp, 422)
@require_permission(Permission.VIEW_PAYMENTS)
def day_summary(args):
    """A cashier's day (日结): totals per method, the payments and refunds, closed or not."""
    cashier = services.cashier_of(args["cashier_id"])
    services.check_may_see(cashier.id, oversees=services.oversees_cash_up(g.membership))
    return services.day_summary(cashier.id, args["date"] or services.local_today())


@blp.post("/cash-up/close")
@blp.arguments(CloseSchema)
@blp.response(201, ClosedDaySchema)
@errors(blp, 400, 409, 422)
@require_permission(Permission.CLOSE_CASH_UP)
def close_day(data):
    """Close a cashier's day: its totals per method are frozen; no payment or refund can be
    dated into it afterwards. Own day; finance and the owner: any cashier's."""
    day = services.close_day(
        data["cashier_id"],
        data["date"],
        data["note"],
        may_close_others=services.oversees_cash_up(g.membership),
    )
    cashier = services.cashier_of(day.cashier_id)
    closer = services.cashier_name_of(day.closed_by)
    return closed_day_record(day, cashier.name or cashier.email, closer)


@blp.get("/cash-up/days")
@blp.arguments(DaysArgs, location="query")
@blp.response(200, ClosedDaysSchema)
@errors(blp, 422)
@require_permission(Permission.VIEW_PAYMENTS)
def closed_days(args):
    """Closed cash-up days from ``from`` to ``to``, newest first. Cashiers: their own only."""
    oversees = services.oversees_cash_up(g.membership)
    cashier_id = args["cashier_id"]
    if cashier_id is not None:
        cashier_id = services.cashier_of(cashier_id).id
        services.check_may_see(cashier_id, oversees=oversees)
    elif not oversees:
        cashier_id = current_actor_user_id()
    last = args["to"] or services.local_today()
    first = args["from_"] or last - timedelta(days=30)
    rows = services.closed_days(first, last, cashier_id)
    return {
        "from_": first,
        "to": last,
        "items": [closed_day_record(day, name, closer) for day, name, closer in rows],
    }
