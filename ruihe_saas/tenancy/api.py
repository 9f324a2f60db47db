"""Platform API: creating tenants (platform admins only)."""

from __future__ import annotations

from flask import g
from flask_smorest import Blueprint

from ruihe_saas.auth.models import Role
from ruihe_saas.errors import Forbidden
from ruihe_saas.tenancy import services
from ruihe_saas.tenancy.context import tenant_context
from ruihe_saas.tenancy.schemas import TenantCreateSchema, TenantSchema
from ruihe_saas.web.api import BEARER_SECURITY, errors, require_api_user

blp = Blueprint("tenants_api", __name__, url_prefix="/api/v1", description="Tenants (platform)")


@blp.post("/tenants")
@blp.arguments(TenantCreateSchema)
@blp.response(201, TenantSchema)
@errors(blp, 400, 401, 403, 404, 409)
@blp.doc(security=BEARER_SECURITY)
@require_api_user
def create_tenant(data):
    """Create a tenant (a property company); optionally make an existing user its owner."""
    if not g.api_user.is_platform_admin:
        raise Forbidden("Only platform administrators create tenants.")
    tenant = services.create_tenant(data["slug"], data["name"])
    if data.get("owner_email"):
        from ruihe_saas.auth.services import add_member

        with tenant_context(tenant.id):
            add_member(data["owner_email"], Role.OWNER)
    return tenant
