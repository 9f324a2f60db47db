"""The ledger: reports, period close, accounts and manual entries — JSON API."""

from __future__ import annotations

from ruihe_saas.tenancy.blueprints import tenant_api_blueprint

blp = tenant_api_blueprint("ledger_api", __name__, "", description="Ledger and finance reports")
