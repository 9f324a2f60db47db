"""Online payment API: gateway settings (owner only; never a secret), pay links, checkout
sessions; 403 for roles without the permission, 404 across tenants and estates, 422 on bad
input."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from ruihe_saas.auth.models import Role
from ruihe_saas.auth.services import issue_token
from ruihe_saas.online.paylinks import read_pay_token
from ruihe_saas.payments.models import GatewaySettings
from ruihe_saas.tenancy import tenant_context
from tests.conftest import bearer
from tests.estate_factories import estate_with_households, scope_member
from tests.factories import member
from tests.stripe_standin import (  # noqa: F401 (fixtures)
    SECRET_KEY,
    WEBHOOK_SECRET,
    enable_gateway,
    household_with_bills,
    standin_fixture,
    standin_server_fixture,
)

VALID = {
    "enabled": True,
    "mode": "connect",
    "connected_account_id": "acct_1Nv0FGQ9RKHgCVdK",
    "application_fee_percent": "1.50",
    "payment_methods": ["card", "alipay"],
}


def auth(membership) -> dict:
    return bearer(issue_token(membership.user, days=1))


def url(membership, path: str) -> str:
    return f"/api/v1/t/{membership.tenant.slug}{path}"


@pytest.fixture
def world(db, stripe_standin):
    owner = member(Role.OWNER)
    estate, household, bills = household_with_bills(owner.tenant_id)
    other_estate = estate_with_households(owner.tenant_id, "E9", buildings=1, rooms=1)
    stranger = member(Role.OWNER)
    _, foreign_household, _ = household_with_bills(stranger.tenant_id, code="F1")
    return owner, estate, household, bills, other_estate, stranger, foreign_household


def test_gateway_settings_round_trip(client, world):
    owner = world[0]
    got = client.get(url(owner, "/gateway-settings"), headers=auth(owner))
    assert got.status_code == 200
    assert got.json["enabled"] is False and got.json["mode"] == "connect"
    assert got.json["secret_key_configured"] is True
    assert got.json["webhook_secret_configured"] is True

    put = client.put(url(owner, "/gateway-settings"), json=VALID, headers=auth(owner))
    assert put.status_code == 200, put.json
    assert put.json["application_fee_percent"] == "1.50"
    assert put.json["payment_methods"] == ["card", "alipay"]
    again = client.get(url(owner, "/gateway-settings"), headers=auth(owner))
    assert again.json["connected_account_id"] == "acct_1Nv0FGQ9RKHgCVdK"
    for response in (got, put, again):
        body = response.get_data(as_text=True)
        assert SECRET_KEY not in body and WEBHOOK_SECRET not in body


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"mode": "paypal"}, "mode"),
        ({"connected_account_id": "nope"}, "connected_account_id"),
        ({"connected_account_id": None}, "connected_account_id"),
        ({"application_fee_percent": "100"}, "application_fee_percent"),
        ({"application_fee_percent": "-0.01"}, "application_fee_percent"),
        ({"application_fee_percent": "0.001"}, "application_fee_percent"),
        ({"application_fee_percent": "abc"}, "application_fee_percent"),
        ({"application_fee_percent": "NaN"}, "application_fee_percent"),
        ({"payment_methods": []}, "payment_methods"),
        ({"payment_methods": ["bitcoin"]}, "payment_methods"),
        ({"payment_methods": "card"}, "payment_methods"),
        ({"enabled": "perhaps"}, "enabled"),
        ({"secret_key": "sk_live_x"}, "secret_key"),
        ({"mode": "platform", "application_fee_percent": "2"}, "application_fee_percent"),
    ],
)
def test_bad_settings_are_422_and_nothing_is_stored(client, world, db, change, field):
    owner = world[0]
    body = {**VALID, **change}
    response = client.put(url(owner, "/gateway-settings"), json=body, headers=auth(owner))
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"]
    with tenant_context(owner.tenant_id):
        assert db.session.scalars(select(GatewaySettings)).all() == []


def test_missing_fields_are_422(client, world):
    owner = world[0]
    response = client.put(url(owner, "/gateway-settings"), json={}, headers=auth(owner))
    assert response.status_code == 422
    assert {"enabled", "mode", "payment_methods"} <= set(response.json["error"]["fields"])


@pytest.mark.parametrize("role", [Role.FINANCE, Role.CASHIER, Role.ESTATE_ADMIN, Role.VIEWER])
def test_only_owners_manage_the_gateway(client, world, role):
    owner = world[0]
    someone = member(role, tenant=owner.tenant)
    assert client.get(url(owner, "/gateway-settings"), headers=auth(someone)).status_code == 403
    put = client.put(url(owner, "/gateway-settings"), json=VALID, headers=auth(someone))
    assert put.status_code == 403


def test_pay_link(client, world, app):
    owner, _, household, *_ = world
    response = client.post(url(owner, f"/households/{household.id}/pay-link"), headers=auth(owner))
    assert response.status_code == 200, response.json
    link = response.json["url"]
    assert link.startswith("http://localhost/pay/")
    assert response.json["expires_at"]
    with app.test_request_context():
        token = read_pay_token(link.rsplit("/", 1)[1])
    assert token.household_id == household.id and token.tenant_id == owner.tenant_id
    page = client.get(link.replace("http://localhost", ""))
    assert page.status_code == 200


def test_pay_link_uses_the_public_url(client, world, app):
    owner, _, household, *_ = world
    app.config["RUIHE_PUBLIC_URL"] = "https://pay.ruihe.example/"  # restored by the fixture
    response = client.post(url(owner, f"/households/{household.id}/pay-link"), headers=auth(owner))
    assert response.json["url"].startswith("https://pay.ruihe.example/pay/")


def test_pay_link_permissions_and_isolation(client, world):
    owner, estate, household, _, other_estate, stranger, foreign = world
    path = url(owner, f"/households/{household.id}/pay-link")
    assert (
        client.post(path, headers=auth(member(Role.FINANCE, tenant=owner.tenant))).status_code
        == 403
    )
    assert (
        client.post(path, headers=auth(member(Role.VIEWER, tenant=owner.tenant))).status_code == 403
    )
    cashier = member(Role.CASHIER, tenant=owner.tenant)
    scope_member(cashier, estate)
    assert client.post(path, headers=auth(cashier)).status_code == 200
    elsewhere = member(Role.CASHIER, tenant=owner.tenant)
    scope_member(elsewhere, other_estate)
    assert client.post(path, headers=auth(elsewhere)).status_code == 404
    # another tenant's household, another tenant's member, an unknown id
    foreign_path = url(owner, f"/households/{foreign.id}/pay-link")
    assert client.post(foreign_path, headers=auth(owner)).status_code == 404
    assert client.post(path, headers=auth(stranger)).status_code == 404
    unknown = url(owner, f"/households/{uuid.uuid4()}/pay-link")
    assert client.post(unknown, headers=auth(owner)).status_code == 404


def test_checkout_sessions_list(client, world, app, db, stripe_standin):
    owner, _, household, bills, *_ = world
    enable_gateway(owner.tenant_id)
    with app.test_request_context("/"), tenant_context(owner.tenant_id):
        from ruihe_saas.online.checkout import start_checkout

        session = start_checkout(household.id, [bills[0].id])
        db.session.commit()  # this request context's own session
    path = url(owner, f"/checkout-sessions?household_id={household.id}")
    response = client.get(path, headers=auth(owner))
    assert response.status_code == 200, response.json
    [row] = response.json
    assert row["id"] == str(session.id)
    assert row["amount"] == "120.50" and row["status"] == "open" and row["attempt"] == 1
    assert row["bill_ids"] == [str(bills[0].id)]
    assert row["gateway_session_id"] == session.gateway_session_id
    assert "idempotency_key" not in row

    finance = member(Role.FINANCE, tenant=owner.tenant)
    assert client.get(path, headers=auth(finance)).status_code == 200
    viewer = member(Role.VIEWER, tenant=owner.tenant)
    assert client.get(path, headers=auth(viewer)).status_code == 403


def test_checkout_sessions_bad_input_and_isolation(client, world):
    owner, *_, stranger, foreign = world
    base = url(owner, "/checkout-sessions")
    assert client.get(base, headers=auth(owner)).status_code == 422
    bad = client.get(base + "?household_id=nope", headers=auth(owner))
    assert bad.status_code == 422 and "household_id" in bad.json["error"]["fields"]
    foreign_path = f"{base}?household_id={foreign.id}"
    assert client.get(foreign_path, headers=auth(owner)).status_code == 404
    assert client.get(f"{base}?household_id={uuid.uuid4()}", headers=auth(owner)).status_code == 404
    assert client.get(base, headers=auth(stranger)).status_code == 404
    assert client.get(base).status_code == 401
