"""Domain exceptions and their mapping to HTTP.

Services raise these; the API renders ``{"error": {"code", "message", "fields"}}``, the HTML
views render ``templates/errors/error.html``. Nothing a client sends may end in a 500.
"""

from __future__ import annotations

import logging

from flask import Flask, jsonify, render_template, request
from sqlalchemy.exc import DataError, IntegrityError
from werkzeug.exceptions import HTTPException

from ruihe_saas.extensions import db
from ruihe_saas.tenancy.context import CrossTenantWrite

log = logging.getLogger("ruihe_saas.errors")


class DomainError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, fields: dict | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.fields = fields or {}
        if code:
            self.code = code


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"


class ValidationFailed(DomainError):
    status = 422
    code = "validation_failed"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"


HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
    500: "internal_error",
}


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.path.startswith("/stripe/")


def _flatten_webargs(messages) -> dict:
    """webargs nests errors by location ({"json": {"email": [...]}}): keep field names."""
    if not isinstance(messages, dict):
        return {"_schema": messages}
    fields: dict = {}
    for location, errors in messages.items():
        if isinstance(errors, dict) and location in {
            "json",
            "query",
            "form",
            "files",
            "headers",
            "view_args",
            "path",
        }:
            fields.update(errors)
        else:
            fields[location] = errors
    return fields


def _plain(value):
    """Lazy (translated) strings and nested field messages as plain JSON values."""
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return str(value)


def error_response(status: int, message: str, *, code: str | None = None, fields=None):
    message = str(message)
    fields = _plain(fields or {})
    if wants_json():
        body = {
            "error": {
                "code": code or HTTP_CODES.get(status, "error"),
                "message": message,
                "fields": fields or {},
            }
        }
        return jsonify(body), status
    return render_template("errors/error.html", status=status, message=message), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(error: DomainError):
        db.session.rollback()
        return error_response(error.status, error.message, code=error.code, fields=error.fields)

    @app.errorhandler(CrossTenantWrite)
    def _cross_tenant(error):
        db.session.rollback()
        log.warning("cross-tenant write refused: %s", error)
        return error_response(404, "Not found.")

    @app.errorhandler(IntegrityError)
    def _integrity(error):
        db.session.rollback()
        log.info("integrity error mapped to 409: %s", error.orig)
        return error_response(409, "The change conflicts with existing data.")

    @app.errorhandler(DataError)
    def _data(error):
        db.session.rollback()
        return error_response(422, "A value is out of range or malformed.")

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        if error.code and error.code >= 400:
            db.session.rollback()
        if error.response is not None and not wants_json():
            return error.response
        status = error.code or 500
        fields = None
        data = getattr(error, "data", None)
        if isinstance(data, dict) and "messages" in data:
            fields = _flatten_webargs(data["messages"])
        message = error.description if isinstance(error.description, str) else error.name
        if fields and status == 422:
            message = "The request has invalid fields."
        response, status = error_response(status, message, fields=fields)
        if wants_json() and status == 405 and hasattr(error, "valid_methods"):
            response.headers["Allow"] = ", ".join(error.valid_methods or [])
        return response, status

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unhandled error")
        db.session.rollback()
        return error_response(500, "Internal error.")
