"""Online payments: gateway settings, pay links, checkout sessions: JSON API."""

from __future__ import annotations

from ruihe_saas.tenancy.blueprints import tenant_api_blueprint

blp = tenant_api_blueprint(
    "online_api",
    __name__,
    "",
    description="Online payments: gateway settings, pay links, checkout sessions",
)
