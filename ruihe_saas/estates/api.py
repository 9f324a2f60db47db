"""Estates API: estates, buildings, households, parking spaces."""

from __future__ import annotations

import uuid

from ruihe_saas.auth.permissions import Permission
from ruihe_saas.estates import services
from ruihe_saas.estates.schemas import (
    BuildingSchema,
    BuildingUpdateSchema,
    EstateListArgs,
    EstateSchema,
    EstateUpdateSchema,
    HouseholdListArgs,
    HouseholdSchema,
    HouseholdUpdateSchema,
    ParkingSpaceSchema,
    ParkingSpaceUpdateSchema,
)
from ruihe_saas.tenancy.blueprints import require_permission, tenant_api_blueprint
from ruihe_saas.web.api import errors
from ruihe_saas.web.pagination import Page, PageArgs, page_schema

blp = tenant_api_blueprint(
    "estates_api", __name__, "/estates", description="Estates and their dwellings"
)
WRITE_ERRORS = (400, 409)


def _counted(page: Page) -> Page:
    services.with_counts(page.items)
    return page


@blp.get("")
@blp.arguments(EstateListArgs, location="query")
@blp.response(200, page_schema(EstateSchema))
@require_permission(Permission.VIEW_ESTATES)
def list_estates(args):
    """Estates of the tenant (an estate-scoped member sees their estates only)."""
    return _counted(services.list_estates(args["page"], args["per_page"], args["q"]))


@blp.post("")
@blp.arguments(EstateSchema)
@blp.response(201, EstateSchema)
@errors(blp, *WRITE_ERRORS)
@require_permission(Permission.MANAGE_ESTATES)
def create_estate(data):
    """Onboard an estate (stage: prospect)."""
    return services.with_counts([services.create_estate(data)])[0]


@blp.get("/<uuid:estate_id>")
@blp.response(200, EstateSchema)
@require_permission(Permission.VIEW_ESTATES)
def get_estate(estate_id: uuid.UUID):
    return services.with_counts([services.get_estate(estate_id)])[0]


@blp.patch("/<uuid:estate_id>")
@blp.arguments(EstateUpdateSchema(partial=True))
@blp.response(200, EstateSchema)
@errors(blp, *WRITE_ERRORS)
@require_permission(Permission.MANAGE_ESTATES)
def update_estate(data, estate_id: uuid.UUID):
    estate = services.update_estate(services.get_estate(estate_id), data)
    return services.with_counts([estate])[0]


# --- buildings -----------------------------------------------------------------------------


@blp.get("/<uuid:estate_id>/buildings")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(BuildingSchema))
@require_permission(Permission.VIEW_ESTATES)
def list_buildings(args, estate_id: uuid.UUID):
    estate = services.get_estate(estate_id)
    return services.list_buildings(estate, args["page"], args["per_page"])


@blp.post("/<uuid:estate_id>/buildings")
@blp.arguments(BuildingSchema)
@blp.response(201, BuildingSchema)
@errors(blp, *WRITE_ERRORS)
@require_permission(Permission.EDIT_ESTATE_DATA)
def create_building(data, estate_id: uuid.UUID):
    return services.create_building(services.get_estate(estate_id), data)


@blp.patch("/<uuid:estate_id>/buildings/<uuid:building_id>")
@blp.arguments(BuildingUpdateSchema(partial=True))
@blp.response(200, BuildingSchema)
@errors(blp, *WRITE_ERRORS)
@require_permission(Permission.EDIT_ESTATE_DATA)
def update_building(data, estate_id: uuid.UUID, building_id: uuid.UUID):
    building = services.get_building(services.get_estate(estate_id), building_id)
    return services.update_building(building, data)


# --- households ----------------------------------------------------------------------------


@blp.get("/<uuid:estate_id>/households")
@blp.arguments(HouseholdListArgs, location="query")
@blp.response(200, page_schema(HouseholdSchema))
@require_permission(Permission.VIEW_ESTATES)
def list_households(args, estate_id: uuid.UUID):
    """Households, filtered by building, occupancy, category, or a search of room/name/phone."""
    estate = services.get_estate(estate_id)
    category = services.category_by_code(args["category"]) if args["category"] else None
    return services.list_households(
        estate,
        args["page"],
        args["per_page"],
        building_id=args["building_id"],
        occupancy=args["occupancy"],
        category_id=category.id if category else None,
        search=args["q"],
    )


@blp.post("/<uuid:estate_id>/households")
@blp.arguments(HouseholdSchema)
@blp.response(201, HouseholdSchema)
@errors(blp, *WRITE_ERRORS, 422)
@require_permission(Permission.EDIT_ESTATE_DATA)
def create_household(data, estate_id: uuid.UUID):
    return services.create_household(services.get_estate(estate_id), data)


@blp.get("/<uuid:estate_id>/households/<uuid:household_id>")
@blp.response(200, HouseholdSchema)
@require_permission(Permission.VIEW_ESTATES)
def get_household(estate_id: uuid.UUID, household_id: uuid.UUID):
    return services.get_household(services.get_estate(estate_id), household_id)


@blp.patch("/<uuid:estate_id>/households/<uuid:household_id>")
@blp.arguments(HouseholdUpdateSchema(partial=True))
@blp.response(200, HouseholdSchema)
@errors(blp, *WRITE_ERRORS)
@require_permission(Permission.EDIT_ESTATE_DATA)
def update_household(data, estate_id: uuid.UUID, household_id: uuid.UUID):
    household = services.get_household(services.get_estate(estate_id), household_id)
    return services.update_household(household, data)


# --- parking spaces ------------------------------------------------------------------------


@blp.get("/<uuid:estate_id>/parking-spaces")
@blp.arguments(PageArgs, location="query")
@blp.response(200, page_schema(ParkingSpaceSchema))
@require_permission(Permission.VIEW_ESTATES)
def list_parking(args, estate_id: uuid.UUID):
    estate = services.get_estate(estate_id)
    return services.list_parking(estate, args["page"], args["per_page"])


@blp.post("/<uuid:estate_id>/parking-spaces")
@blp.arguments(ParkingSpaceSchema)
@blp.response(201, ParkingSpaceSchema)
@errors(blp, *WRITE_ERRORS)
@require_permission(Permission.EDIT_ESTATE_DATA)
def create_parking(data, estate_id: uuid.UUID):
    return services.create_parking(services.get_estate(estate_id), data)


@blp.patch("/<uuid:estate_id>/parking-spaces/<uuid:space_id>")
@blp.arguments(ParkingSpaceUpdateSchema(partial=True))
@blp.response(200, ParkingSpaceSchema)
@errors(blp, *WRITE_ERRORS)
@require_permission(Permission.EDIT_ESTATE_DATA)
def update_parking(data, estate_id: uuid.UUID, space_id: uuid.UUID):
    """Change a parking space, e.g. assign it to a household (``household_id``) or free it."""
    space = services.get_parking(services.get_estate(estate_id), space_id)
    return services.update_parking(space, data)
