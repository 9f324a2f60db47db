"""Login, logout, password change, language switch; a tenant's members (owners)."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from ruihe_saas.auth import services
from ruihe_saas.auth.forms import (
    ConfirmForm,
    LoginForm,
    MemberAddForm,
    MemberRoleForm,
    PasswordChangeForm,
)
from ruihe_saas.auth.permissions import Permission
from ruihe_saas.auth.throttle import login_throttled, mark_login_failed
from ruihe_saas.errors import DomainError
from ruihe_saas.tenancy.blueprints import require_permission, tenant_html_blueprint
from ruihe_saas.tenancy.context import set_actor
from ruihe_saas.web.forms import apply_field_errors

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@login_throttled
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is None:
            mark_login_failed()
            form.password.errors.append(_("Wrong email or password."))
            status = 401
        else:
            login_user(user)
            g.actor_token = set_actor(user.id)
            from flask import session

            session.permanent = True
            return redirect(_safe_next(request.args.get("next")) or url_for("home.index"))
    elif request.method == "POST":
        status = 422
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
def logout():
    form = ConfirmForm()
    if form.validate_on_submit():
        logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = PasswordChangeForm()
    if form.validate_on_submit():
        try:
            services.change_password(
                current_user, form.current_password.data, form.new_password.data
            )
        except DomainError as error:
            apply_field_errors(form, error)
        else:
            login_user(current_user)  # the new session generation keeps this session alive
            flash(_("Password changed."), "success")
            return redirect(url_for("home.index"))
    status = 422 if request.method == "POST" else 200
    return render_template("auth/password.html", form=form), status


@bp.post("/lang/<code>")
def switch_language(code: str):
    form = ConfirmForm()
    target = _safe_next(request.form.get("next")) or url_for("home.index")
    response = redirect(target)
    if form.validate_on_submit() and code in {"zh", "en"}:
        response.set_cookie("lang", code, max_age=365 * 86400, samesite="Lax", httponly=True)
    return response


members = tenant_html_blueprint("members", __name__, "/members")


def _estate_choices() -> list[tuple[str, str]]:
    from ruihe_saas.estates.services import list_estates

    return [(str(e.id), f"{e.name} ({e.code})") for e in list_estates(1, 100).items]


def _members_page(add_form: MemberAddForm, status: int = 200):
    choices = _estate_choices()
    add_form.estates.choices = choices
    page = services.list_members(max(request.args.get("page", 1, type=int), 1), 50)
    row_forms = {}
    for membership in page.items:
        scope = services.estate_scope_of(membership)
        form = MemberRoleForm(
            formdata=None,
            data={"role": membership.role.value, "estates": [str(e) for e in scope or []]},
        )
        form.estates.choices = choices
        row_forms[membership.id] = form
    return render_template(
        "auth/members.html",
        page=page,
        add_form=add_form,
        row_forms=row_forms,
        estate_names=dict(choices),
        confirm_form=ConfirmForm(),
    ), status


def _selected_estates(form) -> list[uuid.UUID]:
    return [uuid.UUID(value) for value in form.estates.data or []]


@members.get("")
@require_permission(Permission.VIEW_MEMBERS)
def index():
    return _members_page(MemberAddForm())


@members.post("")
@require_permission(Permission.MANAGE_MEMBERS)
def add():
    form = MemberAddForm()
    form.estates.choices = _estate_choices()
    if form.validate_on_submit():
        try:
            services.add_member(form.email.data, form.role.data, _selected_estates(form))
        except DomainError as error:
            apply_field_errors(form, error)
        else:
            flash(_("Member added."), "success")
            return redirect(url_for(".index"))
    return _members_page(form, 422)


@members.post("/<uuid:member_id>/role")
@require_permission(Permission.MANAGE_MEMBERS)
def change_role(member_id: uuid.UUID):
    form = MemberRoleForm()
    form.estates.choices = _estate_choices()
    membership = services.get_member(member_id)
    if form.validate_on_submit():
        try:
            services.update_member(membership, form.role.data, _selected_estates(form))
        except DomainError as error:
            flash(error.message, "error")
            return redirect(url_for(".index"))
        flash(_("Role changed."), "success")
    else:
        flash(_("Choose a valid role."), "error")
    return redirect(url_for(".index"))


@members.post("/<uuid:member_id>/remove")
@require_permission(Permission.MANAGE_MEMBERS)
def remove(member_id: uuid.UUID):
    form = ConfirmForm()
    membership = services.get_member(member_id)
    if form.validate_on_submit():
        try:
            services.remove_member(membership)
        except DomainError as error:
            flash(error.message, "error")
            return redirect(url_for(".index"))
        flash(_("Member removed."), "success")
    return redirect(url_for(".index"))
