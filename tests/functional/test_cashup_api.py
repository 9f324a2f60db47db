"""Cash-up API: a day's summary, closing it, closed days; roles, bad dates, tenant
isolation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.auth.services import issue_token
from ruihe_saas.cashup.services import local_today
from ruihe_saas.extensions import db as database
from ruihe_saas.payments.models import CashUpDay, RefundMethod
from ruihe_saas.tenancy import tenant_context
from tests.conftest import bearer
from tests.factories import member
from tests.unit.cashup.builders import DAY, make_desk


def auth(membership) -> dict:
    return bearer(issue_token(membership.user, days=1))


@pytest.fixture
def desk(db):
    desk = make_desk()
    cash = desk.pay("100.00", "cash", reference="")
    desk.pay("35.50", "wechat_qr", household=1, reference="WX-1")
    desk.pay("12.00", "cash", cashier=desk.other_cashier)
    desk.refund(cash, "10.00", method=RefundMethod.CASH)
    return desk


def url(desk, path: str = "/cash-up") -> str:
    return f"/api/v1/t/{desk.owner.tenant.slug}{path}"


def closed_count(desk) -> int:
    with tenant_context(desk.tenant_id):
        return database.session.scalar(select(func.count()).select_from(CashUpDay))


def test_cashier_sees_their_day(client, desk):
    response = client.get(url(desk, f"/cash-up?date={DAY}"), headers=auth(desk.cashier))
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["cashier_id"], body["cashier_name"], body["date"]) == (
        str(desk.cashier.user_id),
        "收款员甲",
        DAY.isoformat(),
    )
    methods = {m["method"]: m for m in body["methods"]}
    assert (methods["cash"]["count"], methods["cash"]["received"]) == (1, "100.00")
    assert (methods["cash"]["refunded"], methods["cash"]["net"]) == ("10.00", "90.00")
    assert methods["wechat_qr"]["net"] == "35.50" and methods["pos_card"]["count"] == 0
    assert (body["total"]["received"], body["total"]["net"]) == ("135.50", "125.50")
    assert [p["amount"] for p in body["payments"]] == ["100.00", "35.50"]
    assert body["payments"][1]["reference"] == "WX-1"
    assert body["payments"][1]["household_label"] == "1栋1单元201"
    assert [r["amount"] for r in body["refunds"]] == ["10.00"]
    assert body["closed"] is False and body["closed_at"] is None
    assert body["receipt_first"] < body["receipt_last"]


def test_default_is_the_caller_today(client, desk):
    body = client.get(url(desk), headers=auth(desk.cashier)).json
    assert (body["cashier_id"], body["date"]) == (
        str(desk.cashier.user_id),
        local_today().isoformat(),
    )
    assert body["total"]["count"] == 0 and body["payments"] == []


def test_cashier_cannot_see_another_cashiers_day_finance_can(client, desk):
    other = f"/cash-up?date={DAY}&cashier_id={desk.other_cashier.user_id}"
    assert client.get(url(desk, other), headers=auth(desk.cashier)).status_code == 403
    for who in (desk.finance, desk.owner):
        response = client.get(url(desk, other), headers=auth(who))
        assert response.status_code == 200
        assert response.json["total"]["received"] == "12.00"


def test_roles_without_permission_are_refused(client, desk):
    viewer = member(Role.VIEWER, tenant=desk.owner.tenant)
    admin = member(Role.ESTATE_ADMIN, tenant=desk.owner.tenant)
    assert client.get(url(desk), headers=auth(viewer)).status_code == 403
    assert client.get(url(desk, "/cash-up/days"), headers=auth(viewer)).status_code == 403
    close = {"date": DAY.isoformat()}
    for who in (viewer, admin):
        response = client.post(url(desk, "/cash-up/close"), json=close, headers=auth(who))
        assert response.status_code == 403
    assert client.get(url(desk), headers=auth(admin)).status_code == 200  # their own day
    assert closed_count(desk) == 0


@pytest.mark.parametrize(
    "query",
    ["date=2024-02-30", "date=yesterday", "date=1999-12-31", "date=2024-6-1x", "cashier_id=x"],
)
def test_bad_query_is_422_with_field_messages(client, desk, query):
    response = client.get(url(desk, f"/cash-up?{query}"), headers=auth(desk.finance))
    assert response.status_code == 422
    field = query.split("=")[0]
    assert field in response.json["error"]["fields"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "date"),
        ({"date": "2024-13-01"}, "date"),
        ({"date": None}, "date"),
        ({"date": 20240610}, "date"),
        ({"date": "2024-06-10", "cashier_id": "nope"}, "cashier_id"),
        ({"date": "2024-06-10", "note": "x" * 201}, "note"),
    ],
)
def test_close_bad_body_is_422(client, desk, body, field):
    response = client.post(url(desk, "/cash-up/close"), json=body, headers=auth(desk.cashier))
    assert response.status_code == 422
    assert field in response.json["error"]["fields"]
    assert closed_count(desk) == 0


def test_close_freezes_then_refuses_a_second_close(client, desk):
    body = {"date": DAY.isoformat(), "note": "现金已交财务"}
    response = client.post(url(desk, "/cash-up/close"), json=body, headers=auth(desk.cashier))
    assert response.status_code == 201, response.json
    closed = response.json
    assert (closed["cashier_id"], closed["date"], closed["note"]) == (
        str(desk.cashier.user_id),
        DAY.isoformat(),
        "现金已交财务",
    )
    assert (closed["payment_count"], closed["received"], closed["refunded"], closed["net"]) == (
        2,
        "135.50",
        "10.00",
        "125.50",
    )
    assert closed["totals"]["cash"]["net"] == "90.00"
    assert closed["closed_by"] == str(desk.cashier.user_id)
    again = client.post(url(desk, "/cash-up/close"), json=body, headers=auth(desk.cashier))
    assert again.status_code == 409 and again.json["error"]["code"] == "already_closed"
    summary = client.get(url(desk, f"/cash-up?date={DAY}"), headers=auth(desk.cashier)).json
    assert summary["closed"] is True and summary["closed_by_name"] == "收款员甲"
    assert summary["differences"] == [] and summary["note"] == "现金已交财务"
    assert closed_count(desk) == 1


def test_close_a_future_day_is_422(client, desk):
    tomorrow = (local_today() + timedelta(days=1)).isoformat()
    response = client.post(
        url(desk, "/cash-up/close"), json={"date": tomorrow}, headers=auth(desk.cashier)
    )
    assert response.status_code == 422 and "date" in response.json["error"]["fields"]
    assert closed_count(desk) == 0


def test_only_finance_closes_another_cashiers_day(client, desk):
    body = {"date": DAY.isoformat(), "cashier_id": str(desk.other_cashier.user_id)}
    refused = client.post(url(desk, "/cash-up/close"), json=body, headers=auth(desk.cashier))
    assert refused.status_code == 403 and closed_count(desk) == 0
    response = client.post(url(desk, "/cash-up/close"), json=body, headers=auth(desk.finance))
    assert response.status_code == 201
    assert (response.json["cashier_name"], response.json["closed_by_name"]) == (
        "收款员乙",
        "财务丙",
    )


def test_closed_days_list(client, desk):
    yesterday = DAY - timedelta(days=1)
    for who, cashier, day in (
        (desk.cashier, desk.cashier, DAY),
        (desk.cashier, desk.cashier, yesterday),
        (desk.finance, desk.other_cashier, DAY),
    ):
        response = client.post(
            url(desk, "/cash-up/close"),
            json={"date": day.isoformat(), "cashier_id": str(cashier.user_id)},
            headers=auth(who),
        )
        assert response.status_code == 201
    query = f"/cash-up/days?from={yesterday}&to={DAY}"
    mine = client.get(url(desk, query), headers=auth(desk.cashier)).json
    assert [(d["date"], d["cashier_name"]) for d in mine["items"]] == [
        (DAY.isoformat(), "收款员甲"),
        (yesterday.isoformat(), "收款员甲"),
    ]
    assert (mine["from"], mine["to"]) == (yesterday.isoformat(), DAY.isoformat())
    everyone = client.get(url(desk, query), headers=auth(desk.finance)).json
    assert len(everyone["items"]) == 3
    one = client.get(
        url(desk, f"{query}&cashier_id={desk.other_cashier.user_id}"), headers=auth(desk.finance)
    ).json
    assert [d["cashier_name"] for d in one["items"]] == ["收款员乙"]
    other = f"{query}&cashier_id={desk.other_cashier.user_id}"
    assert client.get(url(desk, other), headers=auth(desk.cashier)).status_code == 403
    default = client.get(url(desk, "/cash-up/days"), headers=auth(desk.cashier))
    assert default.status_code == 200  # the last 31 days: DAY is long ago
    for bad in ("from=2024-02-30", f"from={DAY}&to={yesterday}", "from=2020-01-01&to=2024-01-01"):
        response = client.get(url(desk, f"/cash-up/days?{bad}"), headers=auth(desk.finance))
        assert response.status_code == 422 and response.json["error"]["fields"]


def test_other_tenants_see_nothing_of_ours(client, desk):
    stranger = member(Role.CASHIER)
    stranger_finance = member(Role.FINANCE, tenant=stranger.tenant)
    # our slug: not a member → 404, whatever the path
    for path in (f"/cash-up?date={DAY}", "/cash-up/days"):
        assert client.get(url(desk, path), headers=auth(stranger)).status_code == 404
    response = client.post(
        url(desk, "/cash-up/close"), json={"date": DAY.isoformat()}, headers=auth(stranger)
    )
    assert response.status_code == 404
    # their own slug, naming our cashier → 404 (not a member of their tenant)
    theirs = f"/api/v1/t/{stranger.tenant.slug}"
    ours = desk.cashier.user_id
    response = client.get(
        f"{theirs}/cash-up?date={DAY}&cashier_id={ours}", headers=auth(stranger_finance)
    )
    assert response.status_code == 404
    response = client.post(
        f"{theirs}/cash-up/close",
        json={"date": DAY.isoformat(), "cashier_id": str(ours)},
        headers=auth(stranger_finance),
    )
    assert response.status_code == 404
    # their own day shows none of our money
    own = client.get(f"{theirs}/cash-up?date={DAY}", headers=auth(stranger)).json
    assert own["payments"] == [] and own["total"]["received"] == "0.00"
    assert closed_count(desk) == 0
