"""Desk payment pages."""

from __future__ import annotations

from ruihe_saas.tenancy.blueprints import tenant_html_blueprint

bp = tenant_html_blueprint("payments", __name__, "/payments")
