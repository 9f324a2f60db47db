"""Import API: buildings + households + parking spaces from one XLSX/CSV file."""

from __future__ import annotations

from ruihe_saas.tenancy.blueprints import tenant_api_blueprint

blp = tenant_api_blueprint(
    "imports_api", __name__, "/estates", description="Onboarding data imports"
)
