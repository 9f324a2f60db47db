"""Estate pages: list/dashboard, estate page, households, the household file (一户一册)."""

from __future__ import annotations

from ruihe_saas.tenancy.blueprints import tenant_html_blueprint

bp = tenant_html_blueprint("estates", __name__, "/estates")
