"""Refunds of payments: JSON API."""

from __future__ import annotations

from ruihe_saas.tenancy.blueprints import tenant_api_blueprint

blp = tenant_api_blueprint("refunds_api", __name__, "", description="Refunds of payments")
