"""Import pages: template download, upload, the row-by-row error report."""

from __future__ import annotations

from ruihe_saas.tenancy.blueprints import tenant_html_blueprint

bp = tenant_html_blueprint("imports", __name__, "/estates")
