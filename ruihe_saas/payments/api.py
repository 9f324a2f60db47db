"""Desk payments: record, list, show: JSON API."""

from __future__ import annotations

from ruihe_saas.tenancy.blueprints import tenant_api_blueprint

blp = tenant_api_blueprint(
    "payments_api", __name__, "", description="Desk payments: record, list, show"
)
