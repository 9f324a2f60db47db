"""Fees API: schedules and versions, copies, adjustments, shared meters, readings and their
import, occupancy changes, the prepayment quote; permissions, tenant and estate scope."""

from __future__ import annotations

import io
from datetime import date

import pytest

from ruihe_saas.auth.models import Role
from ruihe_saas.auth.services import issue_token
from ruihe_saas.estates.models import HandoverStage
from ruihe_saas.estates.services import ensure_default_categories
from ruihe_saas.extensions import db
from ruihe_saas.fees import services
from ruihe_saas.fees.models import FeeItem, FeeSchedule, MeterReading
from ruihe_saas.tenancy import tenant_context
from tests.billing_factories import bill_for
from tests.conftest import bearer
from tests.estate_factories import estate_with_households, scope_member
from tests.factories import member
from tests.unit.fees.builders import count, households_of, item, schedule_data


@pytest.fixture
def site(db):
    owner = member(Role.OWNER)
    estate = estate_with_households(owner.tenant_id, "MOER", buildings=2, rooms=2)
    other = estate_with_households(owner.tenant_id, "DZYD", buildings=1, rooms=1)
    with tenant_context(owner.tenant_id):
        ensure_default_categories()
        estate.stage = HandoverStage.FULL_TAKEOVER
        schedule = services.create_schedule(estate, schedule_data())
        meter = services.create_shared_meter(
            estate, {"name": "总电表", "meter_kind": "electricity"}
        )
        adjustment = services.create_adjustment(
            estate,
            {"category": "low_income", "kind": "percent", "value": "50", "reason": "低保",
             "valid_from": date(2024, 1, 1)},
        )  # fmt: skip
    return owner, estate, other, schedule, meter, adjustment


def auth(membership) -> dict:
    return bearer(issue_token(membership.user, days=1))


def base(membership) -> str:
    return f"/api/v1/t/{membership.tenant.slug}"


SCHEDULE = {
    "name": "2024年收费标准",
    "stages": "full_takeover",
    "effective_from": "2024-01-01",
    "prepay_months": 12,
    "prepay_free_months": 1,
    "items": [
        {"code": "property_service", "name": "物业服务费", "charge_kind": "per_area",
         "rate": "0.60"},
        {"code": "ebike", "name": "充电费", "charge_kind": "metered", "rate": 0.8,
         "meter_kind": "ebike_charging", "unit": "度", "revenue_category": "public_revenue"},
    ],
}  # fmt: skip


def test_create_list_and_get_a_schedule(client, site):
    owner, estate, *_ = site
    headers = auth(owner)
    created = client.post(
        f"{base(owner)}/estates/{estate.id}/fee-schedules", json=SCHEDULE, headers=headers
    )
    assert created.status_code == 201, created.json
    body = created.json
    assert (body["version"], body["lineage_id"], body["status"]) == (1, body["id"], "current")
    assert [i["rate"] for i in body["items"]] == ["0.6000", "0.8000"]
    assert body["items"][1]["revenue_category"] == "public_revenue"
    assert body["late_fee_enabled"] is False and body["prepay_free_months"] == 1
    listed = client.get(f"{base(owner)}/estates/{estate.id}/fee-schedules", headers=headers)
    assert listed.status_code == 200 and listed.json["total"] == 2
    assert listed.json["items"][0]["id"] == body["id"]  # the newest lineage first
    got = client.get(f"{base(owner)}/fee-schedules/{body['id']}", headers=headers)
    assert got.status_code == 200 and got.json["items"][0]["code"] == "property_service"
    in_force = client.get(
        f"{base(owner)}/estates/{estate.id}/fee-schedules?in_force_on=2023-06-01", headers=headers
    )
    assert in_force.json["total"] == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"charge_kind": "bogus"}, "items.0.charge_kind"),
        ({"rate": "-1"}, "items.0.rate"),
        ({"rate": "abc"}, "items.0.rate"),
        ({"charge_kind": "one_off", "charge_period": "2024/07"}, "items.0.charge_period"),
        ({"charge_kind": "one_off", "charge_period": "2024-07"}, "items.0.household_ids"),
        ({"charge_kind": "metered"}, "items.0.meter_kind"),
        ({"code": "物业"}, "items.0.code"),
        ({"unexpected": 1}, "items.0.unexpected"),
    ],
)
def test_bad_items_are_422_and_store_nothing(client, site, changes, field):
    owner, estate, *_ = site
    body = {**SCHEDULE, "items": [{**SCHEDULE["items"][0], **changes}]}
    response = client.post(
        f"{base(owner)}/estates/{estate.id}/fee-schedules", json=body, headers=auth(owner)
    )
    assert response.status_code == 422, response.json
    assert field in response.json["error"]["fields"], response.json
    with tenant_context(owner.tenant_id):
        assert (count(FeeSchedule), count(FeeItem)) == (1, 1)


def test_bad_schedule_fields_are_422(client, site):
    owner, estate, *_ = site
    url = f"{base(owner)}/estates/{estate.id}/fee-schedules"
    for changes, field in [
        ({"effective_from": "2024-02-30"}, "effective_from"),
        ({"effective_to": "2023-01-01"}, "effective_to"),
        ({"late_fee_daily_rate": "0.5"}, "late_fee_daily_rate"),
        ({"items": []}, "items"),
        ({"stages": "sometimes"}, "stages"),
    ]:
        response = client.post(url, json={**SCHEDULE, **changes}, headers=auth(owner))
        assert response.status_code == 422 and field in response.json["error"]["fields"]


def test_revisions_and_their_conflicts(client, site):
    owner, estate, _other, schedule, *_ = site
    headers = auth(owner)
    url = f"{base(owner)}/fee-schedules/{schedule.id}/revisions"
    revised = client.post(url, json={"effective_from": "2024-07-01"}, headers=headers)
    assert revised.status_code == 201, revised.json
    assert (revised.json["version"], revised.json["lineage_id"]) == (2, str(schedule.id))
    old = client.get(f"{base(owner)}/fee-schedules/{schedule.id}", headers=headers).json
    assert old["effective_to"] == "2024-06-30" and old["is_latest"] is False
    again = client.post(url, json={"effective_from": "2024-09-01"}, headers=headers)
    assert again.status_code == 409
    newest = f"{base(owner)}/fee-schedules/{revised.json['id']}/revisions"
    assert client.post(newest, json={}, headers=headers).status_code == 422
    bad = client.post(
        newest, json={"effective_from": "2024-09-01", "items": [{"rate": "1"}]}, headers=headers
    )
    assert bad.status_code == 422 and "items.0.code" in bad.json["error"]["fields"]


def test_a_revision_in_a_billed_period_is_409(client, site):
    owner, estate, _other, schedule, *_ = site
    bill_for(households_of(estate)[0], "2024-06", {"property_service": "48.90"}, schedule)
    response = client.post(
        f"{base(owner)}/fee-schedules/{schedule.id}/revisions",
        json={"effective_from": "2024-06-15"},
        headers=auth(owner),
    )
    assert response.status_code == 409 and "effective_from" in response.json["error"]["fields"]


def test_copy_to_another_estate(client, site):
    owner, estate, other, schedule, *_ = site
    response = client.post(
        f"{base(owner)}/fee-schedules/{schedule.id}/copies",
        json={"estate_id": str(other.id), "effective_from": "2024-12-01", "name": "地质队收费"},
        headers=auth(owner),
    )
    assert response.status_code == 201, response.json
    assert response.json["estate_id"] == str(other.id) and response.json["dropped"] == []
    assert response.json["copied_from_id"] == str(schedule.id)
    unknown = client.post(
        f"{base(owner)}/fee-schedules/{schedule.id}/copies",
        json={"estate_id": str(schedule.id), "effective_from": "2024-12-01"},
        headers=auth(owner),
    )
    assert unknown.status_code == 422 and "estate_id" in unknown.json["error"]["fields"]


def test_adjustments(client, site):
    owner, estate, _other, _schedule, _meter, adjustment = site
    headers = auth(owner)
    household = households_of(estate)[0]
    url = f"{base(owner)}/estates/{estate.id}/fee-adjustments"
    created = client.post(
        url,
        json={"household_id": str(household.id), "kind": "fixed", "value": "5.5",
              "reason": "独居老人", "valid_from": "2024-01-01", "valid_to": "2024-12-31"},
        headers=headers,
    )  # fmt: skip
    assert created.status_code == 201 and created.json["value"] == "5.50"
    assert client.get(url, headers=headers).json["total"] == 2
    mine = client.get(f"{url}?household_id={household.id}", headers=headers).json
    assert [a["id"] for a in mine["items"]] == [created.json["id"]]
    bad = client.post(url, json={"kind": "percent", "value": "150", "reason": "x",
                                 "valid_from": "2024-01-01", "category": "low_income"},
                      headers=headers)  # fmt: skip
    assert bad.status_code == 422 and "value" in bad.json["error"]["fields"]
    end = f"{base(owner)}/fee-adjustments/{created.json['id']}/end"
    assert client.post(end, json={"valid_to": "2025-06-30"}, headers=headers).status_code == 409
    ended = client.post(end, json={"valid_to": "2024-06-30"}, headers=headers)
    assert ended.status_code == 200 and ended.json["valid_to"] == "2024-06-30"
    today = client.post(
        f"{base(owner)}/fee-adjustments/{adjustment.id}/end", json={}, headers=headers
    )
    assert today.status_code == 200 and today.json["valid_to"] is not None


def test_shared_meters_and_their_readings(client, site):
    owner, estate, _other, _schedule, meter, _adjustment = site
    headers = auth(owner)
    url = f"{base(owner)}/estates/{estate.id}/shared-meters"
    created = client.post(url, json={"name": "1栋水表", "meter_kind": "water"}, headers=headers)
    assert created.status_code == 201
    assert (
        client.post(
            url, json={"name": "1栋水表", "meter_kind": "water"}, headers=headers
        ).status_code
        == 409
    )
    assert client.get(url, headers=headers).json["total"] == 2
    readings_url = f"{base(owner)}/estates/{estate.id}/shared-meter-readings"
    body = {"shared_meter_id": str(meter.id), "period": "2024-07", "current_reading": "1200"}
    first = client.post(readings_url, json=body, headers=headers)
    assert first.status_code == 201 and first.json["usage"] == "1200.00"
    replaced = client.post(readings_url, json={**body, "current_reading": "1300"}, headers=headers)
    assert replaced.status_code == 200 and replaced.json["id"] == first.json["id"]
    back = client.post(
        readings_url, json={**body, "period": "2024-08", "current_reading": "5"}, headers=headers
    )
    assert back.status_code == 422 and "current_reading" in back.json["error"]["fields"]
    listed = client.get(f"{readings_url}?period=2024-07", headers=headers).json
    assert listed["total"] == 1 and listed["items"][0]["current_reading"] == "1300.00"


def test_household_readings_list_and_conflicts(client, site):
    owner, estate, *_ = site
    headers = auth(owner)
    household = households_of(estate)[0]
    with tenant_context(owner.tenant_id):
        water = services.create_schedule(
            estate,
            schedule_data(item(code="water", charge_kind="metered", meter_kind="water"), name="水"),
        )
    url = f"{base(owner)}/estates/{estate.id}/meter-readings"
    body = {"household_id": str(household.id), "meter_kind": "water", "period": "2024-06",
            "current_reading": "50"}  # fmt: skip
    assert client.post(url, json=body, headers=headers).status_code == 201
    july = client.post(
        url, json={**body, "period": "2024-07", "current_reading": "62.5"}, headers=headers
    )
    assert july.status_code == 201 and july.json["previous_reading"] == "50.00"
    assert july.json["usage"] == "12.50"
    backwards = client.post(
        url, json={**body, "period": "2024-08", "current_reading": "1"}, headers=headers
    )
    assert backwards.status_code == 422
    replacement = client.post(
        url, json={**body, "period": "2024-08", "current_reading": "1", "is_replacement": True},
        headers=headers,
    )  # fmt: skip
    assert replacement.status_code == 201 and replacement.json["previous_reading"] == "0.00"
    bill_for(household, "2024-06", {"water": "30.00"}, water)
    assert client.post(url, json=body, headers=headers).status_code == 409
    assert client.get(f"{url}?period=2024-07", headers=headers).json["total"] == 1
    assert (
        client.get(f"{url}?meter_kind=water&household_id={household.id}", headers=headers).json[
            "total"
        ]
        == 3
    )
    assert client.get(f"{url}?period=2024-7", headers=headers).status_code == 422


def test_importing_readings(client, site):
    owner, estate, *_ = site
    url = f"{base(owner)}/estates/{estate.id}/meter-readings/import"
    good = "楼栋,单元,房号,表类型,期间,本期读数\n1栋,1,101,水,2024-07,10\n1栋,1,201,电,2024-07,20\n"
    response = client.post(
        url,
        data={"file": (io.BytesIO(good.encode()), "r.csv")},
        headers=auth(owner),
        content_type="multipart/form-data",
    )
    assert response.status_code == 200, response.json
    assert response.json == {"rows": 2, "created": 2, "replaced": 0, "unchanged": 0}
    bad = good + "1栋,1,101,水,2024-08,5\n9栋,1,101,水,2024-07,1\n"
    response = client.post(
        url,
        data={"file": (io.BytesIO(bad.encode()), "r.csv")},
        headers=auth(owner),
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert [r["row"] for r in response.json["error"]["fields"]["rows"]] == [4, 5]
    with tenant_context(owner.tenant_id):
        assert count(MeterReading) == 2
    no_file = client.post(url, data={"file": "text"}, headers=auth(owner),
                          content_type="multipart/form-data")  # fmt: skip
    assert no_file.status_code == 422


def test_occupancy_changes_and_the_prepayment_quote(client, site):
    owner, estate, *_ = site
    headers = auth(owner)
    household = households_of(estate)[0]
    url = f"{base(owner)}/households/{household.id}/occupancy-changes"
    created = client.post(
        url, json={"to_occupancy": "vacant", "effective_date": "2024-03-01"}, headers=headers
    )
    assert created.status_code == 201 and created.json["from_occupancy"] == "occupied"
    again = client.post(
        url, json={"to_occupancy": "rented", "effective_date": "2024-03-01"}, headers=headers
    )
    assert again.status_code == 409
    assert (
        client.post(
            url, json={"to_occupancy": "gone", "effective_date": "2024-03-01"}, headers=headers
        ).status_code
        == 422
    )
    assert [c["to_occupancy"] for c in client.get(url, headers=headers).json] == ["vacant"]
    quote = client.get(
        f"{base(owner)}/households/{household.id}/prepayment-quote?months=12", headers=headers
    )
    assert quote.status_code == 200, quote.json
    assert quote.json["months"] == 12 and quote.json["lines"][0]["code"] == "property_service"
    assert (
        client.get(
            f"{base(owner)}/households/{household.id}/prepayment-quote?months=0", headers=headers
        ).status_code
        == 422
    )


# --- access --------------------------------------------------------------------------------


def urls(site) -> list[tuple[str, str, dict | None]]:
    owner, estate, _other, schedule, meter, adjustment = site
    household = households_of(estate)[0]
    e, h = f"/estates/{estate.id}", f"/households/{household.id}"
    return [
        ("get", f"{e}/fee-schedules", None),
        ("post", f"{e}/fee-schedules", SCHEDULE),
        ("get", f"/fee-schedules/{schedule.id}", None),
        ("post", f"/fee-schedules/{schedule.id}/revisions", {"effective_from": "2025-01-01"}),
        ("post", f"/fee-schedules/{schedule.id}/copies",
         {"estate_id": str(estate.id), "effective_from": "2025-01-01"}),
        ("get", f"{e}/fee-adjustments", None),
        ("post", f"{e}/fee-adjustments",
         {"category": "low_income", "kind": "fixed", "value": "1", "reason": "x",
          "valid_from": "2024-01-01"}),
        ("post", f"/fee-adjustments/{adjustment.id}/end", {}),
        ("get", f"{e}/shared-meters", None),
        ("post", f"{e}/shared-meters", {"name": "新表", "meter_kind": "water"}),
        ("get", f"{e}/shared-meter-readings", None),
        ("post", f"{e}/shared-meter-readings",
         {"shared_meter_id": str(meter.id), "period": "2024-01", "current_reading": "1"}),
        ("get", f"{e}/meter-readings", None),
        ("post", f"{e}/meter-readings",
         {"household_id": str(household.id), "meter_kind": "gas", "period": "2024-01",
          "current_reading": "1"}),
        ("post", f"{e}/meter-readings/import", "FILE"),
        ("get", f"{h}/occupancy-changes", None),
        ("post", f"{h}/occupancy-changes",
         {"to_occupancy": "rented", "effective_date": "2024-01-01"}),
        ("get", f"{h}/prepayment-quote?months=3", None),
    ]  # fmt: skip


def call(client, membership, method, path, body, slug=None):
    url = f"/api/v1/t/{slug or membership.tenant.slug}{path}"
    headers = auth(membership)
    if body == "FILE":
        data = {
            "file": (
                io.BytesIO(
                    "楼栋,单元,房号,表类型,期间,本期读数\n1栋,1,101,水,2024-01,1\n".encode()
                ),
                "r.csv",
            )
        }
        return client.post(url, data=data, headers=headers, content_type="multipart/form-data")
    return getattr(client, method)(url, json=body, headers=headers)


def test_another_tenants_member_gets_404_everywhere(client, site):
    owner = site[0]
    stranger = member(Role.OWNER)
    for method, path, body in urls(site):
        own_tenant = call(client, stranger, method, path, body)
        assert own_tenant.status_code == 404, (method, path, own_tenant.json)
        their_tenant = call(client, stranger, method, path, body, slug=owner.tenant.slug)
        assert their_tenant.status_code == 404, (method, path)


def test_an_estate_admin_of_another_estate_gets_404(client, site):
    owner, _estate, other = site[0], site[1], site[2]
    admin = member(Role.ESTATE_ADMIN, tenant=owner.tenant)
    scope_member(admin, other)
    for method, path, body in urls(site):
        response = call(client, admin, method, path, body)
        assert response.status_code == 404, (method, path, response.json)


def test_an_estate_admin_of_the_estate_may_do_everything(client, site):
    owner, estate = site[0], site[1]
    admin = member(Role.ESTATE_ADMIN, tenant=owner.tenant)
    scope_member(admin, estate)
    for method, path, body in urls(site):
        response = call(client, admin, method, path, body)
        assert response.status_code < 300, (method, path, response.json)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.FINANCE, Role.CASHIER])
def test_roles_without_the_permission_get_403(client, site, role):
    owner, estate = site[0], site[1]
    someone = member(role, tenant=owner.tenant)
    if role == Role.CASHIER:
        scope_member(someone, estate)
    for method, path, body in urls(site):
        response = call(client, someone, method, path, body)
        readings_or_occupancy = "reading" in path or "occupancy" in path
        may = method == "get" or (role == Role.CASHIER and readings_or_occupancy)
        assert (response.status_code < 300) == may, (role, method, path, response.json)
        if not may:
            assert response.status_code == 403, (role, method, path)
    with tenant_context(owner.tenant_id):
        assert db.session.query(FeeSchedule).count() == 1
