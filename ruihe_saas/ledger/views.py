"""Finance pages: dashboard, reports, manual entries, chart of accounts, period close."""

from __future__ import annotations

from ruihe_saas.tenancy.blueprints import tenant_html_blueprint

bp = tenant_html_blueprint("ledger", __name__, "/finance")
