"""Online payment pages: the owners' gateway settings, a household's pay link and QR code,
and the residents' public pay page → checkout redirect (against the Stripe stand-in),
success and cancel pages; bad, expired and foreign links; isolation; CSRF; rate limit."""

from __future__ import annotations

import base64
import re
import time
import uuid

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlalchemy import select

from ruihe_saas.auth.models import Role
from ruihe_saas.online.paylinks import SALT, make_pay_token, token_payload
from ruihe_saas.payments.models import CheckoutSession, CheckoutStatus, GatewaySettings
from ruihe_saas.tenancy import tenant_context
from tests.conftest import csrf_from, login
from tests.estate_factories import estate_with_households, scope_member
from tests.factories import PASSWORD, member
from tests.stripe_standin import (  # noqa: F401 (fixtures)
    SECRET_KEY,
    WEBHOOK_SECRET,
    enable_gateway,
    household_with_bills,
    standin_fixture,
    standin_server_fixture,
)


def text(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def world(db, stripe_standin):
    owner = member(Role.OWNER)
    estate, household, bills = household_with_bills(owner.tenant_id)
    stranger = member(Role.OWNER)
    _, foreign_household, foreign_bills = household_with_bills(
        stranger.tenant_id, code="F1", amounts=(("2024-05", "999.99"),)
    )
    return owner, estate, household, bills, stranger, foreign_household, foreign_bills


def token_for(app, tenant_id, household_id) -> str:
    with app.test_request_context(), tenant_context(tenant_id):
        return make_pay_token(household_id)


def signed_in(client, membership) -> str:
    login(client, membership.user.email, PASSWORD)
    return f"/t/{membership.tenant.slug}/online"


def client_of(app, membership):
    """A new browser (own cookies) signed in as ``membership``."""
    browser = app.test_client()
    signed_in(browser, membership)
    return browser


# --- gateway settings page -------------------------------------------------------------------


def test_owner_saves_gateway_settings(client, world, db):
    owner = world[0]
    base = signed_in(client, owner)
    page = client.get(f"{base}/gateway")
    assert page.status_code == 200
    html = text(page)
    assert 'data-testid="secret-key-state"' in html and "/stripe/webhook" in html
    assert SECRET_KEY not in html and WEBHOOK_SECRET not in html
    form = {
        "csrf_token": csrf_from(client, f"{base}/gateway"),
        "enabled": "y",
        "mode": "connect",
        "connected_account_id": " acct_1Nv0FGQ9RKHgCVdK ",
        "application_fee_percent": "2.00",
        "payment_methods": ["card", "wechat_pay"],
    }
    saved = client.post(f"{base}/gateway", data=form)
    assert saved.status_code == 302, text(saved)
    with tenant_context(owner.tenant_id):
        row = db.session.scalar(select(GatewaySettings))
        assert row.enabled and row.connected_account_id == "acct_1Nv0FGQ9RKHgCVdK"
        assert row.payment_methods == ["card", "wechat_pay"]
    again = text(client.get(f"{base}/gateway"))
    assert "acct_1Nv0FGQ9RKHgCVdK" in again and SECRET_KEY not in again


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"connected_account_id": ""}, "connected_account_id"),
        ({"connected_account_id": "acct_!"}, "connected_account_id"),
        ({"application_fee_percent": "100"}, "application_fee_percent"),
        ({"application_fee_percent": "1.005"}, "application_fee_percent"),
        ({"application_fee_percent": "x"}, "application_fee_percent"),
        ({"payment_methods": []}, "payment_methods"),
        ({"payment_methods": ["card", "cash"]}, "payment_methods"),
        ({"mode": "other"}, "mode"),
    ],
)
def test_bad_gateway_settings_are_422(client, world, db, change, needle):
    owner = world[0]
    base = signed_in(client, owner)
    form = {
        "csrf_token": csrf_from(client, f"{base}/gateway"),
        "enabled": "y",
        "mode": "connect",
        "connected_account_id": "acct_1Good",
        "application_fee_percent": "1",
        "payment_methods": ["card"],
        **change,
    }
    response = client.post(f"{base}/gateway", data=form)
    assert response.status_code == 422
    assert 'role="alert"' in text(response)
    with tenant_context(owner.tenant_id):
        assert db.session.scalar(select(GatewaySettings)) is None


@pytest.mark.parametrize("role", [Role.FINANCE, Role.CASHIER, Role.VIEWER, Role.ESTATE_ADMIN])
def test_only_owners_see_gateway_settings(client, world, role):
    owner = world[0]
    someone = member(role, tenant=owner.tenant)
    base = signed_in(client, someone)
    assert client.get(f"{base}/gateway").status_code == 403


def test_gateway_settings_of_another_tenant_is_404(client, world):
    owner, *_, stranger, _, _ = world
    signed_in(client, stranger)
    assert client.get(f"/t/{owner.tenant.slug}/online/gateway").status_code == 404


# --- pay link page ---------------------------------------------------------------------------


def test_cashier_prints_a_pay_link(client, world, app):
    owner, estate, household, bills, *_ = world
    cashier = member(Role.CASHIER, tenant=owner.tenant)
    scope_member(cashier, estate)
    base = signed_in(client, cashier)
    page = client.get(f"{base}/households/{household.id}/pay-link")
    assert page.status_code == 200
    html = text(page)
    link = re.search(r'data-testid="pay-url">([^<]+)<', html).group(1)
    assert link.startswith("http://localhost/pay/")
    qr = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', html).group(1)
    assert base64.b64decode(qr).lstrip().startswith(b"<?xml")
    assert 'data-testid="pay-expiry"' in html
    assert household.phones not in html
    # the link works for the resident, signed out
    client.post("/logout", data={"csrf_token": csrf_from(client, base + "/gateway")})
    resident = client.get(link.replace("http://localhost", ""))
    assert resident.status_code == 200


def test_pay_link_page_permissions_and_isolation(client, app, world):
    owner, estate, household, _, stranger, foreign, _ = world
    path = f"/t/{owner.tenant.slug}/online/households/{household.id}/pay-link"
    finance = member(Role.FINANCE, tenant=owner.tenant)
    assert client_of(app, finance).get(path).status_code == 200
    viewer = member(Role.VIEWER, tenant=owner.tenant)
    assert client_of(app, viewer).get(path).status_code == 403
    elsewhere = member(Role.CASHIER, tenant=owner.tenant)
    scope_member(elsewhere, estate_with_households(owner.tenant_id, "E7", 1, 1))
    assert client_of(app, elsewhere).get(path).status_code == 404
    as_owner = client_of(app, owner)
    foreign_path = f"/t/{owner.tenant.slug}/online/households/{foreign.id}/pay-link"
    assert as_owner.get(foreign_path).status_code == 404
    unknown = f"/t/{owner.tenant.slug}/online/households/{uuid.uuid4()}/pay-link"
    assert as_owner.get(unknown).status_code == 404
    assert client_of(app, stranger).get(path).status_code == 404
    assert app.test_client().get(path).status_code == 302  # signed out: to the login


# --- the resident's pay page -----------------------------------------------------------------


def test_pay_page_shows_only_this_households_open_bills(client, world, app):
    owner, estate, household, bills, stranger, foreign, foreign_bills = world
    enable_gateway(owner.tenant_id)
    _, _, neighbour_bills = household_with_bills(owner.tenant_id, code="E2")
    token = token_for(app, owner.tenant_id, household.id)
    page = client.get(f"/pay/{token}")
    assert page.status_code == 200
    html = text(page)
    assert owner.tenant.name in html and estate.name in html
    assert household.room in html
    for bill in bills:
        assert bill.number in html and str(bill.id) in html
    for bill in neighbour_bills + foreign_bills:
        assert bill.number not in html and str(bill.id) not in html
    assert household.phones not in html and household.owner_names not in html
    assert "200.50" in html and 'data-testid="pay-submit"' in html
    csp = page.headers["Content-Security-Policy"]
    assert "form-action 'self' https://checkout.stripe.com" in csp
    assert app.config["STRIPE_API_BASE"] in csp


def test_pay_submits_and_redirects_to_checkout(client, world, app, db, stripe_standin):
    owner, _, household, bills, *_ = world
    enable_gateway(owner.tenant_id)
    token = token_for(app, owner.tenant_id, household.id)
    form = {
        "csrf_token": csrf_from(client, f"/pay/{token}"),
        "bill_ids": [str(b.id) for b in bills],
    }
    first = client.post(f"/pay/{token}", data=form)
    assert first.status_code == 303, text(first)
    [sent] = stripe_standin.creates()
    assert first.headers["Location"].startswith(f"{stripe_standin.base_url}/checkout/cs_test_")
    assert sent.body["line_items[0][price_data][unit_amount]"] == "12050"
    assert sent.body["metadata[household_id]"] == str(household.id)
    assert sent.body["success_url"].startswith(f"http://localhost/pay/{token}/success?")
    # a double click: the same session, no second call
    second = client.post(f"/pay/{token}", data=form)
    assert second.status_code == 303
    assert second.headers["Location"] == first.headers["Location"]
    assert len(stripe_standin.creates()) == 1
    with tenant_context(owner.tenant_id):
        [session] = db.session.scalars(select(CheckoutSession)).all()
        assert session.status == CheckoutStatus.OPEN
    # back from the stand-in
    done = client.get(f"/pay/{token}/success?session_id={session.gateway_session_id}")
    assert done.status_code == 200
    assert 'data-testid="pay-success-status"' in text(done) and "200.50" in text(done)
    assert client.get(f"/pay/{token}/success").status_code == 200
    assert client.get(f"/pay/{token}/success?session_id=cs_unknown").status_code == 200
    assert client.get(f"/pay/{token}/cancel").status_code == 200


def test_success_page_hides_another_households_session(client, world, app, stripe_standin):
    owner, _, household, bills, *_ = world
    enable_gateway(owner.tenant_id)
    _, neighbour, neighbour_bills = household_with_bills(owner.tenant_id, code="E3")
    neighbour_token = token_for(app, owner.tenant_id, neighbour.id)
    form = {
        "csrf_token": csrf_from(client, f"/pay/{neighbour_token}"),
        "bill_ids": [str(neighbour_bills[0].id)],
    }
    assert client.post(f"/pay/{neighbour_token}", data=form).status_code == 303
    [session_id] = list(stripe_standin.sessions)
    token = token_for(app, owner.tenant_id, household.id)
    page = text(client.get(f"/pay/{token}/success?session_id={session_id}"))
    assert "120.50" not in page


@pytest.mark.parametrize(
    "choose",
    [
        lambda bills, foreign: [],
        lambda bills, foreign: ["not-a-uuid"],
        lambda bills, foreign: [str(uuid.uuid4())],
        lambda bills, foreign: [str(foreign[0].id)],
        lambda bills, foreign: [str(bills[0].id), str(foreign[0].id)],
    ],
)
def test_bad_bill_choices_are_422(client, world, app, db, stripe_standin, choose):
    owner, _, household, bills, _, _, foreign_bills = world
    enable_gateway(owner.tenant_id)
    token = token_for(app, owner.tenant_id, household.id)
    form = {
        "csrf_token": csrf_from(client, f"/pay/{token}"),
        "bill_ids": choose(bills, foreign_bills),
    }
    response = client.post(f"/pay/{token}", data=form)
    assert response.status_code == 422
    assert 'role="alert"' in text(response)
    assert foreign_bills[0].number not in text(response)
    assert stripe_standin.requests == []
    with tenant_context(owner.tenant_id):
        assert db.session.scalars(select(CheckoutSession)).all() == []


def test_pay_without_csrf_is_refused(client, world, app, stripe_standin):
    owner, _, household, bills, *_ = world
    enable_gateway(owner.tenant_id)
    token = token_for(app, owner.tenant_id, household.id)
    response = client.post(f"/pay/{token}", data={"bill_ids": [str(bills[0].id)]})
    assert response.status_code in (400, 422)
    assert stripe_standin.requests == []


def test_gateway_disabled_shows_no_button_and_refuses(client, world, app, db, stripe_standin):
    owner, _, household, bills, *_ = world
    token = token_for(app, owner.tenant_id, household.id)
    page = text(client.get(f"/pay/{token}"))
    assert 'data-testid="pay-unavailable"' in page and 'data-testid="pay-submit"' not in page
    form = {"csrf_token": csrf_from(client, f"/pay/{token}"), "bill_ids": [str(bills[0].id)]}
    response = client.post(f"/pay/{token}", data=form)
    assert response.status_code == 503
    assert stripe_standin.requests == []
    with tenant_context(owner.tenant_id):
        assert db.session.scalars(select(CheckoutSession)).all() == []


def test_gateway_failure_is_a_friendly_502_and_a_retry_works(
    client, world, app, db, stripe_standin
):
    owner, _, household, bills, *_ = world
    enable_gateway(owner.tenant_id)
    token = token_for(app, owner.tenant_id, household.id)
    form = {"csrf_token": csrf_from(client, f"/pay/{token}"), "bill_ids": [str(bills[0].id)]}
    stripe_standin.fail_next(
        401, {"type": "invalid_request_error", "message": f"Invalid API Key {SECRET_KEY}"}
    )
    failed = client.post(f"/pay/{token}", data=form)
    assert failed.status_code == 502
    assert 'data-testid="pay-error"' in text(failed) and SECRET_KEY not in text(failed)
    retry = client.post(f"/pay/{token}", data=form)
    assert retry.status_code == 303
    keys = [r.header("Idempotency-Key") for r in stripe_standin.creates()]
    assert len(keys) == 2 and keys[0] != keys[1]
    with tenant_context(owner.tenant_id):
        rows = db.session.scalars(select(CheckoutSession).order_by(CheckoutSession.attempt)).all()
        assert [(r.attempt, r.status) for r in rows] == [
            (1, CheckoutStatus.FAILED),
            (2, CheckoutStatus.OPEN),
        ]


def test_pay_posts_are_rate_limited(client, world, app, stripe_standin):
    owner, _, household, bills, *_ = world
    enable_gateway(owner.tenant_id)
    token = token_for(app, owner.tenant_id, household.id)
    form = {"csrf_token": csrf_from(client, f"/pay/{token}"), "bill_ids": [str(bills[0].id)]}
    saved = app.config.get("RUIHE_PAY_LIMIT")
    app.config["RUIHE_PAY_LIMIT"] = "3 per minute"
    try:
        statuses = [client.post(f"/pay/{token}", data=form).status_code for _ in range(4)]
    finally:
        app.config["RUIHE_PAY_LIMIT"] = saved
    assert statuses == [303, 303, 303, 429]


# --- bad links -------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "/success", "/success?session_id=cs_x", "/cancel"])
def test_bad_tokens_are_404_pages(client, world, app, suffix):
    owner, _, household, *_ = world
    good = token_for(app, owner.tenant_id, household.id)
    tampered = good[:-3] + ("aaa" if not good.endswith("aaa") else "bbb")
    for token in (tampered, "nonsense", "a" * 1000, "%00", "..", good + "x"):
        response = client.get(f"/pay/{token}{suffix}")
        assert response.status_code == 404, token
    assert client.post(f"/pay/{tampered}", data={}).status_code == 404


def test_expired_token_is_a_410_page(client, world, app):
    owner, _, household, *_ = world
    days = app.config["RUIHE_PAY_LINK_DAYS"]

    class SignedLongAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - (days + 1) * 86400)

    serializer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=SALT, signer=SignedLongAgo)
    token = serializer.dumps(token_payload(owner.tenant_id, household.id))
    response = client.get(f"/pay/{token}")
    assert response.status_code == 410
    assert 'data-testid="pay-link-error"' in text(response)
    assert household.room not in text(response)


def test_a_token_naming_another_tenant_shows_nothing(client, world, app):
    owner, _, household, bills, stranger, foreign, foreign_bills = world
    serializer = URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=SALT)
    # validly signed, but the household belongs to the other tenant
    mixed = serializer.dumps(token_payload(stranger.tenant_id, household.id))
    response = client.get(f"/pay/{mixed}")
    assert response.status_code == 404
    assert bills[0].number not in text(response)
    packed = token_payload(owner.tenant_id, household.id)
    for payload in (
        {"t": "x", "h": "y"},
        [str(owner.tenant_id), str(household.id)],
        packed[:1],
        packed + packed[:1],
        [packed[0], "!" * 22],
        [1, 2],
        "s",
        None,
    ):
        assert client.get(f"/pay/{serializer.dumps(payload)}").status_code == 404
    wrong_key = URLSafeTimedSerializer("another secret", salt=SALT)
    forged = wrong_key.dumps(token_payload(stranger.tenant_id, foreign.id))
    assert client.get(f"/pay/{forged}").status_code == 404
    # the other tenant's own link shows its own bills only
    theirs = text(client.get(f"/pay/{token_for(app, stranger.tenant_id, foreign.id)}"))
    assert foreign_bills[0].number in theirs and bills[0].number not in theirs
