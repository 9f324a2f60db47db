"""Tenant blueprints: every tenant URL starts with ``/t/<tenant_slug>`` (HTML) or
``/api/v1/t/<tenant_slug>`` (JSON). The URL processor here is the only code that sets the
tenant for a request: it authenticates, resolves the slug, requires a membership (404
otherwise: a tenant's existence is never revealed) and enters the tenant's context, which
``web.pipeline`` leaves at teardown.
"""

from __future__ import annotations

from functools import wraps

import flask_smorest
from flask import Blueprint, abort, current_app, g, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from ruihe_saas.auth.permissions import Permission, role_allows
from ruihe_saas.errors import Forbidden, NotFound
from ruihe_saas.extensions import db
from ruihe_saas.tenancy.context import (
    reset_estate_scope,
    reset_tenant,
    set_estate_scope,
    set_tenant,
)
from ruihe_saas.tenancy.models import Tenant

HTML_PREFIX = "/t/<tenant_slug>"
API_PREFIX = "/api/v1/t/<tenant_slug>"


def _enter_tenant(slug: str | None, user) -> None:
    from ruihe_saas.auth.services import estate_scope_of, membership_in_current_tenant

    tenant = db.session.scalar(select(Tenant).where(Tenant.slug == (slug or "")))
    if tenant is None or not tenant.is_active:
        raise NotFound(_l("Not found."))
    g.tenant_token = set_tenant(tenant.id)
    membership = membership_in_current_tenant(user)
    if membership is None:
        raise NotFound(_l("Not found."))
    g.tenant = tenant
    g.membership = membership
    g.estate_scope_token = set_estate_scope(estate_scope_of(membership))


def _html_preprocessor(endpoint, values) -> None:
    slug = values.pop("tenant_slug", None) if values else None
    if not current_user.is_authenticated:
        abort(redirect(url_for("auth.login", next=request.full_path.rstrip("?"))))
    _enter_tenant(slug, current_user._get_current_object())


def _api_preprocessor(endpoint, values) -> None:
    from ruihe_saas.web.api import authenticate_api_request

    slug = values.pop("tenant_slug", None) if values else None
    _enter_tenant(slug, authenticate_api_request())


def _tenant_url_defaults(endpoint, values) -> None:
    tenant = g.get("tenant")
    if (
        tenant is not None
        and "tenant_slug" not in values
        and current_app.url_map.is_endpoint_expecting(endpoint, "tenant_slug")
    ):
        values["tenant_slug"] = tenant.slug


def tenant_html_blueprint(name: str, import_name: str, url_prefix: str = "") -> Blueprint:
    blueprint = Blueprint(name, import_name, url_prefix=HTML_PREFIX + url_prefix)
    blueprint.url_value_preprocessor(_html_preprocessor)
    blueprint.url_defaults(_tenant_url_defaults)
    return blueprint


class TenantApiBlueprint(flask_smorest.Blueprint):
    """A tenant API blueprint: every operation needs a bearer token and may answer 401
    (no token), 403 (the role lacks the permission) or 404 (not a member, unknown tenant or
    object); that is documented here once instead of on every handler."""

    def route(self, rule, *, parameters=None, **options):
        register = super().route(rule, parameters=parameters, **options)

        def decorator(view):
            from ruihe_saas.web.api import BEARER_SECURITY, TENANT_ERRORS, errors

            view = errors(self, *TENANT_ERRORS)(view)
            return register(self.doc(security=BEARER_SECURITY)(view))

        return decorator


def tenant_api_blueprint(
    name: str, import_name: str, url_prefix: str = "", **kwargs
) -> flask_smorest.Blueprint:
    blueprint = TenantApiBlueprint(name, import_name, url_prefix=API_PREFIX + url_prefix, **kwargs)
    blueprint.url_value_preprocessor(_api_preprocessor)
    blueprint.url_defaults(_tenant_url_defaults)
    return blueprint


def require_permission(permission: Permission):
    """Refuse (403) a member of the current tenant whose role lacks ``permission``."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            membership = g.get("membership")
            if membership is None:
                raise NotFound(_l("Not found."))
            if not role_allows(membership.role, permission):
                raise Forbidden(_l("Your role does not allow this."))
            return view(*args, **kwargs)

        wrapper.required_permission = permission
        return wrapper

    return decorator


def leave_tenant() -> None:
    scope_token = g.pop("estate_scope_token", None)
    if scope_token is not None:
        reset_estate_scope(scope_token)
    token = g.pop("tenant_token", None)
    if token is not None:
        reset_tenant(token)


def can(permission: str) -> bool:
    """In templates: whether the signed-in member's role allows ``permission``."""
    membership = g.get("membership")
    return membership is not None and role_allows(membership.role, Permission(permission))


def template_helpers() -> dict:
    """App-wide template globals (registered in ``create_app``)."""
    return {"can": can}
