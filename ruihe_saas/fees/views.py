"""Fee pages (``/t/<slug>/fees/…``): an estate's fee schedules with their history, the new
schedule / revision / copy forms; adjustments, meter readings, occupancy changes and shared
meters are in ``entry_views``.

Endpoints: ``fees.schedules`` (estate_id), ``fees.new_schedule`` (estate_id),
``fees.revise_schedule`` and ``fees.copy_schedule`` (estate_id, schedule_id),
``fees.adjustments``, ``fees.readings``, ``fees.shared_meters`` (estate_id).
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from ruihe_saas.auth.permissions import Permission
from ruihe_saas.errors import DomainError, NotFound
from ruihe_saas.estates import services as estate_services
from ruihe_saas.estates.models import Estate
from ruihe_saas.fees import services
from ruihe_saas.fees.form_data import schedule_form_data, schedule_payload, show_errors
from ruihe_saas.fees.forms import (
    CATEGORY_LABELS,
    CHARGE_KIND_LABELS,
    FREQUENCY_LABELS,
    METER_LABELS,
    OCCUPANCY_LABELS,
    SPLIT_LABELS,
    STAGE_LABELS,
    CopyForm,
    ScheduleForm,
)
from ruihe_saas.fees.models import FeeSchedule
from ruihe_saas.tenancy.blueprints import require_permission, tenant_html_blueprint
from ruihe_saas.web.forms import apply_field_errors

bp = tenant_html_blueprint("fees", __name__, "/fees")


def rate_text(value) -> str:
    """0.6000 → 0.60; 0.8125 → 0.8125 (at least two decimals)."""
    if value is None:
        return ""
    text = format(Decimal(value).normalize(), "f")
    whole, _dot, decimals = text.partition(".")
    return f"{whole}.{decimals.ljust(2, '0')}"


@bp.context_processor
def _template_helpers():
    def names_of(keys, names: dict) -> str:
        """ "1栋、2栋": the names of ``keys`` (ids or enum values) that ``names`` knows."""
        found = (names.get(str(key)) or names.get(key) for key in keys or ())
        return "、".join(str(name) for name in found if name)

    return {
        "rate_text": rate_text,
        "names_of": names_of,
        "labels": {
            "kind": CHARGE_KIND_LABELS,
            "frequency": FREQUENCY_LABELS,
            "category": CATEGORY_LABELS,
            "stages": STAGE_LABELS,
            "meter": METER_LABELS,
            "split": SPLIT_LABELS,
            "occupancy": OCCUPANCY_LABELS,
        },
    }


def schedule_of(estate: Estate, schedule_id: uuid.UUID) -> FeeSchedule:
    schedule = services.get_schedule(schedule_id)
    if schedule.estate_id != estate.id:
        raise NotFound(_("Fee schedule not found."))
    return schedule


def _lookups(estate: Estate) -> dict:
    """Names the pages show for ids: buildings, categories, shared meters."""
    return {
        "buildings": {str(b.id): b.name for b in estate_services.buildings_of(estate)},
        "categories": {str(c.id): c.name for c in estate_services.categories()},
        "meters": {m.id: m.name for m in services.shared_meters_of(estate)},
    }


# --- the schedules page ------------------------------------------------------------------------


@bp.get("/estates/<uuid:estate_id>")
@require_permission(Permission.VIEW_BILLING)
def schedules(estate_id: uuid.UUID):
    """Every fee schedule of the estate with its whole history; the versions in force today
    are highlighted."""
    estate = estate_services.get_estate(estate_id)
    return render_template(
        "fees/schedules.html",
        estate=estate,
        lineages=services.list_schedules(estate),
        today=services.local_today(),
        **_lookups(estate),
    )


# --- new schedule, revision --------------------------------------------------------------------


def _schedule_form(estate: Estate, **kwargs) -> ScheduleForm:
    form = ScheduleForm(**kwargs)
    return form.set_choices(
        estate_services.buildings_of(estate),
        estate_services.categories(),
        services.shared_meters_of(estate),
    )


def _render_form(estate, form, status=200, *, revising=None, items=None):
    return render_template(
        "fees/schedule_form.html",
        estate=estate,
        form=form,
        revising=revising,
        revising_items=items or [],
        **_lookups(estate),
    ), status


def _save(estate: Estate, form: ScheduleForm, save, revising=None, items=None):
    """Validate the form, call ``save(data)``, or re-render with the errors."""
    if not form.validate_on_submit():
        return _render_form(estate, form, 422, revising=revising, items=items)
    data, rows, labels_known = schedule_payload(form, estate)
    if not labels_known:
        form.form_errors.append(_("Some households were not found; nothing was saved."))
        return _render_form(estate, form, 422, revising=revising, items=items)
    try:
        schedule = save(data)
    except DomainError as error:
        show_errors(form, error, rows)
        return _render_form(estate, form, error.status, revising=revising, items=items)
    return schedule


@bp.route("/estates/<uuid:estate_id>/new", methods=["GET", "POST"])
@require_permission(Permission.MANAGE_FEES)
def new_schedule(estate_id: uuid.UUID):
    """A new fee schedule with up to six items (more after saving, by revising it)."""
    estate = estate_services.get_estate(estate_id)
    if request.method == "GET":
        return _render_form(estate, _schedule_form(estate, formdata=None))
    result = _save(
        estate, _schedule_form(estate), lambda data: services.create_schedule(estate, data)
    )
    if not isinstance(result, FeeSchedule):
        return result
    flash(_("Fee schedule %(name)s saved.", name=result.name), "success")
    return redirect(url_for(".schedules", estate_id=estate.id, _anchor=f"s-{result.id}"), 303)


@bp.route("/estates/<uuid:estate_id>/schedules/<uuid:schedule_id>/revise", methods=["GET", "POST"])
@require_permission(Permission.MANAGE_FEES)
def revise_schedule(estate_id: uuid.UUID, schedule_id: uuid.UUID):
    """A new version of a schedule, prefilled with the version it revises."""
    estate = estate_services.get_estate(estate_id)
    schedule = schedule_of(estate, schedule_id)
    items = services.items_of(schedule)
    if request.method == "GET":
        data = schedule_form_data(schedule, items, estate)
        data["effective_from"] = None
        form = _schedule_form(estate, formdata=None, data=data)
        return _render_form(estate, form, revising=schedule, items=items)
    result = _save(
        estate,
        _schedule_form(estate),
        lambda data: services.revise_schedule(schedule.id, data),
        revising=schedule,
        items=items,
    )
    if not isinstance(result, FeeSchedule):
        return result
    flash(_("Version %(version)d saved.", version=result.version), "success")
    return redirect(url_for(".schedules", estate_id=estate.id, _anchor=f"s-{result.id}"), 303)


@bp.route("/estates/<uuid:estate_id>/schedules/<uuid:schedule_id>/copy", methods=["GET", "POST"])
@require_permission(Permission.MANAGE_FEES)
def copy_schedule(estate_id: uuid.UUID, schedule_id: uuid.UUID):
    """Copy a schedule to another estate (or this one) from a date."""
    estate = estate_services.get_estate(estate_id)
    schedule = schedule_of(estate, schedule_id)
    form = CopyForm()
    estates = estate_services.list_estates(1, 100).items
    form.estate_id.choices = [(str(e.id), f"{e.name} ({e.code})") for e in estates]
    status = 200
    if request.method == "POST":
        status = 422
        if form.validate_on_submit():
            try:
                result = services.copy_schedule(
                    schedule.id,
                    form.estate_id.data,
                    form.effective_from.data,
                    form.name.data or None,
                )
            except DomainError as error:
                apply_field_errors(form, error)
                status = error.status
            else:
                return _copied(result)
    return render_template("fees/copy.html", estate=estate, schedule=schedule, form=form), status


def _copied(result):
    flash(_("Fee schedule copied."), "success")
    if result.dropped:
        flash(
            ngettext(
                "%(num)d part pointed at the source estate and was left out: %(parts)s.",
                "%(num)d parts pointed at the source estate and were left out: %(parts)s.",
                len(result.dropped),
                parts="；".join(f"{d.name}: {d.reason}" for d in result.dropped),
            ),
            "info",
        )
    target = result.schedule
    return redirect(
        url_for(".schedules", estate_id=target.estate_id, _anchor=f"s-{target.id}"), 303
    )


from ruihe_saas.fees import entry_views  # noqa: E402,F401 - registers the other pages on bp
