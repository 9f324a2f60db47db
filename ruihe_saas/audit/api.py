"""``GET /api/v1/t/<slug>/audit``: who changed what and when."""

from __future__ import annotations

from ruihe_saas.tenancy.blueprints import tenant_api_blueprint

blp = tenant_api_blueprint("audit_api", __name__, "/audit", description="The audit trail")
