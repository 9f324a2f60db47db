"""Refunds API: create (201, replay 200), bad input 422 with nothing stored, list, show;
permissions (403 for a cashier), tenant isolation and estate scope (404)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.auth.services import issue_token
from ruihe_saas.extensions import db as database
from ruihe_saas.payments.models import AllocationReversal, Refund
from ruihe_saas.tenancy import tenant_context
from tests.conftest import bearer
from tests.estate_factories import estate_with_households, scope_member
from tests.factories import member
from tests.stripe_standin import enable_gateway, standin_fixture, standin_server_fixture
from tests.unit.refunds.test_refunds import World

__all__ = ["standin_fixture", "standin_server_fixture"]


def auth(membership) -> dict:
    return bearer(issue_token(membership.user, days=1))


def url(world: World, path: str) -> str:
    return f"/api/v1/t/{world.owner.tenant.slug}{path}"


def stored(world: World) -> tuple[int, int]:
    with tenant_context(world.tenant_id):
        return (
            database.session.scalar(select(func.count()).select_from(Refund)),
            database.session.scalar(select(func.count()).select_from(AllocationReversal)),
        )


@pytest.fixture
def world(db):
    world = World("RAPI")
    world.jan = world.bill("2024-01")
    world.feb = world.bill("2024-02")
    world.payment = world.pay("250.00")  # both bills, 30 prepaid
    world.finance = member(Role.FINANCE, tenant=world.owner.tenant)
    return world


def test_a_refund_is_created_and_replayed(client, world):
    headers = {**auth(world.finance), "Idempotency-Key": "refund-1"}
    path = url(world, f"/payments/{world.payment.id}/refunds")
    body = {"amount": "50.00", "reason": "重复缴费", "method": "cash", "reference": "T-1"}
    created = client.post(path, json=body, headers=headers)
    assert created.status_code == 201, created.json
    refund = created.json
    assert (refund["amount"], refund["from_credit"], refund["from_bills"]) == (
        "50.00",
        "30.00",
        "20.00",
    )
    assert (refund["method"], refund["status"]) == ("cash", "succeeded")
    assert refund["reason"] == "重复缴费"
    assert refund["refunded_at"] and refund["business_date"]
    assert [r["amount"] for r in refund["reversals"]] == ["10.00", "10.00"]
    assert {r["bill_id"] for r in refund["reversals"]} == {str(world.feb.id)}
    assert all(r["bill_line_id"] and r["bill_number"] for r in refund["reversals"])

    again = client.post(path, json=body, headers=headers)
    assert again.status_code == 200 and again.json["id"] == refund["id"]
    other = client.post(path, json={**body, "amount": "5.00"}, headers=headers)
    assert other.status_code == 422 and "idempotency_key" in other.json["error"]["fields"]
    assert stored(world) == (1, 2)

    bill = client.get(url(world, f"/bills/{world.feb.id}"), headers=auth(world.owner)).json
    assert (bill["paid"], bill["status"]) == ("90.00", "partially_paid")

    listed = client.get(path, headers=auth(world.finance))
    assert listed.status_code == 200 and listed.json["total"] == 1
    assert listed.json["items"][0]["reversals"][0]["amount"] == "10.00"
    shown = client.get(url(world, f"/refunds/{refund['id']}"), headers=auth(world.finance))
    assert shown.status_code == 200 and shown.json["id"] == refund["id"]
    everything = client.get(url(world, "/refunds"), headers=auth(world.finance))
    assert everything.json["total"] == 1
    assert everything.json["items"][0]["household_label"] == world.households[0].label


def test_the_default_desk_method_is_original_and_a_number_amount_works(client, world):
    path = url(world, f"/payments/{world.payment.id}/refunds")
    response = client.post(path, json={"amount": 12.5, "reason": "r"}, headers=auth(world.owner))
    assert response.status_code == 201, response.json
    assert (response.json["method"], response.json["amount"]) == ("original", "12.50")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "0", "reason": "r"}, "amount"),
        ({"amount": "-1", "reason": "r"}, "amount"),
        ({"amount": "1.001", "reason": "r"}, "amount"),
        ({"amount": "250.01", "reason": "r"}, "amount"),
        ({"amount": "NaN", "reason": "r"}, "amount"),
        ({"amount": "1e400", "reason": "r"}, "amount"),
        ({"amount": True, "reason": "r"}, "amount"),
        ({"amount": None, "reason": "r"}, "amount"),
        ({"amount": [], "reason": "r"}, "amount"),
        ({"reason": "r"}, "amount"),
        ({"amount": "1"}, "reason"),
        ({"amount": "1", "reason": ""}, "reason"),
        ({"amount": "1", "reason": "   "}, "reason"),
        ({"amount": "1", "reason": "x" * 201}, "reason"),
        ({"amount": "1", "reason": "r", "method": "gateway"}, "method"),
        ({"amount": "1", "reason": "r", "method": "bitcoin"}, "method"),
        ({"amount": "1", "reason": "r", "reference": "x" * 101}, "reference"),
        ({"amount": "1", "reason": "r", "extra": 1}, "extra"),
    ],
)
def test_bad_refunds_are_422_and_nothing_is_stored(client, world, body, field):
    path = url(world, f"/payments/{world.payment.id}/refunds")
    response = client.post(path, json=body, headers=auth(world.finance))
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"]
    assert stored(world) == (0, 0)


def test_bad_idempotency_key_and_bodies(client, world):
    path = url(world, f"/payments/{world.payment.id}/refunds")
    headers = {**auth(world.finance), "Idempotency-Key": "k" * 101}
    response = client.post(path, json={"amount": "1", "reason": "r"}, headers=headers)
    assert response.status_code == 422
    assert client.post(path, data="{", headers=auth(world.finance)).status_code in (400, 415, 422)
    assert client.post(path, json=[1], headers=auth(world.finance)).status_code == 422
    assert stored(world) == (0, 0)


def test_a_cashier_or_viewer_cannot_refund(client, world):
    path = url(world, f"/payments/{world.payment.id}/refunds")
    cashier = member(Role.CASHIER, tenant=world.owner.tenant)
    scope_member(cashier, world.estate)
    response = client.post(path, json={"amount": "1", "reason": "r"}, headers=auth(cashier))
    assert response.status_code == 403
    assert client.get(path, headers=auth(cashier)).status_code == 200  # may view
    viewer = member(Role.VIEWER, tenant=world.owner.tenant)
    assert client.get(path, headers=auth(viewer)).status_code == 403
    assert client.get(url(world, "/refunds"), headers=auth(viewer)).status_code == 403
    assert stored(world) == (0, 0)


def test_other_tenants_and_unknown_ids_are_404(client, world):
    with tenant_context(world.tenant_id):
        from ruihe_saas.refunds.services import refund_payment

        refund = refund_payment(world.payment.id, "1.00", "r")
    stranger = World("RAPI2")
    headers = auth(stranger.owner)
    for path in (
        f"/payments/{world.payment.id}/refunds",
        f"/refunds/{refund.id}",
        f"/payments/{uuid.uuid4()}/refunds",
        f"/refunds/{uuid.uuid4()}",
        f"/refunds?payment_id={world.payment.id}",
        f"/refunds?estate_id={world.estate.id}",
        f"/refunds?household_id={world.households[0].id}",
    ):
        assert client.get(url(stranger, path), headers=headers).status_code == 404, path
    created = client.post(
        url(stranger, f"/payments/{world.payment.id}/refunds"),
        json={"amount": "1", "reason": "r"},
        headers=headers,
    )
    assert created.status_code == 404
    # the stranger's token on the first tenant's URLs: not a member
    assert client.get(url(world, f"/refunds/{refund.id}"), headers=headers).status_code == 404
    assert stored(world) == (1, 0)  # 1.00 came from the prepaid credit


def test_estate_scope_hides_other_estates_refunds(client, world):
    with tenant_context(world.tenant_id):
        from ruihe_saas.refunds.services import refund_payment

        refund = refund_payment(world.payment.id, "1.00", "r")
    elsewhere = estate_with_households(world.tenant_id, "RAPIX", buildings=1, rooms=1)
    admin = member(Role.ESTATE_ADMIN, tenant=world.owner.tenant)
    scope_member(admin, elsewhere)
    headers = auth(admin)
    assert client.get(url(world, f"/refunds/{refund.id}"), headers=headers).status_code == 404
    path = url(world, f"/payments/{world.payment.id}/refunds")
    assert client.get(path, headers=headers).status_code == 404
    assert client.get(url(world, "/refunds"), headers=headers).json["total"] == 0


@pytest.mark.parametrize(
    "query",
    ["from=2024-13-01", "to=x", "from=2024-02-01&to=2024-01-01", "status=lost", "method=x"],
)
def test_bad_list_filters_are_422(client, world, query):
    response = client.get(url(world, f"/refunds?{query}"), headers=auth(world.finance))
    assert response.status_code == 422


def test_an_online_payment_without_a_gateway_is_409_and_nothing_is_stored(client, world):
    payment = world.online_payment("20.00", pi="pi_api_1", household=1)
    path = url(world, f"/payments/{payment.id}/refunds")
    response = client.post(path, json={"amount": "5", "reason": "r"}, headers=auth(world.finance))
    assert response.status_code == 409
    assert response.json["error"]["code"] == "gateway_not_configured"
    assert stored(world) == (0, 0)


def test_an_online_payment_is_refunded_through_the_gateway(client, world, stripe_standin):
    payment = world.online_payment("20.00", pi="pi_api_gateway", household=1)
    enable_gateway(world.tenant_id)
    path = url(world, f"/payments/{payment.id}/refunds")
    headers = {**auth(world.finance), "Idempotency-Key": "api-gw-1"}
    response = client.post(path, json={"amount": "5.00", "reason": "线上退款"}, headers=headers)
    assert response.status_code == 201, response.json
    assert (response.json["method"], response.json["status"]) == ("gateway", "succeeded")
    assert response.json["gateway_refund_id"].startswith("re_test_")
    again = client.post(path, json={"amount": "5.00", "reason": "线上退款"}, headers=headers)
    assert again.status_code == 200 and again.json["id"] == response.json["id"]
    sent = [r for r in stripe_standin.requests if r.path == "/v1/refunds"]
    assert len(sent) == 1 and sent[0].body["amount"] == "500"
