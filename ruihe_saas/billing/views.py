"""Billing runs, bills, credits, statements: pages."""

from __future__ import annotations

from ruihe_saas.tenancy.blueprints import tenant_html_blueprint

bp = tenant_html_blueprint("billing", __name__, "/billing")
