"""Arrears aging, chasing records, collection rate and exports: JSON API.

- ``GET /estates/<id>/collection-rate?period=YYYY-MM[&as_of=]``: the estate's collection rate,
  paid-household ratio, clearance rate, target and gap, and the same per building;
- ``GET /collection-rates?from=YYYY-MM&to=YYYY-MM[&as_of=]``: every estate × period
  (default: the last 12 periods, at most 60);
- ``GET /estates/<id>/arrears-aging[?as_of=]`` (per building), ``GET /arrears-aging`` (per
  estate), ``GET /estates/<id>/arrears-households`` (paginated, ``sort=amount|oldest``);
- ``GET|POST /households/<id>/arrears-chases``, ``GET /estates/<id>/arrears-chases``;
- exports, the format in the path: ``GET /exports/bills.csv|.xlsx`` (``estate_id``,
  ``building_id``, ``period``, ``status``), ``/exports/arrears.csv|.xlsx`` (``estate_id``,
  ``as_of``), ``/exports/collection-rate.csv|.xlsx`` (``estate_id``, ``from``, ``to``,
  ``as_of``). CSV is UTF-8 with a BOM, streamed.

Bad periods or dates: 422 with field messages. Reads need ``view_billing``, chases
``chase_arrears``.
"""

from __future__ import annotations

import uuid

from flask_babel import lazy_gettext as _l

from ruihe_saas.arrears import chases, collection, exports, services
from ruihe_saas.arrears.schemas import (
    AgingArgs,
    ArrearsExportArgs,
    BillExportArgs,
    ChaseSchema,
    CollectionExportArgs,
    CollectionRateArgs,
    CollectionTableSchema,
    EstateAgingSchema,
    EstateCollectionSchema,
    HouseholdArrearsArgs,
    HouseholdArrearsSchema,
    RangeArgs,
    TenantAgingSchema,
)
from ruihe_saas.auth.permissions import Permission
from ruihe_saas.errors import NotFound
from ruihe_saas.estates.models import Household
from ruihe_saas.estates.services import get_building, get_estate
from ruihe_saas.handover.services import local_today
from ruihe_saas.tenancy.blueprints import require_permission, tenant_api_blueprint
from ruihe_saas.tenancy.lookup import get_owned
from ruihe_saas.web.api import errors
from ruihe_saas.web.pagination import PageArgs, page_schema

blp = tenant_api_blueprint(
    "arrears_api", __name__, "", description="Arrears aging, chasing records, collection rate"
)
BINARY = {"type": "string", "format": "binary"}


def get_household(household_id: uuid.UUID) -> Household:
    household = get_owned(Household, household_id)
    if household is None:
        raise NotFound(_l("Household not found."))
    return household


# --- collection rate -----------------------------------------------------------------------


@blp.get("/estates/<uuid:estate_id>/collection-rate")
@blp.arguments(CollectionRateArgs, location="query")
@blp.response(200, EstateCollectionSchema)
@errors(blp, 422)
@require_permission(Permission.VIEW_BILLING)
def estate_collection_rate(args, estate_id: uuid.UUID):
    """Collection rate (收缴率) of the estate's bills of ``period``, the paid-household ratio,
    the clearance rate (清欠率) of older arrears, the estate's target and the gap, per
    building and in total."""
    estate = get_estate(estate_id)
    return collection.estate_collection(estate, args["period"], args["as_of"])


@blp.get("/collection-rates")
@blp.arguments(RangeArgs, location="query")
@blp.response(200, CollectionTableSchema)
@errors(blp, 422)
@require_permission(Permission.VIEW_BILLING)
def collection_rates(args):
    """Every estate × period ``from``…``to`` (default: the last 12 periods, at most 60)."""
    return collection.collection_table(args["first"], args["last"], as_of=args["as_of"])


# --- aging ---------------------------------------------------------------------------------


@blp.get("/estates/<uuid:estate_id>/arrears-aging")
@blp.arguments(AgingArgs, location="query")
@blp.response(200, EstateAgingSchema)
@errors(blp, 422)
@require_permission(Permission.VIEW_BILLING)
def estate_arrears_aging(args, estate_id: uuid.UUID):
    """Arrears of the estate per building, by days overdue: 0–30, 31–90, 91–180, 181–365,
    over 365 (amount and households per bucket)."""
    return services.estate_aging(get_estate(estate_id), args["as_of"])


@blp.get("/arrears-aging")
@blp.arguments(AgingArgs, location="query")
@blp.response(200, TenantAgingSchema)
@errors(blp, 422)
@require_permission(Permission.VIEW_BILLING)
def tenant_arrears_aging(args):
    """Arrears per estate, by days overdue, and for the whole tenant."""
    return services.tenant_aging(args["as_of"])


@blp.get("/estates/<uuid:estate_id>/arrears-households")
@blp.arguments(HouseholdArrearsArgs, location="query")
@blp.response(200, page_schema(HouseholdArrearsSchema))
@errors(blp, 422)
@require_permission(Permission.VIEW_BILLING)
def arrears_households(args, estate_id: uuid.UUID):
    """The estate's households in arrears, largest amount or oldest due date first."""
    estate = get_estate(estate_id)
    if args["building_id"] is not None:
        get_building(estate, args["building_id"])
    return services.households_in_arrears(
        estate,
        args["page"],
        args["per_page"],
        as_of=args["as_of"],
        building_id=args["building_id"],
        sort=args["sort"],
    )


# --- chasing records -----------------------------------------------------------------------


@blp.get("/households/<uuid:household_id>/arrears-chases")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(ChaseSchema))
@require_permission(Permission.VIEW_BILLING)
def household_chases(args, household_id: uuid.UUID):
    """The household's chasing records (催缴记录), newest first."""
    household = get_household(household_id)
    return chases.list_chases(args["page"], args["per_page"], household=household)


@blp.post("/households/<uuid:household_id>/arrears-chases")
@blp.arguments(ChaseSchema)
@blp.response(201, ChaseSchema)
@errors(blp, 400, 422)
@require_permission(Permission.CHASE_ARREARS)
def create_household_chase(data, household_id: uuid.UUID):
    """Record a chase: date (default today), channel (``phone``, ``visit``, ``notice``,
    ``wechat_group``), result, promised date. Keeps the arrears of that day."""
    household = get_household(household_id)
    return chases.create_chase(
        household,
        chased_on=data["chased_on"] or local_today(),
        channel=data["channel"],
        result=data["result"],
        promised_on=data["promised_on"],
    )


@blp.get("/estates/<uuid:estate_id>/arrears-chases")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(ChaseSchema))
@require_permission(Permission.VIEW_BILLING)
def estate_chases(args, estate_id: uuid.UUID):
    """The estate's chasing records, newest first."""
    estate = get_estate(estate_id)
    return chases.list_chases(args["page"], args["per_page"], estate=estate)


# --- exports -------------------------------------------------------------------------------


def _export(rule: str, name: str, args_schema, build, doc: str) -> None:
    """Register ``<rule>.csv`` and ``<rule>.xlsx`` for one export."""
    for fmt, mimetype in (("csv", exports.CSV_MIMETYPE), ("xlsx", exports.XLSX_MIMETYPE)):

        def view(args, _fmt=fmt):
            return exports.file_response(build(args), name, _fmt)

        view.__name__ = f"export_{name.replace('-', '_')}_{fmt}"
        view.__doc__ = f"{doc} ({fmt.upper()}, Chinese headers)."
        decorated = require_permission(Permission.VIEW_BILLING)(view)
        decorated = errors(blp, 422)(decorated)
        decorated = blp.response(200, BINARY, content_type=mimetype, description="The file.")(
            decorated
        )
        decorated = blp.arguments(args_schema, location="query")(decorated)
        blp.get(f"{rule}.{fmt}")(decorated)


_export(
    "/exports/bills",
    "bills",
    BillExportArgs,
    exports.bill_tables,
    "Bills, filtered by estate, building, period and status",
)
_export(
    "/exports/arrears",
    "arrears",
    ArrearsExportArgs,
    exports.arrears_export_tables,
    "Arrears: aging per building, households in arrears",
)
_export(
    "/exports/collection-rate",
    "collection-rate",
    CollectionExportArgs,
    exports.collection_export_tables,
    "Collection rates per estate and period (per building with estate_id)",
)
