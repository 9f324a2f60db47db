"""Handover API: an estate's transitions (``/estates/<id>/transitions``)."""

from __future__ import annotations

from ruihe_saas.tenancy.blueprints import tenant_api_blueprint

blp = tenant_api_blueprint(
    "handover_api", __name__, "/estates", description="The handover lifecycle of estates"
)
