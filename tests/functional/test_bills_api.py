"""Bills API: list with filters, a bill with lines and credits, voids (红冲), statements;
permissions, tenant isolation and estate scope."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.auth.services import issue_token
from ruihe_saas.billing.models import BillCredit
from ruihe_saas.extensions import db as database
from ruihe_saas.tenancy import tenant_context
from tests.conftest import bearer
from tests.estate_factories import scope_member
from tests.factories import member
from tests.unit.billing.test_bills import World, lines, pay


def auth(membership) -> dict:
    return bearer(issue_token(membership.user, days=1))


def url(world: World, path: str) -> str:
    return f"/api/v1/t/{world.owner.tenant.slug}{path}"


def credit_count(world: World) -> int:
    with tenant_context(world.tenant_id):
        return database.session.scalar(select(func.count()).select_from(BillCredit))


@pytest.fixture
def world(db):
    world = World("API")
    world.july = world.bill("2024-07")
    world.august = world.bill("2024-08")
    world.other = world.bill("2024-07", household=2)  # the second building
    return world


def test_bills_are_listed_with_filters(client, world):
    headers = auth(world.owner)
    listed = client.get(url(world, "/bills"), headers=headers)
    assert listed.status_code == 200 and listed.json["total"] == 3
    first = listed.json["items"][0]
    assert first["period"] == "2024-08" and first["amount"] == "100.00"
    assert first["household_label"] == world.households[0].label
    assert (first["outstanding"], first["status"]) == ("100.00", "open")
    queries = {
        f"estate_id={world.estate.id}": 3,
        f"building_id={world.buildings[1].id}": 1,
        f"household_id={world.households[0].id}": 2,
        "period=2024-07": 2,
        "status=open": 3,
        "status=void": 0,
        f"estate_id={world.estate.id}&period=2024-08&status=open": 1,
        "per_page=1&page=3": 3,
    }
    for query, total in queries.items():
        response = client.get(url(world, f"/bills?{query}"), headers=headers)
        assert response.status_code == 200, query
        assert response.json["total"] == total, query
    assert len(client.get(url(world, "/bills?per_page=2"), headers=headers).json["items"]) == 2


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("period=2024-13", "period"),
        ("period=2024-7", "period"),
        ("period=1999-12", "period"),
        ("status=overdue", "status"),
        ("estate_id=not-a-uuid", "estate_id"),
        ("building_id=1", "building_id"),
        ("page=0", "page"),
    ],
)
def test_bad_filters_are_422(client, world, query, field):
    response = client.get(url(world, f"/bills?{query}"), headers=auth(world.owner))
    assert response.status_code == 422
    assert field in response.json["error"]["fields"]


def test_a_bill_with_its_lines_credits_and_late_fee(client, world):
    headers = auth(world.owner)
    garbage = lines(world.july)["garbage"]
    voided = client.post(
        url(world, f"/bill-lines/{garbage.id}/void"), json={"reason": "重复收费"}, headers=headers
    )
    assert voided.status_code == 200
    bill = client.get(url(world, f"/bills/{world.july.id}"), headers=headers).json
    assert bill == voided.json
    assert {key: bill[key] for key in ("number", "period", "status", "amount")} == {
        "number": world.july.number,
        "period": "2024-07",
        "status": "open",
        "amount": "100.00",
    }
    assert (bill["credited"], bill["paid"], bill["outstanding"]) == ("40.00", "0.00", "60.00")
    assert (bill["due_date"], bill["issued_on"]) == ("2024-07-31", "2024-07-01")
    assert bill["late_fee"] == "0.00"  # late fees are off in this schedule
    assert bill["household_id"] == str(world.households[0].id)
    assert bill["estate_id"] == str(world.estate.id)
    assert bill["building_id"] == str(world.buildings[0].id)
    by_code = {line["fee_item_code"]: line for line in bill["lines"]}
    line = by_code["garbage"]
    assert (line["amount"], line["credited"], line["outstanding"]) == ("40.00", "40.00", "0.00")
    assert (line["quantity"], line["rate"], line["days"], line["period_days"]) == (
        "1",
        "40",
        31,
        31,
    )
    assert line["charge_kind"] == "fixed" and line["revenue_category"] == "property_service"
    [credit] = bill["credits"]
    assert (credit["amount"], credit["reason"], credit["bill_line_id"]) == (
        "40.00",
        "重复收费",
        str(garbage.id),
    )
    assert credit["created_by"] == str(world.owner.user_id)


def test_voiding_a_bill_and_the_conflicts(client, world):
    finance = member(Role.FINANCE, tenant=world.owner.tenant)
    headers = auth(finance)
    service = lines(world.august)["property_service"]
    pay(world.households[0], "60.00", [(service, "60.00")])
    paid_line = client.post(
        url(world, f"/bill-lines/{service.id}/void"), json={"reason": "退"}, headers=headers
    )
    assert paid_line.status_code == 409 and paid_line.json["error"]["code"] == "paid"
    voided = client.post(
        url(world, f"/bills/{world.august.id}/void"), json={"reason": "户主已搬离"}, headers=headers
    )
    assert voided.status_code == 200
    assert (voided.json["status"], voided.json["credited"], voided.json["paid"]) == (
        "paid",
        "40.00",
        "60.00",
    )
    again = client.post(
        url(world, f"/bills/{world.august.id}/void"), json={"reason": "再次"}, headers=headers
    )
    assert again.status_code == 409
    whole = client.post(
        url(world, f"/bills/{world.july.id}/void"), json={"reason": "错账"}, headers=headers
    )
    assert whole.json["status"] == "void" and whole.json["outstanding"] == "0.00"
    assert credit_count(world) == 3


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": "长" * 201}])
def test_a_void_needs_a_reason(client, world, body):
    headers = auth(world.owner)
    line = lines(world.july)["garbage"]
    for path in (f"/bills/{world.july.id}/void", f"/bill-lines/{line.id}/void"):
        response = client.post(url(world, path), json=body, headers=headers)
        assert response.status_code == 422, path
        assert "reason" in response.json["error"]["fields"]
    assert credit_count(world) == 0


@pytest.mark.parametrize("role", [Role.ESTATE_ADMIN, Role.CASHIER, Role.VIEWER])
def test_roles_without_void_bills_get_403(client, world, role):
    someone = member(role, tenant=world.owner.tenant)
    headers = auth(someone)
    line = lines(world.july)["garbage"]
    for path in (f"/bills/{world.july.id}/void", f"/bill-lines/{line.id}/void"):
        response = client.post(url(world, path), json={"reason": "x"}, headers=headers)
        assert response.status_code == 403, path
    assert client.get(url(world, f"/bills/{world.july.id}"), headers=headers).status_code in (
        200,
        404,  # an estate admin / cashier without estates in scope
    )
    assert credit_count(world) == 0


def _every_url(world: World) -> list[tuple[str, str]]:
    line = lines(world.july)["garbage"]
    household = world.households[0].id
    return [
        ("get", f"/bills/{world.july.id}"),
        ("post", f"/bills/{world.july.id}/void"),
        ("post", f"/bill-lines/{line.id}/void"),
        ("get", f"/households/{household}/statement"),
        ("get", f"/bills?estate_id={world.estate.id}"),
        ("get", f"/bills?building_id={world.buildings[0].id}"),
        ("get", f"/bills?household_id={household}"),
    ]


def test_another_tenant_gets_404_everywhere(client, world):
    stranger = World("STRANGER")
    headers = auth(stranger.owner)
    for method, path in _every_url(world):
        # through the stranger's own tenant: the objects are not there
        response = getattr(client, method)(
            url(stranger, path), json={"reason": "x"} if method == "post" else None, headers=headers
        )
        assert response.status_code == 404, path
        # through the victim's tenant: not a member
        response = getattr(client, method)(
            url(world, path), json={"reason": "x"} if method == "post" else None, headers=headers
        )
        assert response.status_code == 404, path
    listed = client.get(url(stranger, "/bills"), headers=headers).json
    assert listed["total"] == 0
    assert credit_count(world) == 0


def test_an_estate_scoped_member_sees_only_their_estates(client, world):
    mine = World("MINE", owner=member(Role.OWNER, tenant=world.owner.tenant))
    mine.bill("2024-07")
    admin = member(Role.ESTATE_ADMIN, tenant=world.owner.tenant)
    scope_member(admin, mine.estate)
    headers = auth(admin)
    for method, path in _every_url(world):
        if method == "get":
            assert client.get(url(world, path), headers=headers).status_code == 404, path
    listed = client.get(url(world, "/bills"), headers=headers).json
    assert listed["total"] == 1 and listed["items"][0]["estate_id"] == str(mine.estate.id)
    statement = client.get(
        url(world, f"/households/{mine.households[0].id}/statement"), headers=headers
    )
    assert statement.status_code == 200


def test_the_statement(client, world):
    headers = auth(world.owner)
    household = world.households[0]
    pay(
        household,
        "150.00",
        [(lines(world.july)["property_service"], "60.00"), (lines(world.july)["garbage"], "40.00")],
        paid_at=datetime(2024, 7, 20, 2, tzinfo=UTC),
        ref="T-1",
    )
    path = f"/households/{household.id}/statement"
    body = client.get(url(world, path), headers=headers).json
    assert [(e["date"], e["kind"], e["amount"], e["balance"]) for e in body["entries"]] == [
        ("2024-07-01", "bill", "100.00", "100.00"),
        ("2024-07-20", "payment", "-150.00", "-50.00"),
        ("2024-08-01", "bill", "100.00", "50.00"),
    ]
    assert body["entries"][1]["method"] == "cash" and body["entries"][1]["reference"] == "T-1"
    assert body["totals"] == {
        "billed": "200.00",
        "credited": "0.00",
        "paid": "150.00",
        "outstanding": "100.00",
        "prepaid_credit": "50.00",
        "refunded": "0.00",
    }
    assert (body["from"], body["to"], body["closing_balance"]) == (None, None, "50.00")
    window = client.get(url(world, f"{path}?from=2024-07-15&to=2024-07-31"), headers=headers)
    assert window.json["opening_balance"] == "100.00"
    assert [e["kind"] for e in window.json["entries"]] == ["payment"]
    assert window.json["from"] == "2024-07-15"
    for query in ("from=2024-08-01&to=2024-07-01", "from=2024-13-01", "to=yesterday"):
        bad = client.get(url(world, f"{path}?{query}"), headers=headers)
        assert bad.status_code == 422, query
    missing = client.get(url(world, f"/households/{world.july.id}/statement"), headers=headers)
    assert missing.status_code == 404
