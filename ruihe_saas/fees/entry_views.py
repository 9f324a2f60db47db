"""Fee pages for day-to-day entries, on the ``fees`` blueprint: adjustments (减免), meter
readings (one at a time or a file), occupancy changes, shared meters and their readings.

Each form posts to its own URL; bad input re-renders the page with the form's errors (422,
or the service's 409) and stores nothing. Households are named by their label."""

from __future__ import annotations

import uuid

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from wtforms import SelectChoice

from ruihe_saas.auth.permissions import Permission
from ruihe_saas.billing.periods import PERIOD_PATTERN
from ruihe_saas.errors import DomainError, NotFound, ValidationFailed
from ruihe_saas.estates import occupancy
from ruihe_saas.estates import services as estate_services
from ruihe_saas.estates.models import Estate
from ruihe_saas.fees import readings as reading_service
from ruihe_saas.fees import services
from ruihe_saas.fees.forms import (
    AdjustmentForm,
    EndAdjustmentForm,
    OccupancyForm,
    ReadingForm,
    ReadingImportForm,
    SharedMeterForm,
    SharedReadingForm,
)
from ruihe_saas.fees.models import MeterKind
from ruihe_saas.fees.reading_import import COLUMNS as IMPORT_COLUMNS
from ruihe_saas.fees.reading_import import import_readings as import_reading_file
from ruihe_saas.fees.views import bp
from ruihe_saas.imports.formats import MAX_BYTES
from ruihe_saas.tenancy.blueprints import require_permission
from ruihe_saas.web.forms import apply_field_errors
from ruihe_saas.web.pagination import requested_page

PER_PAGE = 50
SHOWN_ERRORS = 500
UNKNOWN_HOUSEHOLD = _l("No household with this label in the estate.")


def _period_arg() -> str:
    period = (request.args.get("period") or "").strip()
    if PERIOD_PATTERN.match(period):
        return period
    return reading_service.readings_on(services.local_today())


def _household_id(estate: Estate, form) -> uuid.UUID | None:
    """The household the form names by label, or None after an error on the field."""
    household = estate_services.find_household_by_label(estate, form.household.data or "")
    if household is None:
        form.household.errors = [*form.household.errors, UNKNOWN_HOUSEHOLD]
        return None
    return household.id


def _fresh(form_class, **kwargs):
    return form_class(formdata=None, **kwargs)


# --- adjustments -------------------------------------------------------------------------------


def _adjustment_form(estate: Estate, **kwargs) -> AdjustmentForm:
    form = AdjustmentForm(prefix="adjustment", **kwargs)
    form.category.choices = [SelectChoice("", "—")] + [
        SelectChoice(c.code, c.name) for c in estate_services.categories()
    ]
    form.fee_item_code.choices = [SelectChoice("", _("All items"))] + [
        SelectChoice(code, f"{name} ({code})") for code, name in services.item_codes_of(estate)
    ]
    return form


def _render_adjustments(estate: Estate, status: int = 200, **forms):
    page = services.list_adjustments(estate, requested_page(), PER_PAGE)
    households = estate_services.households_by_ids(estate, (a.household_id for a in page.items))
    forms.setdefault("form", _adjustment_form(estate, formdata=None))
    return render_template(
        "fees/adjustments.html",
        estate=estate,
        page=page,
        households=households,
        categories={c.id: c.name for c in estate_services.categories()},
        today=services.local_today(),
        end_form_class=EndAdjustmentForm,
        **forms,
    ), status


@bp.get("/estates/<uuid:estate_id>/adjustments")
@require_permission(Permission.VIEW_BILLING)
def adjustments(estate_id: uuid.UUID):
    return _render_adjustments(estate_services.get_estate(estate_id))


@bp.post("/estates/<uuid:estate_id>/adjustments")
@require_permission(Permission.MANAGE_FEES)
def add_adjustment(estate_id: uuid.UUID):
    estate = estate_services.get_estate(estate_id)
    form = _adjustment_form(estate)
    if form.validate_on_submit():
        household_id = None
        if form.household.data:
            household_id = _household_id(estate, form)
        if not form.household.errors:
            data = {
                "household_id": household_id,
                "category": form.category.data or None,
                "fee_item_code": form.fee_item_code.data or None,
                "kind": form.kind.data,
                "value": form.value.data,
                "reason": form.reason.data,
                "valid_from": form.valid_from.data,
                "valid_to": form.valid_to.data,
            }
            try:
                services.create_adjustment(estate, data)
            except DomainError as error:
                if "category_id" in error.fields:
                    error.fields["category"] = error.fields.pop("category_id")
                if "household_id" in error.fields:
                    error.fields["household"] = error.fields.pop("household_id")
                apply_field_errors(form, error)
                return _render_adjustments(estate, error.status, form=form)
            flash(_("Adjustment saved."), "success")
            return redirect(url_for(".adjustments", estate_id=estate.id), 303)
    return _render_adjustments(estate, 422, form=form)


@bp.post("/estates/<uuid:estate_id>/adjustments/<uuid:adjustment_id>/end")
@require_permission(Permission.MANAGE_FEES)
def end_adjustment(estate_id: uuid.UUID, adjustment_id: uuid.UUID):
    estate = estate_services.get_estate(estate_id)
    adjustment = services.get_adjustment(adjustment_id)
    if adjustment.estate_id != estate.id:
        raise NotFound(_("Adjustment not found."))
    form = EndAdjustmentForm(prefix=f"end-{adjustment.id}")
    if form.validate_on_submit():
        try:
            services.end_adjustment(adjustment.id, form.valid_to.data)
        except DomainError as error:
            apply_field_errors(form, error)
            return _render_adjustments(estate, error.status, end_form=form, end_id=adjustment.id)
        flash(_("Adjustment ended."), "success")
        return redirect(url_for(".adjustments", estate_id=estate.id), 303)
    return _render_adjustments(estate, 422, end_form=form, end_id=adjustment.id)


# --- readings, occupancy -----------------------------------------------------------------------


def _render_readings(estate: Estate, status: int = 200, **context):
    period = _period_arg()
    kind = request.args.get("meter_kind")
    kind = MeterKind(kind) if kind in {k.value for k in MeterKind} else None
    page = reading_service.list_readings(
        estate, requested_page(), PER_PAGE, period=period, meter_kind=kind
    )
    changes = occupancy.recent_changes(estate.id)
    households = estate_services.households_by_ids(
        estate, [r.household_id for r in page.items] + [c.household_id for c in changes]
    )
    context.setdefault(
        "reading_form", _fresh(ReadingForm, prefix="reading", data={"period": period})
    )
    context.setdefault("import_form", _fresh(ReadingImportForm, prefix="import"))
    context.setdefault(
        "occupancy_form",
        _fresh(OccupancyForm, prefix="occupancy", data={"effective_date": services.local_today()}),
    )
    return render_template(
        "fees/readings.html",
        estate=estate,
        page=page,
        period=period,
        meter_kind=kind.value if kind else "",
        households=households,
        changes=changes,
        import_columns=IMPORT_COLUMNS,
        **context,
    ), status


@bp.get("/estates/<uuid:estate_id>/readings")
@require_permission(Permission.VIEW_BILLING)
def readings(estate_id: uuid.UUID):
    """A period's meter readings; the forms to enter one, import a file, record an
    occupancy change."""
    return _render_readings(estate_services.get_estate(estate_id))


@bp.post("/estates/<uuid:estate_id>/readings")
@require_permission(Permission.ENTER_READINGS)
def add_reading(estate_id: uuid.UUID):
    estate = estate_services.get_estate(estate_id)
    form = ReadingForm(prefix="reading")
    if form.validate_on_submit():
        household_id = _household_id(estate, form)
        if household_id is not None:
            data = {key: getattr(form, key).data for key in (
                "meter_kind", "period", "current_reading", "previous_reading", "is_replacement",
                "read_on",
            )}  # fmt: skip
            try:
                reading = reading_service.record_reading(
                    estate, {**data, "household_id": household_id}
                )
            except DomainError as error:
                error.fields.pop("household_id", None)
                apply_field_errors(form, error)
                return _render_readings(estate, error.status, reading_form=form)
            flash(_("Reading replaced.") if reading.replaced else _("Reading saved."), "success")
            return redirect(url_for(".readings", estate_id=estate.id, period=reading.period), 303)
    return _render_readings(estate, 422, reading_form=form)


@bp.post("/estates/<uuid:estate_id>/readings/import")
@require_permission(Permission.ENTER_READINGS)
def import_readings(estate_id: uuid.UUID):
    estate = estate_services.get_estate(estate_id)
    form = ReadingImportForm(prefix="import")
    if not form.validate_on_submit():
        return _render_readings(estate, 422, import_form=form)
    upload = form.file.data
    try:
        result = import_reading_file(estate, upload.filename, upload.read(MAX_BYTES + 1))
    except ValidationFailed as error:
        form.file.errors = [*form.file.errors, *error.fields.get("file", [])]
        rows = error.fields.get("rows", [])
        return _render_readings(
            estate,
            422,
            import_form=form,
            import_summary=error.message,
            row_errors=rows[:SHOWN_ERRORS],
            hidden_errors=max(len(rows) - SHOWN_ERRORS, 0),
        )
    flash(
        ngettext(
            "Imported %(num)d row: %(created)d readings created, %(replaced)d replaced, "
            "%(unchanged)d unchanged.",
            "Imported %(num)d rows: %(created)d readings created, %(replaced)d replaced, "
            "%(unchanged)d unchanged.",
            result.rows,
            created=result.created,
            replaced=result.replaced,
            unchanged=result.unchanged,
        ),
        "success",
    )
    return redirect(url_for(".readings", estate_id=estate.id), 303)


@bp.post("/estates/<uuid:estate_id>/occupancy")
@require_permission(Permission.ENTER_READINGS)
def change_occupancy(estate_id: uuid.UUID):
    estate = estate_services.get_estate(estate_id)
    form = OccupancyForm(prefix="occupancy")
    if form.validate_on_submit():
        household_id = _household_id(estate, form)
        if household_id is not None:
            try:
                occupancy.change_occupancy(
                    household_id, form.to_occupancy.data, form.effective_date.data
                )
            except DomainError as error:
                apply_field_errors(form, error)
                return _render_readings(estate, error.status, occupancy_form=form)
            flash(_("Occupancy change recorded."), "success")
            return redirect(url_for(".readings", estate_id=estate.id, _anchor="occupancy"), 303)
    return _render_readings(estate, 422, occupancy_form=form)


# --- shared meters -----------------------------------------------------------------------------


def _meter_form(estate: Estate, **kwargs) -> SharedMeterForm:
    form = SharedMeterForm(prefix="meter", **kwargs)
    form.building_id.choices = [SelectChoice("", "—")] + [
        SelectChoice(str(b.id), b.name) for b in estate_services.buildings_of(estate)
    ]
    return form


def _meter_reading_form(estate: Estate, meters, **kwargs) -> SharedReadingForm:
    form = SharedReadingForm(prefix="meter_reading", **kwargs)
    form.shared_meter_id.choices = [SelectChoice(str(m.id), m.name) for m in meters]
    return form


def _render_meters(estate: Estate, status: int = 200, **forms):
    meters = services.shared_meters_of(estate)
    period = _period_arg()
    forms.setdefault("meter_form", _meter_form(estate, formdata=None))
    forms.setdefault(
        "reading_form", _meter_reading_form(estate, meters, formdata=None, data={"period": period})
    )
    return render_template(
        "fees/shared_meters.html",
        estate=estate,
        meters=meters,
        buildings={b.id: b.name for b in estate_services.buildings_of(estate)},
        period=period,
        page=reading_service.list_shared_readings(
            estate, requested_page(), PER_PAGE, period=period
        ),
        names={m.id: m.name for m in meters},
        **forms,
    ), status


@bp.get("/estates/<uuid:estate_id>/shared-meters")
@require_permission(Permission.VIEW_BILLING)
def shared_meters(estate_id: uuid.UUID):
    return _render_meters(estate_services.get_estate(estate_id))


@bp.post("/estates/<uuid:estate_id>/shared-meters")
@require_permission(Permission.MANAGE_FEES)
def add_shared_meter(estate_id: uuid.UUID):
    estate = estate_services.get_estate(estate_id)
    form = _meter_form(estate)
    if form.validate_on_submit():
        data = {
            key: getattr(form, key).data or None
            for key in ("name", "meter_kind", "building_id", "unit")
        }
        try:
            services.create_shared_meter(estate, data)
        except DomainError as error:
            apply_field_errors(form, error)
            return _render_meters(estate, error.status, meter_form=form)
        flash(_("Shared meter added."), "success")
        return redirect(url_for(".shared_meters", estate_id=estate.id), 303)
    return _render_meters(estate, 422, meter_form=form)


@bp.post("/estates/<uuid:estate_id>/shared-meters/readings")
@require_permission(Permission.ENTER_READINGS)
def add_shared_reading(estate_id: uuid.UUID):
    estate = estate_services.get_estate(estate_id)
    form = _meter_reading_form(estate, services.shared_meters_of(estate))
    if form.validate_on_submit():
        data = {key: getattr(form, key).data for key in (
            "shared_meter_id", "period", "current_reading", "previous_reading", "is_replacement",
        )}  # fmt: skip
        try:
            reading = reading_service.record_shared_reading(estate, data)
        except DomainError as error:
            apply_field_errors(form, error)
            return _render_meters(estate, error.status, reading_form=form)
        flash(_("Reading replaced.") if reading.replaced else _("Reading saved."), "success")
        return redirect(url_for(".shared_meters", estate_id=estate.id, period=reading.period), 303)
    return _render_meters(estate, 422, reading_form=form)
