"""Estate pages: list/dashboard, estate page, households, the household file (一户一册)."""

from __future__ import annotations

from flask import render_template

from ruihe_saas.auth.permissions import Permission
from ruihe_saas.estates import services
from ruihe_saas.tenancy.blueprints import require_permission, tenant_html_blueprint

bp = tenant_html_blueprint("estates", __name__, "/estates")


@bp.get("/")
@require_permission(Permission.VIEW_ESTATES)
def index():
    """The estates of the tenant (placeholder list until the estate pages land)."""
    estates = services.with_counts(services.list_estates(1, 100).items)
    return render_template("estates/index.html", estates=estates)
