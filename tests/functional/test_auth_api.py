"""Accounts API: tokens, /me, throttling, members, platform tenants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ruihe_saas.auth.models import ApiToken, Role
from ruihe_saas.auth.services import issue_token
from tests.conftest import bearer
from tests.factories import PASSWORD, MembershipFactory, TenantFactory, UserFactory, member


def token_for(user) -> str:
    return issue_token(user, days=1)


def test_token_for_good_credentials(client, db):
    owner = member(Role.OWNER)
    response = client.post(
        "/api/v1/auth/tokens", json={"email": owner.user.email.upper(), "password": PASSWORD}
    )
    assert response.status_code == 201
    token = response.json["token"]
    me = client.get("/api/v1/me", headers=bearer(token))
    assert me.status_code == 200
    assert me.json["email"] == owner.user.email
    stored = db.session.query(ApiToken).filter_by(user_id=owner.user_id).one()
    assert token not in stored.token_hash and len(stored.token_hash) == 64


def test_wrong_password_is_401_in_the_error_format(client, db):
    owner = member(Role.OWNER)
    response = client.post(
        "/api/v1/auth/tokens", json={"email": owner.user.email, "password": "wrong-password"}
    )
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"
    assert set(response.json["error"]) == {"code", "message", "fields"}


def test_missing_fields_are_422_with_field_messages(client, db):
    response = client.post("/api/v1/auth/tokens", json={"password": "x"})
    assert response.status_code == 422
    assert "email" in response.json["error"]["fields"]


def test_non_json_body_is_a_client_error(client, db):
    response = client.post("/api/v1/auth/tokens", data="not json", content_type="text/plain")
    assert 400 <= response.status_code < 500
    assert "error" in response.json


def test_inactive_user_gets_no_token(client, db):
    owner = member(Role.OWNER)
    owner.user.is_active = False
    response = client.post(
        "/api/v1/auth/tokens", json={"email": owner.user.email, "password": PASSWORD}
    )
    assert response.status_code == 401


def test_sixth_failed_login_for_one_account_is_429(client, db):
    owner = member(Role.OWNER)
    body = {"email": owner.user.email, "password": "wrong-password"}
    statuses = [client.post("/api/v1/auth/tokens", json=body).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    # even the right password is refused while the account is throttled
    right = {"email": owner.user.email, "password": PASSWORD}
    assert client.post("/api/v1/auth/tokens", json=right).status_code == 429
    assert client.post("/api/v1/auth/tokens", json=right).json["error"]["code"] == (
        "too_many_requests"
    )


def test_sixth_failed_login_from_one_address_is_429(client, db):
    statuses = [
        client.post(
            "/api/v1/auth/tokens", json={"email": f"nobody{i}@example.test", "password": "x"}
        ).status_code
        for i in range(6)
    ]
    assert statuses == [401] * 5 + [429]


def test_successful_logins_are_not_throttled(client, db):
    owner = member(Role.OWNER)
    body = {"email": owner.user.email, "password": PASSWORD}
    assert {client.post("/api/v1/auth/tokens", json=body).status_code for _ in range(7)} == {201}


def test_revoked_token_stops_working(client, db):
    owner = member(Role.OWNER)
    token = token_for(owner.user)
    assert client.delete("/api/v1/auth/tokens/current", headers=bearer(token)).status_code == 204
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


def test_expired_token_is_refused(client, db):
    owner = member(Role.OWNER)
    token = token_for(owner.user)
    stored = db.session.query(ApiToken).filter_by(user_id=owner.user_id).one()
    stored.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    db.session.flush()
    assert client.get("/api/v1/me", headers=bearer(token)).status_code == 401


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer nonsense", "Basic abc", "Bearer rh_" + "x" * 43]
)
def test_missing_or_bad_tokens_are_401(client, db, header):
    headers = {"Authorization": header} if header else {}
    response = client.get("/api/v1/me", headers=headers)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"


def test_session_cookie_does_not_authenticate_the_api(client, db):
    from tests.conftest import login

    owner = member(Role.OWNER)
    login(client, owner.user.email, PASSWORD)
    assert client.get("/api/v1/me").status_code == 401


def test_me_lists_memberships_in_every_tenant(client, db):
    first = member(Role.OWNER)
    other = TenantFactory()
    MembershipFactory(tenant=other, user=first.user, role=Role.CASHIER)
    member(Role.OWNER, tenant=other)  # somebody else's membership is not listed
    body = client.get("/api/v1/me", headers=bearer(token_for(first.user))).json
    assert sorted((m["tenant_slug"], m["role"]) for m in body["memberships"]) == sorted(
        [(first.tenant.slug, "owner"), (other.slug, "cashier")]
    )


# --- members ---------------------------------------------------------------------------


def members_url(slug: str, suffix: str = "") -> str:
    return f"/api/v1/t/{slug}/members{suffix}"


def test_owner_lists_members_paginated(client, db):
    owner = member(Role.OWNER)
    for _ in range(3):
        member(Role.VIEWER, tenant=owner.tenant)
    member(Role.OWNER)  # another tenant's member never counts
    response = client.get(
        members_url(owner.tenant.slug) + "?page=2&per_page=3", headers=bearer(token_for(owner.user))
    )
    assert response.status_code == 200
    assert response.json["total"] == 4
    assert (response.json["page"], response.json["per_page"]) == (2, 3)
    assert len(response.json["items"]) == 1


@pytest.mark.parametrize("query", ["?page=0", "?per_page=1000", "?page=x"])
def test_bad_pagination_is_422(client, db, query):
    owner = member(Role.OWNER)
    response = client.get(
        members_url(owner.tenant.slug) + query, headers=bearer(token_for(owner.user))
    )
    assert response.status_code == 422
    assert response.json["error"]["fields"]


def test_owner_adds_changes_and_removes_a_member(client, db):
    owner = member(Role.OWNER)
    newcomer = UserFactory()
    headers = bearer(token_for(owner.user))
    created = client.post(
        members_url(owner.tenant.slug),
        json={"email": newcomer.email, "role": "cashier"},
        headers=headers,
    )
    assert created.status_code == 201
    assert created.json["role"] == "cashier" and created.json["email"] == newcomer.email
    member_id = created.json["id"]
    again = client.post(
        members_url(owner.tenant.slug),
        json={"email": newcomer.email, "role": "viewer"},
        headers=headers,
    )
    assert again.status_code == 409
    patched = client.patch(
        members_url(owner.tenant.slug, f"/{member_id}"), json={"role": "finance"}, headers=headers
    )
    assert patched.status_code == 200 and patched.json["role"] == "finance"
    assert (
        client.delete(members_url(owner.tenant.slug, f"/{member_id}"), headers=headers).status_code
        == 204
    )
    assert (
        client.get(members_url(owner.tenant.slug, f"/{member_id}"), headers=headers).status_code
        == 404
    )


def test_adding_unknown_email_or_bad_role_changes_nothing(client, db):
    owner = member(Role.OWNER)
    headers = bearer(token_for(owner.user))
    url = members_url(owner.tenant.slug)
    unknown = client.post(
        url, json={"email": "ghost@example.test", "role": "viewer"}, headers=headers
    )
    assert unknown.status_code == 404 and "email" in unknown.json["error"]["fields"]
    bad_role = client.post(url, json={"email": owner.user.email, "role": "king"}, headers=headers)
    assert bad_role.status_code == 422 and "role" in bad_role.json["error"]["fields"]
    bad_email = client.post(url, json={"email": "not-an-email", "role": "viewer"}, headers=headers)
    assert bad_email.status_code == 422 and "email" in bad_email.json["error"]["fields"]
    assert client.get(url, headers=headers).json["total"] == 1


def test_the_last_owner_cannot_be_demoted_or_removed(client, db):
    owner = member(Role.OWNER)
    headers = bearer(token_for(owner.user))
    url = members_url(owner.tenant.slug, f"/{owner.id}")
    assert client.patch(url, json={"role": "viewer"}, headers=headers).status_code == 409
    assert client.delete(url, headers=headers).status_code == 409


@pytest.mark.parametrize("role", [Role.ESTATE_ADMIN, Role.FINANCE, Role.CASHIER, Role.VIEWER])
def test_only_owners_manage_members(client, db, role):
    someone = member(role)
    headers = bearer(token_for(someone.user))
    slug = someone.tenant.slug
    assert client.get(members_url(slug), headers=headers).status_code == 403
    response = client.post(
        members_url(slug), json={"email": someone.user.email, "role": "owner"}, headers=headers
    )
    assert response.status_code == 403
    assert response.json["error"]["code"] == "forbidden"


# --- cross-tenant: every tenant API URL is a 404 for a member of another tenant ----------

TENANT_API_CALLS = [
    ("get", "/members"),
    ("post", "/members"),
    ("get", "/members/{member_id}"),
    ("patch", "/members/{member_id}"),
    ("delete", "/members/{member_id}"),
    ("post", "/members/roster-report"),
    ("get", "/jobs/{job_id}"),
]


@pytest.mark.parametrize(("method", "path"), TENANT_API_CALLS)
def test_returns_404_to_a_member_of_another_tenant(client, db, method, path):
    from ruihe_saas.jobs.models import JobRecord
    from ruihe_saas.tenancy import tenant_context

    victim = member(Role.OWNER)
    with tenant_context(victim.tenant_id):
        job = JobRecord(name="x:y", queue="default", args=[])
        db.session.add(job)
        db.session.flush()
    attacker = member(Role.OWNER)
    url = f"/api/v1/t/{victim.tenant.slug}" + path.format(member_id=victim.id, job_id=job.id)
    response = getattr(client, method)(
        url,
        json={"email": attacker.user.email, "role": "owner"},
        headers=bearer(token_for(attacker.user)),
    )
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


@pytest.mark.parametrize(("method", "path"), [call for call in TENANT_API_CALLS if "{" in call[1]])
def test_own_tenant_cannot_reach_another_tenants_objects(client, db, method, path):
    victim = member(Role.OWNER)
    attacker = member(Role.OWNER)
    from ruihe_saas.jobs.models import JobRecord
    from ruihe_saas.tenancy import tenant_context

    with tenant_context(victim.tenant_id):
        job = JobRecord(name="x:y", queue="default", args=[])
        db.session.add(job)
        db.session.flush()
    url = f"/api/v1/t/{attacker.tenant.slug}" + path.format(member_id=victim.id, job_id=job.id)
    response = getattr(client, method)(
        url, json={"role": "viewer"}, headers=bearer(token_for(attacker.user))
    )
    assert response.status_code == 404


@pytest.mark.parametrize(("method", "path"), TENANT_API_CALLS)
def test_unknown_tenant_and_no_token(client, db, method, path):
    owner = member(Role.OWNER)
    url = "/api/v1/t/no-such-tenant" + path.format(member_id=owner.id, job_id=owner.id)
    assert getattr(client, method)(url, headers=bearer(token_for(owner.user))).status_code == 404
    url = f"/api/v1/t/{owner.tenant.slug}" + path.format(member_id=owner.id, job_id=owner.id)
    assert getattr(client, method)(url).status_code == 401


# --- platform: tenants --------------------------------------------------------------------


def test_platform_admin_creates_a_tenant_with_an_owner(client, db):
    admin = UserFactory(is_platform_admin=True)
    future_owner = UserFactory()
    response = client.post(
        "/api/v1/tenants",
        json={"slug": "xinyuan", "name": "新苑社区物业", "owner_email": future_owner.email},
        headers=bearer(token_for(admin)),
    )
    assert response.status_code == 201
    assert response.json["slug"] == "xinyuan"
    members = client.get("/api/v1/t/xinyuan/members", headers=bearer(token_for(future_owner)))
    assert members.status_code == 200 and members.json["items"][0]["role"] == "owner"


def test_creating_tenants_needs_a_platform_admin(client, db):
    owner = member(Role.OWNER)
    response = client.post(
        "/api/v1/tenants",
        json={"slug": "xinyuan", "name": "新苑"},
        headers=bearer(token_for(owner.user)),
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"slug": "A B", "name": "x"}, 422, "slug"),
        ({"slug": "api", "name": "x"}, 422, "slug"),
        ({"slug": "ok-slug"}, 422, "name"),
        ({"slug": "ok-slug", "name": "x", "owner_email": "nope"}, 422, "owner_email"),
    ],
)
def test_bad_tenant_input_is_422(client, db, body, status, field):
    admin = UserFactory(is_platform_admin=True)
    response = client.post("/api/v1/tenants", json=body, headers=bearer(token_for(admin)))
    assert response.status_code == status
    assert field in response.json["error"]["fields"]


def test_duplicate_tenant_slug_is_409_and_changes_nothing(client, db):
    admin = UserFactory(is_platform_admin=True)
    existing = TenantFactory()
    response = client.post(
        "/api/v1/tenants",
        json={"slug": existing.slug, "name": "重复"},
        headers=bearer(token_for(admin)),
    )
    assert response.status_code == 409


def test_unknown_owner_email_creates_no_tenant(client, db):
    admin = UserFactory(is_platform_admin=True)
    response = client.post(
        "/api/v1/tenants",
        json={"slug": "ghost-town", "name": "无主", "owner_email": "ghost@example.test"},
        headers=bearer(token_for(admin)),
    )
    assert response.status_code == 404
    from ruihe_saas.tenancy.services import find_tenant

    assert find_tenant("ghost-town") is None


# --- documents -----------------------------------------------------------------------------


def test_openapi_document_and_docs_are_served_without_cdn(client, db):
    spec = client.get("/api/v1/openapi.json")
    assert spec.status_code == 200
    assert "/api/v1/t/{tenant_slug}/members" in spec.json["paths"]
    assert spec.json["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    # every tenant operation documents its token and the 401/403/404 it can answer
    for path, operations in spec.json["paths"].items():
        if path.startswith("/api/v1/t/"):
            for method, operation in operations.items():
                if method == "parameters":
                    continue
                assert operation["security"] == [{"bearerAuth": []}], (method, path)
                assert {"401", "403", "404"} <= set(operation["responses"]), (method, path)
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    html = docs.get_data(as_text=True)
    assert "http://" not in html and "https://" not in html
    asset = client.get("/api/v1/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200
    asset.close()
    assert client.get("/api/v1/docs/assets/../../secret").status_code == 404
