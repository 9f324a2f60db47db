"""``GET /api/v1/t/<slug>/audit``: who changed what and when."""

from __future__ import annotations

from ruihe_saas.audit import services
from ruihe_saas.audit.schemas import AuditArgs, AuditEventSchema
from ruihe_saas.auth.permissions import Permission
from ruihe_saas.tenancy.blueprints import require_permission, tenant_api_blueprint
from ruihe_saas.web.pagination import page_schema

blp = tenant_api_blueprint("audit_api", __name__, "/audit", description="The audit trail")


@blp.get("")
@blp.arguments(AuditArgs, location="query")
@blp.response(200, page_schema(AuditEventSchema))
@require_permission(Permission.VIEW_AUDIT)
def audit_trail(args):
    """Who changed what and when, newest first, with old and new values (kept forever)."""
    return services.audit_trail(
        args["page"],
        args["per_page"],
        object_id=args["object"],
        object_type=args["object_type"],
        estate_id=args["estate_id"],
    )
