"""Cashiers' daily cash-up (日结): JSON API."""

from __future__ import annotations

from ruihe_saas.tenancy.blueprints import tenant_api_blueprint

blp = tenant_api_blueprint("cashup_api", __name__, "", description="Cashiers' daily cash-up (日结)")
