"""Import pages: template download, upload, the row-by-row error report; copying an
estate's building layout."""

from __future__ import annotations

import io
import uuid

from flask import flash, g, redirect, render_template, send_file, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from ruihe_saas.auth.permissions import Permission, role_allows
from ruihe_saas.errors import DomainError, ValidationFailed
from ruihe_saas.estates import services as estate_services
from ruihe_saas.estates.models import Estate
from ruihe_saas.imports import formats, services
from ruihe_saas.imports.forms import CopyEstateForm, ImportForm
from ruihe_saas.tenancy.blueprints import require_permission, tenant_html_blueprint
from ruihe_saas.web.forms import apply_field_errors

bp = tenant_html_blueprint("imports", __name__, "/estates")
SHOWN_ERRORS = 1000  # a page lists this many row errors (the API lists them all)


def _render(estate: Estate, status: int = 200, **context):
    context.setdefault("form", ImportForm())
    context.setdefault("copy_form", CopyEstateForm())
    return render_template(
        "imports/import.html",
        estate=estate,
        columns=formats.COLUMNS,
        categories=estate_services.categories(),
        max_rows=formats.MAX_ROWS,
        can_copy=role_allows(g.membership.role, Permission.MANAGE_ESTATES),
        **context,
    ), status


def _download(data: bytes, mimetype: str, name: str):
    return send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=True, download_name=name)


@bp.get("/<uuid:estate_id>/import")
@require_permission(Permission.EDIT_ESTATE_DATA)
def page(estate_id: uuid.UUID):
    return _render(estate_services.get_estate(estate_id))


@bp.post("/<uuid:estate_id>/import")
@require_permission(Permission.EDIT_ESTATE_DATA)
def upload(estate_id: uuid.UUID):
    estate = estate_services.get_estate(estate_id)
    form = ImportForm()
    if not form.validate_on_submit():
        return _render(estate, 422, form=form)
    upload = form.file.data
    try:
        result = services.import_households(
            estate,
            upload.filename,
            upload.read(formats.MAX_BYTES + 1),
            dry_run=form.dry_run.data,
        )
    except ValidationFailed as error:
        form.file.errors = list(form.file.errors) + list(error.fields.get("file", []))
        rows = error.fields.get("rows", [])
        return _render(
            estate,
            422,
            form=form,
            summary=error.message,
            row_errors=rows[:SHOWN_ERRORS],
            hidden_errors=max(len(rows) - SHOWN_ERRORS, 0),
        )
    if result.dry_run:
        return _render(estate, form=form, result=result)
    flash(
        ngettext(
            "Imported %(num)d row: %(created)d households created, %(updated)d updated, "
            "%(unchanged)d unchanged; %(buildings)d buildings created.",
            "Imported %(num)d rows: %(created)d households created, %(updated)d updated, "
            "%(unchanged)d unchanged; %(buildings)d buildings created.",
            result.rows,
            created=result.households.created,
            updated=result.households.updated,
            unchanged=result.households.unchanged,
            buildings=result.buildings.created,
        ),
        "success",
    )
    if result.households_not_in_file:
        flash(
            ngettext(
                "%(num)d household of the estate is not in the file; it was left alone.",
                "%(num)d households of the estate are not in the file; they were left alone.",
                result.households_not_in_file,
            ),
            "info",
        )
    return redirect(url_for("estates.households", estate_id=estate.id), 303)


@bp.get("/<uuid:estate_id>/import/template.xlsx")
@require_permission(Permission.EDIT_ESTATE_DATA)
def template_xlsx(estate_id: uuid.UUID):
    estate_services.get_estate(estate_id)
    return _download(formats.template_xlsx(), formats.XLSX_MIMETYPE, "households-template.xlsx")


@bp.get("/<uuid:estate_id>/import/template.csv")
@require_permission(Permission.EDIT_ESTATE_DATA)
def template_csv(estate_id: uuid.UUID):
    estate_services.get_estate(estate_id)
    return _download(formats.template_csv(), formats.CSV_MIMETYPE, "households-template.csv")


@bp.post("/<uuid:estate_id>/copy")
@require_permission(Permission.MANAGE_ESTATES)
def copy(estate_id: uuid.UUID):
    source = estate_services.get_estate(estate_id)
    form = CopyEstateForm()
    if form.validate_on_submit():
        data = {key: form.data[key] or "" for key in ("name", "code", "address")}
        try:
            estate = services.copy_estate_layout(source, data)
        except DomainError as error:
            apply_field_errors(form, error)
        else:
            flash(
                _(
                    "Estate %(name)s created with the buildings of %(source)s.",
                    name=estate.name,
                    source=source.name,
                ),
                "success",
            )
            return redirect(url_for(".page", estate_id=estate.id), 303)
    return _render(source, 422, copy_form=form)
