"""The HTML side: login/logout, sessions, CSRF, headers, members pages, tenant URLs."""

from __future__ import annotations

import re

import pytest

from ruihe_saas.auth.models import Membership, Role
from ruihe_saas.tenancy import tenant_context
from tests.conftest import csrf_from, login
from tests.factories import PASSWORD, MembershipFactory, TenantFactory, UserFactory, member


def test_login_lands_on_the_only_tenant(client, db):
    owner = member(Role.OWNER)
    response = login(client, owner.user.email, PASSWORD)
    assert response.status_code == 302
    assert client.get("/").headers["Location"].endswith(f"/t/{owner.tenant.slug}/")
    home = client.get(f"/t/{owner.tenant.slug}/")
    assert home.status_code == 200
    assert owner.tenant.name in home.get_data(as_text=True)


def test_user_with_several_tenants_gets_a_picker(client, db):
    first = member(Role.OWNER)
    second = TenantFactory()
    MembershipFactory(tenant=second, user=first.user, role=Role.VIEWER)
    login(client, first.user.email, PASSWORD)
    page = client.get("/").get_data(as_text=True)
    assert first.tenant.name in page and second.name in page


def test_wrong_password_shows_a_form_error(client, db):
    owner = member(Role.OWNER)
    response = login(client, owner.user.email, "wrong-password")
    assert response.status_code == 401
    assert 'role="alert"' in response.get_data(as_text=True)
    assert client.get(f"/t/{owner.tenant.slug}/").status_code == 302  # still logged out


def test_login_without_csrf_token_is_refused(client, db):
    owner = member(Role.OWNER)
    response = client.post("/login", data={"email": owner.user.email, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get(f"/t/{owner.tenant.slug}/").status_code == 302


def test_open_redirects_are_ignored(client, db):
    owner = member(Role.OWNER)
    token = csrf_from(client, "/login")
    response = client.post(
        "/login?next=https://evil.example/",
        data={"email": owner.user.email, "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"] == "/"


def test_sixth_failed_html_login_is_429(client, db):
    owner = member(Role.OWNER)
    statuses = [login(client, owner.user.email, "wrong-password").status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]


def test_session_cookie_flags_and_lifetime(client, db, app):
    owner = member(Role.OWNER)
    response = login(client, owner.user.email, PASSWORD)
    cookie = next(h for h in response.headers.getlist("Set-Cookie") if h.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Expires=" in cookie  # a permanent session that ends after the configured lifetime
    assert app.config["PERMANENT_SESSION_LIFETIME"].total_seconds() <= 24 * 3600


def test_logout_needs_post_with_csrf(client, db):
    owner = member(Role.OWNER)
    login(client, owner.user.email, PASSWORD)
    home = f"/t/{owner.tenant.slug}/"
    assert client.get("/logout").status_code == 405
    client.post("/logout", data={})  # no CSRF token: still logged in
    assert client.get(home).status_code == 200
    client.post("/logout", data={"csrf_token": csrf_from(client, home)})
    assert client.get(home).status_code == 302


def test_password_change_ends_other_sessions(client, db, app):
    owner = member(Role.OWNER)
    other_browser = app.test_client()
    login(client, owner.user.email, PASSWORD)
    login(other_browser, owner.user.email, PASSWORD)
    home = f"/t/{owner.tenant.slug}/"
    token = csrf_from(client, "/account/password")
    response = client.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "a-brand-new-secret",
            "confirm": "a-brand-new-secret",
            "csrf_token": token,
        },
    )
    assert response.status_code == 302
    assert client.get(home).status_code == 200  # this session continues
    assert other_browser.get(home).status_code == 302  # the other one is logged out
    assert login(app.test_client(), owner.user.email, "a-brand-new-secret").status_code == 302


def test_password_change_with_wrong_current_password_is_a_form_error(client, db):
    owner = member(Role.OWNER)
    login(client, owner.user.email, PASSWORD)
    token = csrf_from(client, "/account/password")
    response = client.post(
        "/account/password",
        data={
            "current_password": "not-it-at-all",
            "new_password": "a-brand-new-secret",
            "confirm": "a-brand-new-secret",
            "csrf_token": token,
        },
    )
    assert response.status_code == 422
    assert login(client.application.test_client(), owner.user.email, PASSWORD).status_code == 302


def test_deactivated_user_loses_the_session(client, db):
    owner = member(Role.OWNER)
    login(client, owner.user.email, PASSWORD)
    owner.user.is_active = False
    db.session.flush()
    assert client.get(f"/t/{owner.tenant.slug}/").status_code == 302


def test_security_headers(client, db, app):
    response = client.get("/login")
    headers = response.headers
    assert "default-src 'self'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in headers  # only in production


def test_hsts_and_secure_cookies_in_production(monkeypatch, tmp_path):
    monkeypatch.setenv("RUIHE_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/prod.sqlite3")
    from ruihe_saas import create_app

    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True
    response = app.test_client().get("/static/css/app.css")
    assert "max-age" in response.headers["Strict-Transport-Security"]
    response.close()


def test_production_refuses_to_start_without_database_url(monkeypatch):
    monkeypatch.setenv("RUIHE_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "x" * 40)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    from ruihe_saas import create_app

    with pytest.raises(RuntimeError, match="DATABASE_URL"):
        create_app()


def test_forwarded_client_address_is_trusted_behind_a_configured_proxy(
    app, client, db, monkeypatch
):
    """Behind one proxy, throttling counts per client address, not per proxy."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    monkeypatch.setattr(app, "wsgi_app", ProxyFix(app.wsgi_app, x_for=1, x_proto=1))
    owner = member(Role.OWNER)
    for i in range(6):
        response = client.post(
            "/api/v1/auth/tokens",
            json={"email": f"nobody{i}@example.test", "password": "x"},
            headers={"X-Forwarded-For": f"203.0.113.{i}"},
        )
        assert response.status_code == 401
    right = {"email": owner.user.email, "password": PASSWORD}
    assert client.post("/api/v1/auth/tokens", json=right).status_code == 201


def test_proxy_count_setting_installs_proxy_fix(app):
    from werkzeug.middleware.proxy_fix import ProxyFix

    from ruihe_saas import create_app

    assert not isinstance(app.wsgi_app, ProxyFix)
    behind_proxy = create_app({"TESTING": True, "RUIHE_PROXY_COUNT": 1})
    assert isinstance(behind_proxy.wsgi_app, ProxyFix)
    assert behind_proxy.wsgi_app.x_for == 1


def test_production_refuses_to_start_without_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("RUIHE_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/prod.sqlite3")
    from ruihe_saas import create_app

    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app()


# --- members pages -------------------------------------------------------------------------


def test_owner_adds_a_member_through_the_form(client, db):
    owner = member(Role.OWNER)
    newcomer = UserFactory()
    login(client, owner.user.email, PASSWORD)
    url = f"/t/{owner.tenant.slug}/members"
    response = client.post(
        url, data={"email": newcomer.email, "role": "cashier", "csrf_token": csrf_from(client, url)}
    )
    assert response.status_code == 302
    assert newcomer.email in client.get(url).get_data(as_text=True)


def test_bad_member_form_shows_errors_and_changes_nothing(client, db):
    owner = member(Role.OWNER)
    login(client, owner.user.email, PASSWORD)
    url = f"/t/{owner.tenant.slug}/members"
    token = csrf_from(client, url)
    response = client.post(
        url, data={"email": "ghost@example.test", "role": "viewer", "csrf_token": token}
    )
    assert response.status_code == 422
    assert 'role="alert"' in response.get_data(as_text=True)
    response = client.post(
        url, data={"email": "x@example.test", "role": "king", "csrf_token": token}
    )
    assert response.status_code == 422
    with tenant_context(owner.tenant_id):
        assert db.session.query(Membership).count() == 1


def test_owner_changes_a_role_and_removes_a_member(client, db):
    owner = member(Role.OWNER)
    cashier = member(Role.CASHIER, tenant=owner.tenant)
    login(client, owner.user.email, PASSWORD)
    url = f"/t/{owner.tenant.slug}/members"
    token = csrf_from(client, url)
    client.post(f"{url}/{cashier.id}/role", data={"role": "finance", "csrf_token": token})
    with tenant_context(owner.tenant_id):
        assert (
            db.session.get(Membership, (owner.tenant_id, cashier.id), populate_existing=True).role
            == Role.FINANCE
        )
    client.post(f"{url}/{cashier.id}/remove", data={"csrf_token": token})
    with tenant_context(owner.tenant_id):
        assert (
            db.session.get(Membership, (owner.tenant_id, cashier.id), populate_existing=True)
            is None
        )


def test_last_owner_cannot_demote_themselves_in_the_ui(client, db):
    owner = member(Role.OWNER)
    login(client, owner.user.email, PASSWORD)
    url = f"/t/{owner.tenant.slug}/members"
    client.post(
        f"{url}/{owner.id}/role", data={"role": "viewer", "csrf_token": csrf_from(client, url)}
    )
    with tenant_context(owner.tenant_id):
        assert (
            db.session.get(Membership, (owner.tenant_id, owner.id), populate_existing=True).role
            == Role.OWNER
        )


@pytest.mark.parametrize("role", [Role.ESTATE_ADMIN, Role.FINANCE, Role.CASHIER, Role.VIEWER])
def test_non_owners_cannot_open_members_pages(client, db, role):
    someone = member(role)
    login(client, someone.user.email, PASSWORD)
    assert client.get(f"/t/{someone.tenant.slug}/members").status_code == 403
    assert client.get(f"/t/{someone.tenant.slug}/").status_code == 200


# --- every tenant URL: login required, 404 for another tenant's members ---------------------

TENANT_PAGES = [
    ("get", "/"),
    ("get", "/members"),
    ("post", "/members"),
    ("post", "/members/{member_id}/role"),
    ("post", "/members/{member_id}/remove"),
]


@pytest.mark.parametrize(("method", "path"), TENANT_PAGES)
def test_tenant_pages_require_login(client, db, method, path):
    owner = member(Role.OWNER)
    url = f"/t/{owner.tenant.slug}" + path.format(member_id=owner.id)
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize(("method", "path"), TENANT_PAGES)
def test_returns_404_if_member_of_another_tenant(client, db, method, path):
    victim = member(Role.OWNER)
    attacker = member(Role.OWNER)
    login(client, attacker.user.email, PASSWORD)
    token = csrf_from(client, f"/t/{attacker.tenant.slug}/members")
    url = f"/t/{victim.tenant.slug}" + path.format(member_id=victim.id)
    response = getattr(client, method)(url, data={"role": "viewer", "csrf_token": token})
    assert response.status_code == 404
    # and through the attacker's own tenant, the victim's member id is unknown
    own = f"/t/{attacker.tenant.slug}" + path.format(member_id=victim.id)
    if "{member_id}" in path:
        assert (
            getattr(client, method)(own, data={"role": "viewer", "csrf_token": token}).status_code
            == 404
        )
    with tenant_context(victim.tenant_id):
        assert (
            db.session.get(Membership, (victim.tenant_id, victim.id), populate_existing=True).role
            == Role.OWNER
        )


def test_unknown_and_suspended_tenants_look_the_same(client, db):
    from ruihe_saas.tenancy.models import TenantStatus

    owner = member(Role.OWNER)
    login(client, owner.user.email, PASSWORD)
    owner.tenant.status = TenantStatus.SUSPENDED
    db.session.flush()
    suspended = client.get(f"/t/{owner.tenant.slug}/")
    unknown = client.get("/t/no-such-tenant/")
    assert suspended.status_code == unknown.status_code == 404
    strip = re.compile(r'name="csrf_token" value="[^"]+"|name="next" value="[^"]+"')
    assert strip.sub("", suspended.get_data(as_text=True)) == strip.sub(
        "", unknown.get_data(as_text=True)
    )
