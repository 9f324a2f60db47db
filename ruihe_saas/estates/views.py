"""Estate pages: list/dashboard, estate page, households, the household file (一户一册)."""

from __future__ import annotations

import re
import uuid

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from ruihe_saas.auth.permissions import Permission, role_allows
from ruihe_saas.errors import DomainError
from ruihe_saas.estates import services
from ruihe_saas.estates.forms import (
    BuildingForm,
    EstateForm,
    HouseholdForm,
    ParkingAssignForm,
    ParkingForm,
)
from ruihe_saas.estates.models import Estate, Occupancy
from ruihe_saas.handover.services import transitions_of
from ruihe_saas.tenancy.blueprints import require_permission, tenant_html_blueprint
from ruihe_saas.web.forms import apply_field_errors
from ruihe_saas.web.pagination import requested_page

bp = tenant_html_blueprint("estates", __name__, "/estates")

ESTATES_PER_PAGE = 50
HOUSEHOLDS_PER_PAGE = 50
PARKING_PER_PAGE = 100
UNKNOWN_HOUSEHOLD = _l("No household with this label in the estate.")


@bp.context_processor
def _template_helpers():
    return {"days_in_stage": services.days_in_stage}


def _fresh(form_class, **kwargs):
    """A form that ignores the submitted data (for the forms that were not posted)."""
    return form_class(formdata=None, **kwargs)


# --- estates -------------------------------------------------------------------------------


def _render_index(create_form: EstateForm, status: int = 200):
    search = (request.args.get("q") or "").strip()[:100]
    page = services.list_estates(requested_page(), ESTATES_PER_PAGE, search or None)
    services.with_counts(page.items)
    return render_template(
        "estates/index.html", page=page, search=search, create_form=create_form
    ), status


@bp.get("/")
@require_permission(Permission.VIEW_ESTATES)
def index():
    """The estates of the tenant, searchable; owners onboard new ones here."""
    return _render_index(_fresh(EstateForm))


@bp.post("/")
@require_permission(Permission.MANAGE_ESTATES)
def create():
    form = EstateForm()
    if form.validate_on_submit():
        try:
            estate = services.create_estate(form.to_data())
        except DomainError as error:
            apply_field_errors(form, error)
        else:
            flash(_("Estate created."), "success")
            return redirect(url_for(".show", estate_id=estate.id))
    return _render_index(form, 422)


def _render_show(
    estate: Estate,
    status: int = 200,
    *,
    estate_form: EstateForm | None = None,
    building_form: BuildingForm | None = None,
    parking_form: ParkingForm | None = None,
    assign_form: ParkingAssignForm | None = None,
    assign_space_id: uuid.UUID | None = None,
):
    services.with_counts([estate])
    parking = services.list_parking(estate, requested_page("parking_page"), PARKING_PER_PAGE)
    assigned = services.households_by_ids(estate, (s.household_id for s in parking.items))
    return render_template(
        "estates/show.html",
        estate=estate,
        transitions=transitions_of(estate),
        buildings=services.buildings_of(estate),
        household_counts=services.household_counts_by_building(estate),
        parking=parking,
        assigned=assigned,
        estate_form=estate_form or _fresh(EstateForm, obj=estate),
        building_form=building_form or _fresh(BuildingForm, prefix="building"),
        parking_form=parking_form or _fresh(ParkingForm, prefix="parking"),
        assign_form_class=ParkingAssignForm,
        assign_form=assign_form,
        assign_space_id=assign_space_id,
    ), status


@bp.get("/<uuid:estate_id>/")
@require_permission(Permission.VIEW_ESTATES)
def show(estate_id: uuid.UUID):
    return _render_show(services.get_estate(estate_id))


@bp.post("/<uuid:estate_id>/")
@require_permission(Permission.MANAGE_ESTATES)
def update(estate_id: uuid.UUID):
    estate = services.get_estate(estate_id)
    form = EstateForm()
    if form.validate_on_submit():
        try:
            services.update_estate(estate, form.to_data())
        except DomainError as error:
            apply_field_errors(form, error)
        else:
            flash(_("Estate saved."), "success")
            return redirect(url_for(".show", estate_id=estate.id))
    return _render_show(estate, 422, estate_form=form)


# --- buildings -----------------------------------------------------------------------------


@bp.post("/<uuid:estate_id>/buildings")
@require_permission(Permission.EDIT_ESTATE_DATA)
def add_building(estate_id: uuid.UUID):
    estate = services.get_estate(estate_id)
    form = BuildingForm(prefix="building")
    if form.validate_on_submit():
        try:
            services.create_building(estate, form.to_data())
        except DomainError as error:
            apply_field_errors(form, error)
        else:
            flash(_("Building added."), "success")
            return redirect(url_for(".show", estate_id=estate.id, _anchor="buildings"))
    return _render_show(estate, 422, building_form=form)


@bp.route("/<uuid:estate_id>/buildings/<uuid:building_id>", methods=["GET", "POST"])
@require_permission(Permission.EDIT_ESTATE_DATA)
def edit_building(estate_id: uuid.UUID, building_id: uuid.UUID):
    estate = services.get_estate(estate_id)
    building = services.get_building(estate, building_id)
    form = BuildingForm(obj=building)
    if form.validate_on_submit():
        try:
            services.update_building(building, form.to_data())
        except DomainError as error:
            apply_field_errors(form, error)
        else:
            flash(_("Building saved."), "success")
            return redirect(url_for(".show", estate_id=estate.id, _anchor="buildings"))
    status = 422 if request.method == "POST" else 200
    return render_template(
        "estates/building.html", estate=estate, building=building, form=form
    ), status


# --- parking spaces ------------------------------------------------------------------------


def _household_id_for(estate: Estate, label: str | None) -> tuple[bool, uuid.UUID | None]:
    """``(found, id)``: an empty label means "no household"."""
    if not label:
        return True, None
    household = services.find_household_by_label(estate, label)
    return household is not None, household.id if household else None


@bp.post("/<uuid:estate_id>/parking")
@require_permission(Permission.EDIT_ESTATE_DATA)
def add_parking(estate_id: uuid.UUID):
    estate = services.get_estate(estate_id)
    form = ParkingForm(prefix="parking")
    if form.validate_on_submit():
        found, household_id = _household_id_for(estate, form.household.data)
        if not found:
            form.household.errors.append(UNKNOWN_HOUSEHOLD)
        else:
            try:
                services.create_parking(estate, {**form.to_data(), "household_id": household_id})
            except DomainError as error:
                apply_field_errors(form, error)
            else:
                flash(_("Parking space added."), "success")
                return redirect(url_for(".show", estate_id=estate.id, _anchor="parking"))
    return _render_show(estate, 422, parking_form=form)


@bp.post("/<uuid:estate_id>/parking/<uuid:space_id>")
@require_permission(Permission.EDIT_ESTATE_DATA)
def assign_parking(estate_id: uuid.UUID, space_id: uuid.UUID):
    """Assign a parking space to a household (by its room label), or free it."""
    estate = services.get_estate(estate_id)
    space = services.get_parking(estate, space_id)
    form = ParkingAssignForm(prefix=f"space-{space.id}")
    if form.validate_on_submit():
        found, household_id = _household_id_for(estate, form.household.data)
        if not found:
            form.household.errors.append(UNKNOWN_HOUSEHOLD)
        else:
            try:
                services.update_parking(space, {"household_id": household_id})
            except DomainError as error:
                apply_field_errors(form, error)
            else:
                flash(_("Parking space saved."), "success")
                return redirect(url_for(".show", estate_id=estate.id, _anchor="parking"))
    return _render_show(estate, 422, assign_form=form, assign_space_id=space.id)


# --- households ----------------------------------------------------------------------------


OCCUPANCIES = frozenset(o.value for o in Occupancy)


def _parse_uuid(value: str | None) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


def _household_filters(categories) -> dict:
    """The list filters from the query string; unknown values filter nothing."""
    building_id = _parse_uuid(request.args.get("building"))
    occupancy = request.args.get("occupancy") or None
    category_code = request.args.get("category") or None
    category = next((c for c in categories if c.code == category_code), None)
    return {
        "building_id": building_id,
        "occupancy": Occupancy(occupancy) if occupancy in OCCUPANCIES else None,
        "category_id": category.id if category else None,
        "search": (request.args.get("q") or "").strip()[:100] or None,
    }


def _household_form(estate: Estate, buildings, categories, **kwargs) -> HouseholdForm:
    return HouseholdForm(**kwargs).set_choices(buildings, categories)


def _render_households(estate: Estate, add_form: HouseholdForm | None = None, status=200):
    buildings = services.buildings_of(estate)
    categories = services.categories()
    filters = _household_filters(categories)
    page = services.list_households(estate, requested_page(), HOUSEHOLDS_PER_PAGE, **filters)
    # the filters as they go back into links (page links keep them)
    args = {
        key: value
        for key, value in (
            ("q", filters["search"]),
            ("building", filters["building_id"]),
            ("occupancy", filters["occupancy"] and filters["occupancy"].value),
            ("category", request.args.get("category") if filters["category_id"] else None),
        )
        if value
    }
    return render_template(
        "estates/households.html",
        estate=estate,
        page=page,
        buildings=buildings,
        categories=categories,
        filter_args=args,
        add_form=add_form or _household_form(estate, buildings, categories, formdata=None),
    ), status


@bp.get("/<uuid:estate_id>/households")
@require_permission(Permission.VIEW_ESTATES)
def households(estate_id: uuid.UUID):
    return _render_households(services.get_estate(estate_id))


@bp.post("/<uuid:estate_id>/households")
@require_permission(Permission.EDIT_ESTATE_DATA)
def add_household(estate_id: uuid.UUID):
    estate = services.get_estate(estate_id)
    form = _household_form(estate, services.buildings_of(estate), services.categories())
    if form.validate_on_submit():
        try:
            household = services.create_household(estate, form.to_data())
        except DomainError as error:
            apply_field_errors(form, error)
        else:
            flash(_("Household added."), "success")
            return redirect(url_for(".household", estate_id=estate.id, household_id=household.id))
    return _render_households(estate, form, 422)


PHONE_SPLIT = re.compile(r"[,，;；、/\s]+")


def _render_household(estate: Estate, household, form: HouseholdForm | None = None, status=200):
    if form is None:
        form = _household_form(
            estate,
            services.buildings_of(estate),
            services.categories(),
            formdata=None,
            data={
                "building_id": str(household.building_id),
                "unit": household.unit,
                "room": household.room,
                "floor": household.floor,
                "area": household.area,
                "occupancy": household.occupancy.value,
                "owner_names": household.owner_names,
                "phones": household.phones,
                "category": household.category.code if household.category else "",
                "notes": household.notes,
            },
        )
    from ruihe_saas.billing.household import household_billing

    can_bill = role_allows(g.membership.role, Permission.VIEW_BILLING)
    return render_template(
        "estates/household.html",
        estate=estate,
        household=household,
        phones=[p for p in PHONE_SPLIT.split(household.phones or "") if p],
        parking=services.parking_of(household),
        form=form,
        billing=household_billing(household) if can_bill else None,
    ), status


@bp.get("/<uuid:estate_id>/households/<uuid:household_id>")
@require_permission(Permission.VIEW_ESTATES)
def household(estate_id: uuid.UUID, household_id: uuid.UUID):
    """The household file (一户一册)."""
    estate = services.get_estate(estate_id)
    return _render_household(estate, services.get_household(estate, household_id))


@bp.post("/<uuid:estate_id>/households/<uuid:household_id>")
@require_permission(Permission.EDIT_ESTATE_DATA)
def update_household(estate_id: uuid.UUID, household_id: uuid.UUID):
    estate = services.get_estate(estate_id)
    household = services.get_household(estate, household_id)
    form = _household_form(estate, services.buildings_of(estate), services.categories())
    if form.validate_on_submit():
        try:
            services.update_household(household, form.to_data())
        except DomainError as error:
            apply_field_errors(form, error)
        else:
            flash(_("Household saved."), "success")
            return redirect(url_for(".household", estate_id=estate.id, household_id=household.id))
    return _render_household(estate, household, form, 422)
