"""Billing API: billing runs, bills, voids (红冲), household statements.

- ``POST /estates/<id>/billing-runs`` ``{"period", "dry_run"}`` → 202, the run (queued; it
  runs on the ``billing`` queue, in-process without Redis); 409 while a run of the same
  estate and period is queued or running; ``GET /estates/<id>/billing-runs`` (newest first),
  ``GET /billing-runs/<id>``: status, progress ``{done, total}``, totals per fee item, bills
  created, the dry run's preview and warnings.
- ``GET /bills`` filtered by ``estate_id``, ``building_id``, ``household_id``, ``period``
  (``YYYY-MM``) and ``status``; ``GET /bills/<id>`` with lines, credits and the late fee.
- ``POST /bills/<id>/void``, ``POST /bill-lines/<id>/void`` ``{"reason"}``: credit the unpaid
  remainder (409 when it is paid or nothing is left); the bill is returned.
- ``GET /households/<id>/statement?from=&to=``: the account history with a running balance.
"""

from __future__ import annotations

import uuid

from flask_babel import lazy_gettext as _l

from ruihe_saas.auth.permissions import Permission
from ruihe_saas.billing import bills, runs, statements
from ruihe_saas.billing.schemas import (
    BillDetailSchema,
    BillingRunSchema,
    BillingRunStartSchema,
    BillListArgs,
    BillSchema,
    RunListArgs,
    StatementArgs,
    StatementSchema,
    VoidSchema,
)
from ruihe_saas.errors import NotFound
from ruihe_saas.estates.models import Household
from ruihe_saas.estates.services import get_estate
from ruihe_saas.tenancy.blueprints import require_permission, tenant_api_blueprint
from ruihe_saas.tenancy.lookup import get_owned
from ruihe_saas.web.api import errors
from ruihe_saas.web.pagination import page_schema

blp = tenant_api_blueprint(
    "billing_api", __name__, "", description="Billing runs, bills, credits, statements"
)
WRITE_ERRORS = (400, 409)


# --- billing runs --------------------------------------------------------------------------


@blp.post("/estates/<uuid:estate_id>/billing-runs")
@blp.arguments(BillingRunStartSchema)
@blp.response(202, BillingRunSchema)
@errors(blp, *WRITE_ERRORS)
@require_permission(Permission.RUN_BILLING)
def start_billing_run(data, estate_id: uuid.UUID):
    """Start a billing run of the estate for a period (``dry_run``: a preview only)."""
    return runs.start_billing_run(estate_id, data["period"], data["dry_run"])


@blp.get("/estates/<uuid:estate_id>/billing-runs")
@blp.arguments(RunListArgs, location="query")
@blp.response(200, page_schema(BillingRunSchema))
@require_permission(Permission.VIEW_BILLING)
def list_billing_runs(args, estate_id: uuid.UUID):
    """The estate's billing runs, newest first."""
    estate = get_estate(estate_id)
    return runs.list_billing_runs(estate.id, args["page"], args["per_page"])


@blp.get("/billing-runs/<uuid:run_id>")
@blp.response(200, BillingRunSchema)
@require_permission(Permission.VIEW_BILLING)
def get_billing_run(run_id: uuid.UUID):
    return runs.get_billing_run(run_id)


# --- bills ---------------------------------------------------------------------------------


@blp.get("/bills")
@blp.arguments(BillListArgs, location="query")
@blp.response(200, page_schema(BillSchema))
@require_permission(Permission.VIEW_BILLING)
def list_bills(args):
    """Bills, newest period first. A named estate, building or household must exist in
    your scope (404)."""
    return bills.summaries(bills.list_bills(**args))


@blp.get("/bills/<uuid:bill_id>")
@blp.response(200, BillDetailSchema)
@require_permission(Permission.VIEW_BILLING)
def get_bill(bill_id: uuid.UUID):
    """A bill with its lines (formula: rate × quantity × days/period_days), credits and the
    late fee accrued as of today (informational)."""
    return bills.bill_detail(bills.get_bill(bill_id))


@blp.post("/bills/<uuid:bill_id>/void")
@blp.arguments(VoidSchema)
@blp.response(200, BillDetailSchema)
@errors(blp, *WRITE_ERRORS)
@require_permission(Permission.VOID_BILLS)
def void_bill(data, bill_id: uuid.UUID):
    """Void (红冲) the unpaid remainder of every line of the bill; paid amounts stay (refund
    them first). 409 when nothing is left to void."""
    return bills.bill_detail(bills.void_bill(bill_id, data["reason"]))


@blp.post("/bill-lines/<uuid:line_id>/void")
@blp.arguments(VoidSchema)
@blp.response(200, BillDetailSchema)
@errors(blp, *WRITE_ERRORS)
@require_permission(Permission.VOID_BILLS)
def void_line(data, line_id: uuid.UUID):
    """Void (红冲) the unpaid remainder of one line; returns its bill."""
    return bills.bill_detail(bills.void_line(line_id, data["reason"]))


# --- statements ----------------------------------------------------------------------------


@blp.get("/households/<uuid:household_id>/statement")
@blp.arguments(StatementArgs, location="query")
@blp.response(200, StatementSchema)
@require_permission(Permission.VIEW_BILLING)
def household_statement(args, household_id: uuid.UUID):
    """The household's account history (bills, credits, payments) with a running balance
    (> 0 owed, < 0 prepaid), optionally ``from`` / ``to`` a date (inclusive)."""
    household = get_owned(Household, household_id)
    if household is None:
        raise NotFound(_l("Household not found."))
    return statements.household_statement(household, args["start"], args["end"])
