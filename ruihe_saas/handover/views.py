"""Handover pages: transition forms (vote calculator, checklist), the lifecycle timeline."""

from __future__ import annotations

from ruihe_saas.tenancy.blueprints import tenant_html_blueprint

bp = tenant_html_blueprint("handover", __name__, "/estates")
