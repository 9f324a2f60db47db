"""Billing runs, bills, credits, statements: JSON API."""

from __future__ import annotations

from ruihe_saas.tenancy.blueprints import tenant_api_blueprint

blp = tenant_api_blueprint("billing_api", __name__, "", description="Billing runs, bills, credits, statements")
