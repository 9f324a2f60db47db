"""Schemas of the import API: the multipart upload, the result counts, an estate copy."""

from __future__ import annotations

import marshmallow as ma
from flask_smorest.fields import Upload
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import FileStorage, MultiDict

from ruihe_saas.estates.schemas import EstateSchema
from ruihe_saas.imports.formats import MAX_BYTES, MAX_ROWS


class UploadedFile(Upload):
    """A file part of a multipart body (a plain text field of that name is refused)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, FileStorage):
            raise ma.ValidationError("Send a file (multipart/form-data).")
        return value


class MultipartParser(FlaskParser):
    """``location="files"`` also reads the multipart body's plain fields (``dry_run``), so
    one schema documents and parses the whole ``multipart/form-data`` body."""

    def load_files(self, req, schema):
        merged = MultiDict(req.form)
        for key, value in req.files.items(multi=True):
            merged.add(key, value)
        return self._makeproxy(merged, schema)


class ImportUploadSchema(ma.Schema):
    file = UploadedFile(
        required=True,
        metadata={
            "description": f"The .xlsx or .csv file (at most {MAX_BYTES // 2**20} MB, "
            f"{MAX_ROWS} rows); see the templates for the format."
        },
    )
    dry_run = ma.fields.Boolean(
        load_default=False,
        metadata={"description": "Check every row and count what would change; write nothing."},
    )


class CountsSchema(ma.Schema):
    created = ma.fields.Integer(required=True)
    updated = ma.fields.Integer(required=True)
    unchanged = ma.fields.Integer(required=True)


class HouseholdCountsSchema(CountsSchema):
    not_in_file = ma.fields.Integer(
        required=True,
        metadata={"description": "Households of the estate the file does not list (left alone)."},
    )


class ImportResultSchema(ma.Schema):
    rows = ma.fields.Integer(required=True, metadata={"description": "Data rows read."})
    dry_run = ma.fields.Boolean(required=True)
    buildings = ma.fields.Nested(CountsSchema, required=True)
    households = ma.fields.Nested(HouseholdCountsSchema, required=True)
    parking_spaces = ma.fields.Nested(CountsSchema, required=True)
    ignored_columns = ma.fields.List(
        ma.fields.String(),
        required=True,
        metadata={"description": "Headers the import did not recognise (their cells unused)."},
    )


class EstateCopySchema(EstateSchema):
    """The new estate's own fields; its buildings come from the source estate."""


IMPORT_ERROR_EXAMPLE = {
    "error": {
        "code": "validation_failed",
        "message": "The file has 2 errors; nothing was imported.",
        "fields": {
            "rows": [
                {"row": 7, "column": "面积", "message": "Not a number."},
                {"row": 9, "column": "房号", "message": "Same building, unit and room as row 4."},
            ]
        },
    }
}
