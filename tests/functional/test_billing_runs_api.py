"""Billing runs API: start (202), follow, list; 422, 409, 403, cross-tenant / cross-estate 404.

Without Redis the job runs in-process right after the request commits, so a run is finished
when the next request reads it."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.auth.services import issue_token
from ruihe_saas.billing.models import Bill, BillingRun, RunStatus
from ruihe_saas.extensions import db as database
from ruihe_saas.tenancy import tenant_context
from tests.billing_factories import set_stages, simple_schedule
from tests.conftest import bearer
from tests.estate_factories import estate_with_households, scope_member
from tests.factories import member


def auth(membership) -> dict:
    return bearer(issue_token(membership.user, days=1))


def api(membership, path: str) -> str:
    return f"/api/v1/t/{membership.tenant.slug}{path}"


def billable_estate(tenant_id, code: str = "RUN"):
    estate = estate_with_households(tenant_id, code, buildings=2, rooms=3)
    set_stages(estate, (date(2024, 1, 1), "full_takeover"))
    simple_schedule(estate)
    return estate


def count(tenant_id, model) -> int:
    with tenant_context(tenant_id):
        return database.session.scalar(select(func.count()).select_from(model))


@pytest.fixture(autouse=True)
def inline_jobs(app, monkeypatch):
    """Run the billing job in-process right after the request commits (even with Redis)."""
    monkeypatch.setitem(app.config, "RUIHE_JOBS_INLINE", True)


@pytest.fixture
def owner(db):
    return member(Role.OWNER)


@pytest.fixture
def estate(owner):
    return billable_estate(owner.tenant_id)


def test_a_dry_run_previews_and_stores_no_bills(client, owner, estate):
    headers = auth(owner)
    started = client.post(
        api(owner, f"/estates/{estate.id}/billing-runs"),
        json={"period": "2024-07", "dry_run": True},
        headers=headers,
    )
    assert started.status_code == 202, started.json
    body = started.json
    assert body["status"] == "queued" and body["job_id"] and body["dry_run"] is True
    assert body["progress"] == {"done": 0, "total": 0}
    run = client.get(api(owner, f"/billing-runs/{body['id']}"), headers=headers).json
    assert run["status"] == "succeeded"
    assert run["progress"] == {"done": 6, "total": 6}
    assert run["totals"]["garbage"] == {"name": "垃圾清运费", "amount": "60.00", "lines": 6}
    assert run["bills_created"] == 6 and run["total_amount"] != "0.00"
    assert [b["bills"] for b in run["preview"]["by_building"]] == [3, 3]
    first = run["preview"]["bills"][0]
    assert first["household"] and {line["fee_item_code"] for line in first["lines"]} == {
        "garbage",
        "property_service",
    }
    assert count(owner.tenant_id, Bill) == 0


def test_a_run_issues_the_bills_and_a_rerun_adds_nothing(client, owner, estate):
    headers = auth(owner)
    path = api(owner, f"/estates/{estate.id}/billing-runs")
    first = client.post(path, json={"period": "2024-07"}, headers=headers)
    assert first.status_code == 202 and first.json["dry_run"] is False
    done = client.get(api(owner, f"/billing-runs/{first.json['id']}"), headers=headers).json
    assert (done["status"], done["bills_created"], done["lines_created"]) == ("succeeded", 6, 12)
    assert done["preview"] is None
    bills = client.get(
        api(owner, f"/bills?estate_id={estate.id}&period=2024-07"), headers=headers
    ).json
    assert bills["total"] == 6
    rerun = client.post(path, json={"period": "2024-07", "dry_run": False}, headers=headers)
    again = client.get(api(owner, f"/billing-runs/{rerun.json['id']}"), headers=headers).json
    assert (again["status"], again["bills_created"]) == ("succeeded", 0)
    assert count(owner.tenant_id, Bill) == 6
    listed = client.get(path, headers=headers).json
    assert listed["total"] == 2 and listed["items"][0]["id"] == rerun.json["id"]
    paged = client.get(f"{path}?per_page=1&page=2", headers=headers).json
    assert [r["id"] for r in paged["items"]] == [first.json["id"]]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"period": "2024-13"}, "period"),
        ({"period": "2024/07"}, "period"),
        ({"period": "1999-12"}, "period"),
        ({}, "period"),
        ({"period": "2024-07", "dry_run": "maybe"}, "dry_run"),
    ],
)
def test_bad_runs_are_422_and_store_nothing(client, owner, estate, body, field):
    response = client.post(
        api(owner, f"/estates/{estate.id}/billing-runs"), json=body, headers=auth(owner)
    )
    assert response.status_code == 422
    assert field in response.json["error"]["fields"]
    assert count(owner.tenant_id, BillingRun) == 0


def test_a_second_unfinished_run_is_409(client, owner, estate):
    with tenant_context(owner.tenant_id):
        database.session.add(
            BillingRun(estate_id=estate.id, period="2024-07", status=RunStatus.RUNNING)
        )
        database.session.flush()
    response = client.post(
        api(owner, f"/estates/{estate.id}/billing-runs"),
        json={"period": "2024-07"},
        headers=auth(owner),
    )
    assert response.status_code == 409
    assert count(owner.tenant_id, BillingRun) == 1
    other_period = client.post(
        api(owner, f"/estates/{estate.id}/billing-runs"),
        json={"period": "2024-08", "dry_run": True},
        headers=auth(owner),
    )
    assert other_period.status_code == 202


@pytest.mark.parametrize("role", [Role.FINANCE, Role.CASHIER, Role.VIEWER])
def test_roles_without_run_billing_get_403(client, owner, estate, role):
    someone = member(role, tenant=owner.tenant)
    if role == Role.CASHIER:
        scope_member(someone, estate)
    headers = auth(someone)
    response = client.post(
        api(owner, f"/estates/{estate.id}/billing-runs"),
        json={"period": "2024-07"},
        headers=headers,
    )
    assert response.status_code == 403
    assert count(owner.tenant_id, BillingRun) == 0
    listed = client.get(api(owner, f"/estates/{estate.id}/billing-runs"), headers=headers)
    assert listed.status_code == 200  # reading is VIEW_BILLING


def test_an_estate_admin_runs_their_estate_only(client, owner, estate):
    other = billable_estate(owner.tenant_id, "OTHER")
    admin = member(Role.ESTATE_ADMIN, tenant=owner.tenant)
    scope_member(admin, estate)
    headers = auth(admin)
    ok = client.post(
        api(owner, f"/estates/{estate.id}/billing-runs"),
        json={"period": "2024-07"},
        headers=headers,
    )
    assert ok.status_code == 202
    foreign_run = client.post(
        api(owner, f"/estates/{other.id}/billing-runs"),
        json={"period": "2024-07", "dry_run": True},
        headers=auth(owner),
    ).json["id"]
    for method, path in (
        ("post", f"/estates/{other.id}/billing-runs"),
        ("get", f"/estates/{other.id}/billing-runs"),
        ("get", f"/billing-runs/{foreign_run}"),
    ):
        response = getattr(client, method)(
            api(owner, path),
            json={"period": "2024-07"} if method == "post" else None,
            headers=headers,
        )
        assert response.status_code == 404, path
    assert (
        client.get(api(owner, f"/billing-runs/{ok.json['id']}"), headers=headers).status_code == 200
    )


def test_another_tenant_gets_404_everywhere(client, owner, estate):
    run = client.post(
        api(owner, f"/estates/{estate.id}/billing-runs"),
        json={"period": "2024-07", "dry_run": True},
        headers=auth(owner),
    ).json["id"]
    stranger = member(Role.OWNER)
    headers = auth(stranger)
    for method, path in (
        ("post", f"/estates/{estate.id}/billing-runs"),
        ("get", f"/estates/{estate.id}/billing-runs"),
        ("get", f"/billing-runs/{run}"),
    ):
        body = {"period": "2024-08"} if method == "post" else None
        for membership in (owner, stranger):  # their tenant's URL and the victim's
            response = getattr(client, method)(api(membership, path), json=body, headers=headers)
            assert response.status_code == 404, (membership.tenant.slug, path)
    assert count(owner.tenant_id, BillingRun) == 1
