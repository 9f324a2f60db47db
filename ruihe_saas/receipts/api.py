"""Receipts: PDF, reprint, cancel: JSON API."""

from __future__ import annotations

from ruihe_saas.tenancy.blueprints import tenant_api_blueprint

blp = tenant_api_blueprint(
    "receipts_api", __name__, "", description="Receipts: PDF, reprint, cancel"
)
