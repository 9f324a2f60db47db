"""Payments API: recording desk payments (201 shape, replays, 422 field messages, nothing
stored on bad input), listing with filters, showing one; permissions, tenant isolation
and estate scope."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.auth.services import issue_token
from ruihe_saas.extensions import db as database
from ruihe_saas.payments.models import Payment
from ruihe_saas.tenancy import tenant_context
from tests.conftest import bearer
from tests.estate_factories import estate_with_households, scope_member
from tests.factories import member
from tests.unit.billing.test_bills import World


def auth(membership) -> dict:
    return bearer(issue_token(membership.user, days=1))


def url(world: World, path: str) -> str:
    return f"/api/v1/t/{world.owner.tenant.slug}{path}"


def payment_count(world: World) -> int:
    with tenant_context(world.tenant_id):
        return database.session.scalar(select(func.count()).select_from(Payment))


@pytest.fixture
def world(db):
    world = World("PAPI")
    world.cashier = member(Role.CASHIER, tenant=world.owner.tenant, name="收银员乙")
    scope_member(world.cashier, world.estate)
    world.july = world.bill("2024-07")  # 60 + 40
    world.august = world.bill("2024-08")
    return world


def body(world, **changes) -> dict:
    data = {
        "household_id": str(world.households[0].id),
        "amount": "150.00",
        "method": "cash",
        "reference": "",
    }
    data.update(changes)
    return data


def test_a_desk_payment_is_recorded_with_its_receipt_and_allocations(client, world):
    response = client.post(
        url(world, "/payments"),
        json=body(world, bill_ids=[str(world.august.id)], note="前台收款"),
        headers=auth(world.cashier),
    )
    assert response.status_code == 201, response.json
    data = response.json
    assert re.match(r"^RC-\d{4}-\d{6}$", data["receipt_number"])
    assert (data["amount"], data["unallocated"], data["method"]) == ("150.00", "50.00", "cash")
    assert data["household_id"] == str(world.households[0].id)
    assert data["estate_id"] == str(world.estate.id)
    assert data["business_date"] and data["paid_at"]
    assert data["cashier_name"] == "收银员乙" and data["note"] == "前台收款"
    allocations = sorted(data["allocations"], key=lambda a: a["fee_item"])
    assert [(a["bill_number"], a["period"], a["fee_item"], a["amount"]) for a in allocations] == [
        (world.august.number, "2024-08", "垃圾清运费", "40.00"),
        (world.august.number, "2024-08", "物业服务费", "60.00"),
    ]
    assert {a["reversed"] for a in allocations} == {"0.00"}
    shown = client.get(url(world, f"/payments/{data['id']}"), headers=auth(world.owner))
    assert shown.status_code == 200 and shown.json == data


def test_a_number_amount_and_a_local_paid_at_are_accepted(client, world):
    response = client.post(
        url(world, "/payments"),
        json=body(world, amount=12.5, paid_at="2024-07-20T08:00:00"),
        headers=auth(world.cashier),
    )
    assert response.status_code == 201, response.json
    assert response.json["amount"] == "12.50"
    assert response.json["paid_at"].startswith("2024-07-20T00:00:00")
    assert response.json["business_date"] == "2024-07-20"


def test_a_replay_with_the_idempotency_key_returns_the_first_payment(client, world):
    headers = {**auth(world.cashier), "Idempotency-Key": "desk-123"}
    first = client.post(url(world, "/payments"), json=body(world), headers=headers)
    again = client.post(url(world, "/payments"), json=body(world, amount="150"), headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json == first.json
    other = client.post(url(world, "/payments"), json=body(world, amount="99"), headers=headers)
    assert other.status_code == 422
    assert "idempotency_key" in other.json["error"]["fields"]
    assert payment_count(world) == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount": "-5"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": 0}, "amount"),
        ({"amount": "10.001"}, "amount"),
        ({"amount": 10.001}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": None}, "amount"),
        ({"method": "online"}, "method"),
        ({"method": "bitcoin"}, "method"),
        ({"method": "bank_transfer", "reference": ""}, "reference"),
        ({"reference": "x" * 101}, "reference"),
        ({"household_id": "nope"}, "household_id"),
        ({"bill_ids": []}, "bill_ids"),
        ({"bill_ids": ["nope"]}, "bill_ids"),
        ({"paid_at": "2999-01-01T00:00:00Z"}, "paid_at"),
        ({"paid_at": "yesterday"}, "paid_at"),
    ],
)
def test_bad_input_is_422_with_field_messages_and_nothing_is_stored(client, world, changes, field):
    response = client.post(
        url(world, "/payments"), json=body(world, **changes), headers=auth(world.cashier)
    )
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"], response.json
    assert payment_count(world) == 0


def test_someone_elses_bill_is_422(client, world):
    neighbours = world.bill("2024-07", household=1)
    other = World("PAPI2")
    foreign = other.bill("2024-07")
    for bill in (neighbours, foreign):
        response = client.post(
            url(world, "/payments"),
            json=body(world, bill_ids=[str(bill.id)]),
            headers=auth(world.cashier),
        )
        assert response.status_code == 422
        assert "bill_ids" in response.json["error"]["fields"]
    assert payment_count(world) == 0


def test_a_bad_idempotency_key_header_is_422(client, world):
    headers = {**auth(world.cashier), "Idempotency-Key": "x" * 101}
    response = client.post(url(world, "/payments"), json=body(world), headers=headers)
    assert response.status_code == 422
    assert "Idempotency-Key" in response.json["error"]["fields"]


def test_payments_are_listed_with_filters(client, world):
    cashier = auth(world.cashier)
    client.post(
        url(world, "/payments"),
        json=body(world, amount="10", paid_at="2024-07-01T09:00:00"),
        headers=cashier,
    )
    client.post(
        url(world, "/payments"),
        json=body(
            world,
            household_id=str(world.households[1].id),
            method="pos_card",
            reference="POS-9",
            amount="20",
            paid_at="2024-07-03T09:00:00",
        ),
        headers=cashier,
    )
    headers = auth(world.owner)
    listed = client.get(url(world, "/payments"), headers=headers)
    assert listed.status_code == 200 and listed.json["total"] == 2
    assert listed.json["items"][0]["method"] == "pos_card"
    assert "allocations" not in listed.json["items"][0]
    queries = {
        f"household_id={world.households[0].id}": 1,
        f"estate_id={world.estate.id}": 2,
        "method=pos_card": 1,
        "method=online": 0,
        "from=2024-07-02": 1,
        "to=2024-07-02": 1,
        "from=2024-07-01&to=2024-07-03": 2,
        f"cashier_id={world.cashier.user_id}": 2,
        f"cashier_id={world.owner.user_id}": 0,
        "per_page=1&page=2": 2,
    }
    for query, total in queries.items():
        response = client.get(url(world, f"/payments?{query}"), headers=headers)
        assert response.status_code == 200, query
        assert response.json["total"] == total, query


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("method=cheque", "method"),
        ("from=2024-13-01", "from"),
        ("to=yesterday", "to"),
        ("from=2024-07-03&to=2024-07-01", "to"),
        ("cashier_id=1", "cashier_id"),
        ("estate_id=x", "estate_id"),
        ("household_id=x", "household_id"),
        ("page=0", "page"),
    ],
)
def test_bad_list_filters_are_422(client, world, query, field):
    response = client.get(url(world, f"/payments?{query}"), headers=auth(world.owner))
    assert response.status_code == 422
    assert field in response.json["error"]["fields"]


def test_permissions(client, world):
    viewer = member(Role.VIEWER, tenant=world.owner.tenant)
    finance = member(Role.FINANCE, tenant=world.owner.tenant)
    for who in (viewer, finance):
        response = client.post(url(world, "/payments"), json=body(world), headers=auth(who))
        assert response.status_code == 403
    assert client.get(url(world, "/payments"), headers=auth(viewer)).status_code == 403
    assert client.get(url(world, "/payments"), headers=auth(finance)).status_code == 200
    assert client.post(url(world, "/payments"), json=body(world)).status_code == 401
    assert payment_count(world) == 0


def test_another_tenants_payment_and_household_are_404(client, world):
    created = client.post(url(world, "/payments"), json=body(world), headers=auth(world.cashier))
    payment_id = created.json["id"]
    other = World("PAPI3")
    headers = auth(other.owner)
    assert client.get(url(other, f"/payments/{payment_id}"), headers=headers).status_code == 404
    assert client.get(url(other, f"/payments/{uuid.uuid4()}"), headers=headers).status_code == 404
    # the other tenant's owner posting this tenant's household into their own tenant
    response = client.post(url(other, "/payments"), json=body(world), headers=headers)
    assert response.status_code == 404
    # or into this tenant, where they are no member
    response = client.post(url(world, "/payments"), json=body(world), headers=headers)
    assert response.status_code == 404
    listed = client.get(
        url(other, f"/payments?household_id={world.households[0].id}"), headers=headers
    )
    assert listed.status_code == 404
    assert payment_count(world) == 1 and payment_count(other) == 0


def test_out_of_scope_estates_are_404_for_a_scoped_cashier(client, world):
    elsewhere = estate_with_households(world.tenant_id, "FAR", buildings=1, rooms=1)
    with tenant_context(world.tenant_id):
        from ruihe_saas.estates.services import list_households

        far = list_households(elsewhere, 1, 1).items[0]
    owner_made = client.post(
        url(world, "/payments"),
        json=body(world, household_id=str(far.id)),
        headers=auth(world.owner),
    )
    assert owner_made.status_code == 201
    headers = auth(world.cashier)
    shown = client.get(url(world, f"/payments/{owner_made.json['id']}"), headers=headers)
    assert shown.status_code == 404
    response = client.post(
        url(world, "/payments"), json=body(world, household_id=str(far.id)), headers=headers
    )
    assert response.status_code == 404
    listed = client.get(url(world, f"/payments?estate_id={elsewhere.id}"), headers=headers)
    assert listed.status_code == 404
    assert client.get(url(world, "/payments"), headers=headers).json["total"] == 0
    assert payment_count(world) == 1
