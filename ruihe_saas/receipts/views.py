"""Receipt pages."""

from __future__ import annotations

from ruihe_saas.tenancy.blueprints import tenant_html_blueprint

bp = tenant_html_blueprint("receipts", __name__, "/receipts")
