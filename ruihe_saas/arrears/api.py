"""Arrears aging, chasing records, collection rate: JSON API."""

from __future__ import annotations

from ruihe_saas.tenancy.blueprints import tenant_api_blueprint

blp = tenant_api_blueprint("arrears_api", __name__, "", description="Arrears aging, chasing records, collection rate")
