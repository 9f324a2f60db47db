"""Import API: buildings + households + parking spaces from one XLSX/CSV file; templates;
copying an estate's building layout into a new estate."""

from __future__ import annotations

import io
import uuid

from flask import send_file

from ruihe_saas.auth.permissions import Permission
from ruihe_saas.estates import services as estate_services
from ruihe_saas.estates.schemas import EstateSchema
from ruihe_saas.imports import formats, services
from ruihe_saas.imports.schemas import (
    IMPORT_ERROR_EXAMPLE,
    EstateCopySchema,
    ImportResultSchema,
    ImportUploadSchema,
    MultipartParser,
)
from ruihe_saas.tenancy.blueprints import require_permission, tenant_api_blueprint
from ruihe_saas.web.api import ApiErrorSchema, errors

blp = tenant_api_blueprint(
    "imports_api", __name__, "/estates", description="Onboarding data imports"
)
blp.ARGUMENTS_PARSER = MultipartParser()

BINARY = {"type": "string", "format": "binary"}


def _download(data: bytes, mimetype: str, name: str):
    return send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=True, download_name=name)


@blp.get("/<uuid:estate_id>/imports/template.xlsx")
@blp.response(200, BINARY, content_type=formats.XLSX_MIMETYPE, description="The template.")
@require_permission(Permission.EDIT_ESTATE_DATA)
def template_xlsx(estate_id: uuid.UUID):
    """The XLSX template: a 房屋 sheet with the headers, a 说明 sheet explaining the columns."""
    estate_services.get_estate(estate_id)
    return _download(formats.template_xlsx(), formats.XLSX_MIMETYPE, "households-template.xlsx")


@blp.get("/<uuid:estate_id>/imports/template.csv")
@blp.response(200, BINARY, content_type=formats.CSV_MIMETYPE, description="The template.")
@require_permission(Permission.EDIT_ESTATE_DATA)
def template_csv(estate_id: uuid.UUID):
    """The CSV template: the header row only (UTF-8 with BOM)."""
    estate_services.get_estate(estate_id)
    return _download(formats.template_csv(), formats.CSV_MIMETYPE, "households-template.csv")


@blp.post("/<uuid:estate_id>/imports")
@blp.arguments(ImportUploadSchema, location="files")
@blp.response(201, ImportResultSchema, description="Imported; something was created.")
@blp.alt_response(
    200,
    schema=ImportResultSchema,
    description="Imported with updates only or no change, or a dry run: counts only.",
    success=True,
)
@blp.alt_response(
    422,
    schema=ApiErrorSchema,
    description="Nothing was imported. Unreadable file: `fields.file` lists the problems. "
    "Bad rows: `fields.rows` lists every one as `{row, column, message}` (row: the "
    "spreadsheet's row number; column: the file's header).",
    example=IMPORT_ERROR_EXAMPLE,
)
@errors(blp, 400, 413)
@require_permission(Permission.EDIT_ESTATE_DATA)
def import_file(data, estate_id: uuid.UUID):
    """Import buildings, households and parking spaces from one file (multipart ``file``).

    Every row is checked first; any error and nothing is imported (422 listing every bad
    row). Households are keyed by building + unit + room: new ones are created, changed ones
    updated, the same file imported twice changes nothing; households not in the file are
    left alone. ``dry_run`` checks and counts without writing."""
    estate = estate_services.get_estate(estate_id)
    upload = data["file"]
    result = services.import_households(
        estate, upload.filename, upload.read(formats.MAX_BYTES + 1), dry_run=data["dry_run"]
    )
    return result.as_dict(), 201 if result.created_anything and not result.dry_run else 200


@blp.post("/<uuid:estate_id>/copies")
@blp.arguments(EstateCopySchema)
@blp.response(201, EstateSchema)
@errors(blp, 400, 409)
@require_permission(Permission.MANAGE_ESTATES)
def copy_estate(data, estate_id: uuid.UUID):
    """Create an estate with this estate's buildings (no households, no parking spaces)."""
    source = estate_services.get_estate(estate_id)
    estate = services.copy_estate_layout(source, data)
    return estate_services.with_counts([estate])[0]
