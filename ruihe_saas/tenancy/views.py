"""The front door (tenant picker) and a tenant's home page."""

from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, url_for
from flask_login import current_user, login_required

from ruihe_saas.auth import services as auth_services
from ruihe_saas.auth.forms import ConfirmForm
from ruihe_saas.auth.permissions import Permission, role_allows
from ruihe_saas.estates import services as estate_services
from ruihe_saas.tenancy.blueprints import require_permission, tenant_html_blueprint

bp = Blueprint("home", __name__)


@bp.get("/")
@login_required
def index():
    memberships = [m for m in auth_services.memberships_of(current_user) if m.tenant.is_active]
    if len(memberships) == 1:
        return redirect(url_for("tenant.home", tenant_slug=memberships[0].tenant.slug))
    return render_template("tenancy/picker.html", memberships=memberships)


tenant_bp = tenant_html_blueprint("tenant", __name__)

DASHBOARD_ESTATES = 100


@tenant_bp.get("/")
@require_permission(Permission.VIEW_TENANT)
def home():
    role = g.membership.role
    members = (
        auth_services.list_members(1, 20) if role_allows(role, Permission.VIEW_MEMBERS) else None
    )
    estates = None
    if role_allows(role, Permission.VIEW_ESTATES):
        estates = estate_services.list_estates(1, DASHBOARD_ESTATES)
        estate_services.with_counts(estates.items)
    return render_template(
        "tenancy/home.html",
        members=members,
        confirm_form=ConfirmForm(),
        estates=estates,
        household_total=sum(e.household_count for e in estates.items) if estates else 0,
        days_in_stage=estate_services.days_in_stage,
        can_manage_estates=role_allows(role, Permission.MANAGE_ESTATES),
    )
