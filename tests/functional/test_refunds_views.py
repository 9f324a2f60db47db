"""Refund pages: the refund form of a payment (errors on the form, success → the refund
page), the refund page, the list with filters, the payment page's refunds section;
permissions (403 for a cashier), tenant isolation and estate scope (404)."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.extensions import db as database
from ruihe_saas.payments.models import Refund
from ruihe_saas.refunds.services import refund_payment
from ruihe_saas.tenancy import tenant_context
from tests.conftest import csrf_from, login
from tests.estate_factories import estate_with_households, scope_member
from tests.factories import PASSWORD, member
from tests.stripe_standin import enable_gateway, standin_fixture, standin_server_fixture
from tests.unit.refunds.test_refunds import World

__all__ = ["standin_fixture", "standin_server_fixture"]


def logged_in(client, membership):
    login(client, membership.user.email, PASSWORD)
    return client


def page(world: World, path: str) -> str:
    return f"/t/{world.owner.tenant.slug}/refunds{path}"


def text(response) -> str:
    return response.get_data(as_text=True)


def refund_count(world: World) -> int:
    with tenant_context(world.tenant_id):
        return database.session.scalar(select(func.count()).select_from(Refund))


def form_key(html: str) -> str:
    match = re.search(r'name="idempotency_key" type="hidden" value="([^"]+)"', html) or re.search(
        r'id="idempotency_key" name="idempotency_key" type="hidden" value="([^"]+)"', html
    )
    assert match, "no idempotency key on the form"
    return match.group(1)


@pytest.fixture
def world(db):
    world = World("RVIEW")
    world.jan = world.bill("2024-01")
    world.payment = world.pay("130.00")  # 110 to January, 20 prepaid
    world.finance = member(Role.FINANCE, tenant=world.owner.tenant)
    return world


def test_the_refund_form_refunds_and_redirects_to_the_refund(client, world):
    logged_in(client, world.finance)
    form_url = page(world, f"/payments/{world.payment.id}/new")
    shown = client.get(form_url)
    assert shown.status_code == 200
    html = text(shown)
    assert 'data-testid="refundable">130.00<' in html
    assert 'value="130.00"' in html  # the amount defaults to what is left
    key = form_key(html)
    data = {
        "csrf_token": csrf_from(client, form_url),
        "idempotency_key": key,
        "amount": "50.00",
        "reason": "多收退回",
        "method": "cash",
        "reference": "",
    }
    response = client.post(form_url, data=data)
    assert response.status_code == 302
    assert re.search(r"/refunds/[0-9a-f-]{36}$", response.headers["Location"])
    detail = text(client.get(response.headers["Location"]))
    assert 'data-testid="refund-amount">50.00<' in detail
    assert 'data-testid="refund-from-credit">20.00<' in detail
    assert 'data-testid="refund-from-bills">30.00<' in detail
    assert "多收退回" in detail and 'data-testid="reversal-row"' in detail
    # a double submit of the same form refunds once and lands on the same refund
    again = client.post(form_url, data=data)
    assert again.status_code == 302 and again.headers["Location"] == response.headers["Location"]
    assert refund_count(world) == 1
    listed = text(client.get(page(world, "/")))
    assert listed.count('data-testid="refund-row"') == 1


@pytest.mark.parametrize(
    ("amount", "reason", "method", "message"),
    [
        ("130.01", "r", "cash", "At most 130.00 can be refunded."),
        ("0", "r", "cash", None),
        ("1.001", "r", "cash", None),
        ("abc", "r", "cash", None),
        ("", "r", "cash", None),
        ("1", "", "cash", None),
        ("1", "r", "gateway", None),
        ("1", "r", "bitcoin", None),
    ],
)
def test_bad_input_shows_errors_on_the_form(client, world, amount, reason, method, message):
    logged_in(client, world.finance)
    form_url = page(world, f"/payments/{world.payment.id}/new")
    response = client.post(
        form_url,
        data={
            "csrf_token": csrf_from(client, form_url),
            "amount": amount,
            "reason": reason,
            "method": method,
        },
    )
    assert response.status_code == 422
    html = text(response)
    assert 'class="error"' in html and 'data-testid="refund-form"' in html
    if message:
        assert message in html or "130.00" in html
    assert refund_count(world) == 0


def test_a_missing_csrf_token_stores_nothing(client, world):
    logged_in(client, world.finance)
    response = client.post(
        page(world, f"/payments/{world.payment.id}/new"),
        data={"amount": "1", "reason": "r", "method": "cash"},
    )
    assert response.status_code in (400, 422)
    assert refund_count(world) == 0


def test_new_with_a_payment_id_redirects_to_the_form(client, world):
    logged_in(client, world.finance)
    response = client.get(page(world, f"/new?payment_id={world.payment.id}"))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/refunds/payments/{world.payment.id}/new")
    for bad in ("", "?payment_id=x", f"?payment_id={uuid.uuid4()}"):
        assert client.get(page(world, f"/new{bad}")).status_code == 404


def test_a_fully_refunded_payment_shows_no_form(client, world):
    with tenant_context(world.tenant_id):
        refund_payment(world.payment.id, "130.00", "全额退款")
    logged_in(client, world.finance)
    html = text(client.get(page(world, f"/payments/{world.payment.id}/new")))
    assert 'data-testid="fully-refunded"' in html and 'data-testid="refund-form"' not in html


def test_the_list_filters_by_estate_and_dates(client, world):
    with tenant_context(world.tenant_id):
        refund_payment(world.payment.id, "5.00", "r")
    other_estate = estate_with_households(world.tenant_id, "RVX", buildings=1, rooms=1)
    logged_in(client, world.finance)
    assert text(client.get(page(world, "/"))).count('data-testid="refund-row"') == 1
    html = text(client.get(page(world, f"/?estate_id={other_estate.id}")))
    assert 'data-testid="refund-row"' not in html
    html = text(client.get(page(world, f"/?estate_id={world.estate.id}&from=2000-01-01")))
    assert html.count('data-testid="refund-row"') == 1
    assert 'data-testid="refund-row"' not in text(client.get(page(world, "/?to=2000-01-01")))
    for query in ("from=x", "to=2024-13-01", "from=2024-02-01&to=2024-01-01"):
        response = client.get(page(world, f"/?{query}"))
        assert response.status_code == 422 and 'class="error"' in text(response), query
    assert client.get(page(world, "/?estate_id=nope&page=-1")).status_code == 200


def test_the_payment_page_lists_refunds_with_a_refund_button(client, world):
    with tenant_context(world.tenant_id):
        refund = refund_payment(world.payment.id, "5.00", "退五元")
    logged_in(client, world.finance)
    response = client.get(f"/t/{world.owner.tenant.slug}/payments/{world.payment.id}")
    if response.status_code == 404:
        pytest.skip("the payment page is not there yet")
    html = text(response)
    assert 'data-testid="payment-refund-row"' in html and "退五元" in html
    assert f"/refunds/payments/{world.payment.id}/new" in html
    assert f"/refunds/{refund.id}" in html


def test_a_cashier_cannot_refund_but_may_look(client, world):
    with tenant_context(world.tenant_id):
        refund = refund_payment(world.payment.id, "5.00", "r")
    cashier = member(Role.CASHIER, tenant=world.owner.tenant)
    scope_member(cashier, world.estate)
    logged_in(client, cashier)
    form_url = page(world, f"/payments/{world.payment.id}/new")
    assert client.get(form_url).status_code == 403
    token = csrf_from(client, page(world, "/"))
    response = client.post(
        form_url, data={"csrf_token": token, "amount": "1", "reason": "r", "method": "cash"}
    )
    assert response.status_code == 403
    assert client.get(page(world, f"/{refund.id}")).status_code == 200
    assert client.get(page(world, "/")).status_code == 200
    assert refund_count(world) == 1


def test_other_tenants_and_other_estates_are_404(client, world):
    with tenant_context(world.tenant_id):
        refund = refund_payment(world.payment.id, "5.00", "r")
    stranger = World("RVIEW2")
    logged_in(client, stranger.owner)
    for path in (
        f"/payments/{world.payment.id}/new",
        f"/{refund.id}",
        f"/new?payment_id={world.payment.id}",
        f"/{uuid.uuid4()}",
    ):
        assert client.get(page(stranger, path)).status_code == 404, path
    assert client.get(page(world, f"/{refund.id}")).status_code == 404  # not a member
    token = csrf_from(client, page(stranger, "/"))
    response = client.post(
        page(stranger, f"/payments/{world.payment.id}/new"),
        data={"csrf_token": token, "amount": "1", "reason": "r", "method": "cash"},
    )
    assert response.status_code == 404
    client.post("/logout", data={"csrf_token": token})

    elsewhere = estate_with_households(world.tenant_id, "RVY", buildings=1, rooms=1)
    admin = member(Role.ESTATE_ADMIN, tenant=world.owner.tenant)
    scope_member(admin, elsewhere)
    client2 = client.application.test_client()
    logged_in(client2, admin)
    assert client2.get(page(world, f"/{refund.id}")).status_code == 404
    assert 'data-testid="refund-row"' not in text(client2.get(page(world, "/")))
    assert refund_count(world) == 1


def test_an_online_payment_is_refunded_through_the_gateway(client, world, stripe_standin):
    payment = world.online_payment("20.00", pi="pi_view_gateway", household=1)
    logged_in(client, world.finance)
    form_url = page(world, f"/payments/{payment.id}/new")
    html = text(client.get(form_url))
    assert 'value="gateway"' in html and 'value="cash"' not in html
    data = {
        "csrf_token": csrf_from(client, form_url),
        "amount": "5.00",
        "reason": "线上退款",
        "method": "gateway",
    }
    refused = client.post(form_url, data=data)  # online payment is not enabled yet
    assert refused.status_code == 409 and 'class="error"' in text(refused)
    assert refund_count(world) == 0
    enable_gateway(world.tenant_id)
    response = client.post(form_url, data=data)
    assert response.status_code == 302
    detail = text(client.get(response.headers["Location"]))
    assert "re_test_" in detail and 'data-testid="refund-amount">5.00<' in detail
