"""Fee schedules, fee items, adjustments, meter readings: JSON API."""

from __future__ import annotations

from ruihe_saas.tenancy.blueprints import tenant_api_blueprint

blp = tenant_api_blueprint("fees_api", __name__, "", description="Fee schedules, fee items, adjustments, meter readings")
