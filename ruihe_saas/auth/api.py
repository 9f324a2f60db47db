"""Accounts API: tokens, ``/me``, and a tenant's members."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from flask import current_app, g
from flask_smorest import Blueprint

from ruihe_saas.auth import services, tasks
from ruihe_saas.auth.permissions import Permission
from ruihe_saas.auth.schemas import (
    MemberCreateSchema,
    MemberSchema,
    MemberUpdateSchema,
    MeSchema,
    TokenRequestSchema,
    TokenSchema,
)
from ruihe_saas.auth.throttle import login_throttled, mark_login_failed
from ruihe_saas.errors import Unauthorized
from ruihe_saas.jobs import enqueue
from ruihe_saas.jobs.schemas import JobAcceptedSchema
from ruihe_saas.tenancy.blueprints import require_permission, tenant_api_blueprint
from ruihe_saas.web.api import BEARER_SECURITY, errors, require_api_user
from ruihe_saas.web.pagination import PageArgs, page_schema

auth_blp = Blueprint("auth_api", __name__, url_prefix="/api/v1", description="Authentication")


@auth_blp.post("/auth/tokens")
@auth_blp.arguments(TokenRequestSchema)
@auth_blp.response(201, TokenSchema)
@errors(auth_blp, 400, 401, 429)
@login_throttled
def create_token(credentials):
    """Exchange email and password for a bearer token."""
    user = services.authenticate(credentials["email"], credentials["password"])
    if user is None:
        mark_login_failed()
        raise Unauthorized("Wrong email or password.")
    days = current_app.config["API_TOKEN_DAYS"]
    token = services.issue_token(user, days=days)
    return {"token": token, "expires_at": datetime.now(UTC) + timedelta(days=days)}


@auth_blp.delete("/auth/tokens/current")
@auth_blp.response(204)
@errors(auth_blp, 401)
@auth_blp.doc(security=BEARER_SECURITY)
@require_api_user
def revoke_current_token():
    """Revoke the token this request was made with."""
    services.revoke_token(g.api_token)


@auth_blp.get("/me")
@auth_blp.response(200, MeSchema)
@errors(auth_blp, 401)
@auth_blp.doc(security=BEARER_SECURITY)
@require_api_user
def me():
    """The authenticated user and the tenants they belong to."""
    user = g.api_user
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "is_platform_admin": user.is_platform_admin,
        "memberships": services.memberships_of(user),
    }


members_blp = tenant_api_blueprint(
    "members_api", __name__, "/members", description="A tenant's members and their roles"
)


@members_blp.get("")
@members_blp.arguments(PageArgs, location="query")
@members_blp.response(200, page_schema(MemberSchema))
@require_permission(Permission.VIEW_MEMBERS)
def list_members(args):
    """Members of the tenant (owners only)."""
    return services.list_members(args["page"], args["per_page"])


@members_blp.post("")
@members_blp.arguments(MemberCreateSchema)
@members_blp.response(201, MemberSchema)
@errors(members_blp, 400, 409)
@require_permission(Permission.MANAGE_MEMBERS)
def add_member(data):
    """Give an existing user a role in this tenant (``estate_ids`` for estate admins and
    cashiers)."""
    return services.add_member(data["email"], data["role"], data["estate_ids"])


@members_blp.get("/<uuid:member_id>")
@members_blp.response(200, MemberSchema)
@require_permission(Permission.VIEW_MEMBERS)
def get_member(member_id: uuid.UUID):
    return services.get_member(member_id)


@members_blp.patch("/<uuid:member_id>")
@members_blp.arguments(MemberUpdateSchema)
@members_blp.response(200, MemberSchema)
@errors(members_blp, 400, 409)
@require_permission(Permission.MANAGE_MEMBERS)
def update_member(data, member_id: uuid.UUID):
    """Change a member's role and/or estate scope (a tenant keeps at least one owner)."""
    return services.update_member(
        services.get_member(member_id), data.get("role"), data.get("estate_ids")
    )


@members_blp.delete("/<uuid:member_id>")
@members_blp.response(204)
@errors(members_blp, 409)
@require_permission(Permission.MANAGE_MEMBERS)
def remove_member(member_id: uuid.UUID):
    services.remove_member(services.get_member(member_id))


@members_blp.post("/roster-report")
@members_blp.response(202, JobAcceptedSchema)
@require_permission(Permission.VIEW_MEMBERS)
def roster_report():
    """Count the tenant's members by role in a background job (poll ``/jobs/<id>``)."""
    record = enqueue(tasks.member_roster_report, queue="reports")
    return {"id": record.id, "status": record.status.value, "job_id": record.id}
