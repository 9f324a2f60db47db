"""The JSON API: one flask-smorest ``Api``, its error format, bearer tokens, browsable docs.

API conventions every feature follows:
- blueprints under ``/api/v1`` (tenant ones under ``/api/v1/t/<tenant_slug>``, see
  ``tenancy.blueprints``); marshmallow schemas in and out;
- errors ``{"error": {"code", "message", "fields"}}`` (``errors.py``);
- lists paginated with ``page``/``per_page`` and a ``total`` (``web.pagination``);
- authentication by ``Authorization: Bearer <token>`` only (no cookies, hence no CSRF).
"""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path

import marshmallow as ma
import swagger_ui_bundle
from flask import Blueprint, Flask, abort, g, render_template, request, send_from_directory
from flask_smorest import Api

from ruihe_saas.auth.services import user_for_token
from ruihe_saas.errors import Unauthorized
from ruihe_saas.tenancy.context import set_actor

SWAGGER_UI_DIR = Path(swagger_ui_bundle.swagger_ui_path)


class ErrorDetailSchema(ma.Schema):
    code = ma.fields.String(required=True)
    message = ma.fields.String(required=True)
    fields = ma.fields.Dict(required=True)


class ApiErrorSchema(ma.Schema):
    """Every error: ``{"error": {"code", "message", "fields"}}`` (``errors.py``)."""

    error = ma.fields.Nested(ErrorDetailSchema, required=True)


class RuiheApi(Api):
    ERROR_SCHEMA = ApiErrorSchema
    # No catch-all "default" response: each operation documents the errors it can return.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def _register_error_handlers(self):
        """Errors are rendered app-wide by ``errors.register_error_handlers``."""


def errors(blueprint, *codes: int):
    """Document the error responses an operation can return (schema: ``ApiErrorSchema``)."""

    def decorator(view):
        for code in codes:
            view = blueprint.alt_response(code, response=HTTPStatus(code).name)(view)
        return view

    return decorator


#: Errors every tenant endpoint can return: no token, role lacks the permission, not a
#: member / unknown tenant / unknown object.
TENANT_ERRORS = (401, 403, 404)


api = RuiheApi(
    spec_kwargs={
        "info": {
            "description": "Ruihe SaaS (瑞和物业云) JSON API. Authenticate with "
            "`POST /api/v1/auth/tokens`, then send `Authorization: Bearer <token>`."
        },
    }
)


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate_api_request():
    """Resolve the bearer token to ``g.api_user`` (and ``g.api_token``); 401 otherwise.

    Session cookies are never accepted here: the API needs no CSRF protection."""
    if g.get("api_user") is not None:
        return g.api_user
    found = user_for_token(bearer_token() or "")
    if found is None:
        raise Unauthorized("A valid bearer token is required.")
    g.api_user, g.api_token = found
    g.actor_token = set_actor(g.api_user.id)
    return g.api_user


def require_api_user(view):
    """Decorator for API endpoints outside tenants (``/me``, ``/tenants``, tokens)."""
    from functools import wraps

    @wraps(view)
    def wrapper(*args, **kwargs):
        authenticate_api_request()
        return view(*args, **kwargs)

    return wrapper


BEARER_SECURITY = [{"bearerAuth": []}]

docs = Blueprint("apidocs", __name__, url_prefix="/api/v1")


@docs.get("/docs")
def swagger_ui():
    return render_template("api/docs.html")


@docs.get("/docs/assets/<path:filename>")
def swagger_ui_asset(filename: str):
    if filename not in {"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"}:
        abort(404)
    return send_from_directory(SWAGGER_UI_DIR, filename, max_age=86400)


def init_api(app: Flask) -> None:
    api.init_app(app)
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "rh_…"}
    )
    app.register_blueprint(docs)
