"""Online payment pages: the owners' gateway settings and pay links (tenant pages, ``bp``),
and the residents' pay page, success and cancel pages (public, signed link: ``public``)."""

from __future__ import annotations

from flask import Blueprint

from ruihe_saas.tenancy.blueprints import tenant_html_blueprint

bp = tenant_html_blueprint("online", __name__, "/online")
public = Blueprint("pay", __name__, url_prefix="/pay")
