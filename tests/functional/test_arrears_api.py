"""Arrears API: collection rates, aging, households in arrears, chasing records, exports;
permissions, bad input, tenant isolation and estate scope."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from ruihe_saas.arrears.models import ArrearsChase
from ruihe_saas.auth.models import Role
from ruihe_saas.auth.services import issue_token
from ruihe_saas.extensions import db as database
from ruihe_saas.payments.services import record_payment
from ruihe_saas.tenancy import tenant_context
from tests.conftest import bearer
from tests.estate_factories import scope_member
from tests.factories import member
from tests.unit.arrears.builders import make_site


def auth(membership) -> dict:
    return bearer(issue_token(membership.user, days=1))


@pytest.fixture
def world(db):
    """Tenant A: estate RATE (2 buildings × 2 households, target 90 %) with May and June
    bills and payments, estate OTHER with one overdue bill; tenant B with its own estate."""
    owner = member(Role.OWNER)
    site = make_site(owner.tenant_id, code="RATE", buildings=2, rooms=2, target="90")
    other = make_site(owner.tenant_id, code="OTHER", buildings=1, rooms=1)
    for index in range(4):
        site.bill(index, "2024-05", due=date(2024, 6, 1))
        site.bill(index, "2024-06", due=date(2024, 7, 1))
    other.bill(0, "2024-06", due=date(2024, 7, 1))
    ids = [h.id for h in site.households]
    with tenant_context(owner.tenant_id):
        other.households[0].owner_names = "=HYPERLINK(1)"  # a formula, if a sheet ran it
        record_payment(ids[0], "10", "cash", paid_at=datetime(2024, 5, 20, 9))
        record_payment(ids[0], "210", "cash", paid_at=datetime(2024, 6, 10, 9))
        record_payment(ids[1], "110", "cash", paid_at=datetime(2024, 6, 15, 9))
    stranger = member(Role.OWNER)
    foreign = make_site(stranger.tenant_id, code="FOREIGN", buildings=1, rooms=1)
    foreign.bill(0, "2024-06", due=date(2024, 7, 1))
    return owner, site, other, stranger, foreign


def url(membership, path: str) -> str:
    return f"/api/v1/t/{membership.tenant.slug}{path}"


def test_estate_collection_rate(client, world):
    owner, site, _other, _stranger, _foreign = world
    response = client.get(
        url(owner, f"/estates/{site.estate.id}/collection-rate?period=2024-06"),
        headers=auth(owner),
    )
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["billed"], body["collected"], body["rate"]) == ("440.00", "110.00", "25.00")
    assert (body["households_billed"], body["households_paid"]) == (4, 1)
    assert body["paid_household_ratio"] == "25.00"
    # May at the start of June: 100 + 110 + 110 + 110; collected in June on May: 100 + 110
    assert (body["arrears_at_start"], body["collected_on_arrears"]) == ("430.00", "210.00")
    assert (body["clearance_rate"], body["target"], body["gap"]) == ("48.84", "90.00", "65.00")
    assert body["estate_id"] == str(site.estate.id) and body["period"] == "2024-06"
    assert [b["name"] for b in body["buildings"]] == ["1栋", "2栋"]
    assert [b["rate"] for b in body["buildings"]] == ["50.00", "0.00"]
    empty = client.get(
        url(owner, f"/estates/{site.estate.id}/collection-rate?period=2023-01"),
        headers=auth(owner),
    ).json
    assert (empty["rate"], empty["gap"], empty["clearance_rate"]) == (None, None, None)
    as_of = client.get(
        url(owner, f"/estates/{site.estate.id}/collection-rate?period=2024-06&as_of=2024-06-09"),
        headers=auth(owner),
    ).json
    assert as_of["collected"] == "0.00" and as_of["as_of"] == "2024-06-09"


def test_tenant_collection_rates(client, world):
    owner, _site, _other, _stranger, _foreign = world
    response = client.get(
        url(owner, "/collection-rates?from=2024-05&to=2024-06"), headers=auth(owner)
    )
    assert response.status_code == 200
    body = response.json
    assert body["periods"] == ["2024-05", "2024-06"]
    assert [e["code"] for e in body["estates"]] == ["OTHER", "RATE"]
    rate = body["estates"][1]
    assert rate["target"] == "90.00"
    assert [p["rate"] for p in rate["periods"]] == ["50.00", "25.00"]
    default = client.get(url(owner, "/collection-rates"), headers=auth(owner)).json
    assert len(default["periods"]) == 12


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/estates/{estate}/collection-rate", "period"),
        ("/estates/{estate}/collection-rate?period=2024-13", "period"),
        ("/estates/{estate}/collection-rate?period=2024-6", "period"),
        ("/estates/{estate}/collection-rate?period=2024-06&as_of=2024-02-30", "as_of"),
        ("/collection-rates?from=2024-07&to=2024-06", "from"),
        ("/collection-rates?from=2019-01&to=2024-06", "from"),
        ("/collection-rates?to=June", "to"),
        ("/estates/{estate}/arrears-aging?as_of=yesterday", "as_of"),
        ("/estates/{estate}/arrears-aging?as_of=1999-12-31", "as_of"),
        ("/arrears-aging?as_of=2024-13-01", "as_of"),
        ("/estates/{estate}/arrears-households?sort=name", "sort"),
        ("/exports/bills.csv?period=2024/06", "period"),
        ("/exports/bills.xlsx?status=overdue", "status"),
        ("/exports/arrears.csv?as_of=0", "as_of"),
        ("/exports/collection-rate.xlsx?from=2024-06&to=2024-05", "from"),
    ],
)
def test_bad_input_is_422_with_field_messages(client, world, path, field):
    owner, site, _other, _stranger, _foreign = world
    response = client.get(url(owner, path.format(estate=site.estate.id)), headers=auth(owner))
    assert response.status_code == 422, response.data[:300]
    assert field in response.json["error"]["fields"], response.json


def test_aging_per_building_and_per_estate(client, world):
    owner, site, _other, _stranger, _foreign = world
    headers = auth(owner)
    body = client.get(
        url(owner, f"/estates/{site.estate.id}/arrears-aging?as_of=2024-07-31"), headers=headers
    ).json
    # May: 0, 0, 110, 110 (61 days overdue); June: 0, 110, 110, 110 (30 days)
    assert body["summary"]["total"] == {"amount": "550.00", "households": 3}
    assert body["summary"]["buckets"]["d31_90"] == {"amount": "220.00", "households": 2}
    assert body["summary"]["buckets"]["d0_30"] == {"amount": "330.00", "households": 3}
    assert [b["name"] for b in body["buildings"]] == ["1栋", "2栋"]
    assert body["buildings"][0]["total"] == {"amount": "110.00", "households": 1}
    tenant = client.get(url(owner, "/arrears-aging?as_of=2024-07-31"), headers=headers).json
    assert [e["code"] for e in tenant["estates"]] == ["OTHER", "RATE"]
    assert tenant["summary"]["total"]["households"] == 4


def test_households_in_arrears(client, world):
    owner, site, other, _stranger, _foreign = world
    base = url(owner, f"/estates/{site.estate.id}/arrears-households?as_of=2024-07-31")
    body = client.get(base, headers=auth(owner)).json
    assert body["total"] == 3
    first = body["items"][0]
    assert (first["total"], first["bills"], first["oldest_due"]) == ("220.00", 2, "2024-06-01")
    assert first["buckets"]["d31_90"] == "110.00" and first["label"].startswith("2栋")
    oldest = client.get(base + "&sort=oldest&per_page=1&page=3", headers=auth(owner)).json
    assert oldest["total"] == 3 and len(oldest["items"]) == 1
    building = site.buildings[0].id
    filtered = client.get(base + f"&building_id={building}", headers=auth(owner)).json
    assert [i["household_id"] for i in filtered["items"]] == [str(site.households[1].id)]
    elsewhere = client.get(base + f"&building_id={other.buildings[0].id}", headers=auth(owner))
    assert elsewhere.status_code == 404


def test_chasing_records(client, world):
    owner, site, _other, _stranger, _foreign = world
    household = site.households[2]
    path = url(owner, f"/households/{household.id}/arrears-chases")
    created = client.post(
        path,
        json={
            "chased_on": "2024-06-20",
            "channel": "phone",
            "result": "业主出差，月底回来缴",
            "promised_on": "2024-06-30",
        },
        headers=auth(owner),
    )
    assert created.status_code == 201, created.json
    assert created.json["outstanding"] == "110.00"  # May's bill; June's not yet due
    assert created.json["channel"] == "phone" and created.json["promised_on"] == "2024-06-30"
    today = client.post(path, json={"channel": "wechat_group"}, headers=auth(owner))
    assert today.status_code == 201 and today.json["chased_on"]
    listed = client.get(path, headers=auth(owner)).json
    assert listed["total"] == 2 and listed["items"][0]["id"] == today.json["id"]
    estate_list = client.get(
        url(owner, f"/estates/{site.estate.id}/arrears-chases"), headers=auth(owner)
    ).json
    assert estate_list["total"] == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "channel"),
        ({"channel": "telegram"}, "channel"),
        ({"channel": "visit", "chased_on": "2099-01-01"}, "chased_on"),
        ({"channel": "visit", "chased_on": "2024-02-30"}, "chased_on"),
        (
            {"channel": "visit", "chased_on": "2024-07-20", "promised_on": "2024-07-01"},
            "promised_on",
        ),
        ({"channel": "visit", "result": "x" * 2001}, "result"),
    ],
)
def test_bad_chases_are_422_and_nothing_is_stored(client, world, body, field):
    owner, site, _other, _stranger, _foreign = world
    path = url(owner, f"/households/{site.households[0].id}/arrears-chases")
    response = client.post(path, json=body, headers=auth(owner))
    assert response.status_code == 422 and field in response.json["error"]["fields"]
    with tenant_context(owner.tenant_id):
        assert database.session.scalar(select(func.count()).select_from(ArrearsChase)) == 0


def test_a_viewer_reads_but_cannot_chase(client, world):
    owner, site, _other, _stranger, _foreign = world
    viewer = member(Role.VIEWER, tenant=owner.tenant)
    path = url(owner, f"/households/{site.households[0].id}/arrears-chases")
    assert client.get(path, headers=auth(viewer)).status_code == 200
    assert client.post(path, json={"channel": "phone"}, headers=auth(viewer)).status_code == 403


def _csv_rows(response) -> list[list[str]]:
    raw = response.data
    assert raw.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def _sheets(response) -> dict:
    workbook = load_workbook(io.BytesIO(response.data), read_only=True)
    return {sheet.title: [list(r) for r in sheet.iter_rows(values_only=True)] for sheet in workbook}


def test_bill_exports(client, world):
    owner, site, other, _stranger, _foreign = world
    headers = auth(owner)
    response = client.get(url(owner, "/exports/bills.csv"), headers=headers)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = _csv_rows(response)
    assert rows[0][:4] == ["账单号", "小区", "楼栋", "房屋"] and "欠费金额" in rows[0]
    assert len(rows) == 1 + 9
    injected = [r for r in rows if r[1] == other.estate.name]
    assert injected[0][4] == "'=HYPERLINK(1)"
    paid = _csv_rows(
        client.get(
            url(owner, f"/exports/bills.csv?estate_id={site.estate.id}&status=paid"),
            headers=headers,
        )
    )
    assert len(paid) == 1 + 3 and {r[-1] for r in paid[1:]} == {"已缴清"}
    by_building = client.get(
        url(
            owner,
            f"/exports/bills.xlsx?estate_id={site.estate.id}"
            f"&building_id={site.buildings[1].id}&period=2024-06",
        ),
        headers=headers,
    )
    assert by_building.status_code == 200
    sheet = _sheets(by_building)["账单"]
    assert sheet[0][0] == "账单号" and len(sheet) == 1 + 2
    assert {row[2] for row in sheet[1:]} == {"2栋"}
    mismatched = client.get(
        url(
            owner,
            f"/exports/bills.csv?estate_id={site.estate.id}&building_id={other.buildings[0].id}",
        ),
        headers=headers,
    )
    assert mismatched.status_code == 404
    assert all(row[8] == 110 for row in sheet[1:])  # numbers, not text


def test_arrears_exports(client, world):
    owner, site, _other, _stranger, _foreign = world
    headers = auth(owner)
    query = f"?estate_id={site.estate.id}&as_of=2024-07-31"
    rows = _csv_rows(client.get(url(owner, "/exports/arrears.csv" + query), headers=headers))
    assert rows[0][0].startswith("楼栋账龄") and rows[1][:3] == ["小区", "楼栋", "0-30天金额"]
    assert rows[2][1] == "1栋" and rows[4][1] == "合计" and rows[4][-2:] == ["550.00", "3"]
    assert rows[5] == [] and rows[6] == ["欠费户明细"] and rows[7][2] == "房屋"
    assert len(rows) == 8 + 3
    sheets = _sheets(client.get(url(owner, "/exports/arrears.xlsx" + query), headers=headers))
    assert list(sheets) == ["楼栋账龄 2024-07-31", "欠费户明细"]
    assert sheets["欠费户明细"][0][-1] == "欠费合计" and len(sheets["欠费户明细"]) == 4
    everything = _csv_rows(client.get(url(owner, "/exports/arrears.csv"), headers=headers))
    assert {r[0] for r in everything[2:5]} >= {"测试小区OTHER"}


def test_collection_rate_exports(client, world):
    owner, site, _other, _stranger, _foreign = world
    headers = auth(owner)
    query = f"?estate_id={site.estate.id}&from=2024-05&to=2024-06"
    rows = _csv_rows(
        client.get(url(owner, "/exports/collection-rate.csv" + query), headers=headers)
    )
    assert rows[0][:6] == ["小区", "楼栋", "账期", "应收金额", "实收金额", "收缴率(%)"]
    assert [(r[1], r[2], r[5]) for r in rows[1:]] == [
        ("合计", "2024-05", "50.00"),
        ("1栋", "2024-05", "100.00"),
        ("2栋", "2024-05", "0.00"),
        ("合计", "2024-06", "25.00"),
        ("1栋", "2024-06", "50.00"),
        ("2栋", "2024-06", "0.00"),
    ]
    sheets = _sheets(
        client.get(
            url(owner, "/exports/collection-rate.xlsx?from=2024-06&to=2024-06"), headers=headers
        )
    )
    table = sheets["收缴率"]
    assert table[0][5] == "收缴率(%)" and len(table) == 1 + 2
    assert {row[0] for row in table[1:]} == {"测试小区RATE", "测试小区OTHER"}


# --- isolation -----------------------------------------------------------------------------

ESTATE_PATHS = [
    "/estates/{estate}/collection-rate?period=2024-06",
    "/estates/{estate}/arrears-aging",
    "/estates/{estate}/arrears-households",
    "/estates/{estate}/arrears-chases",
    "/households/{household}/arrears-chases",
    "/exports/bills.csv?estate_id={estate}",
    "/exports/bills.xlsx?estate_id={estate}",
    "/exports/bills.csv?building_id={building}",
    "/exports/arrears.csv?estate_id={estate}",
    "/exports/arrears.xlsx?estate_id={estate}",
    "/exports/collection-rate.csv?estate_id={estate}",
    "/exports/collection-rate.xlsx?estate_id={estate}",
]
TENANT_PATHS = [
    "/collection-rates",
    "/arrears-aging",
    "/exports/bills.csv",
    "/exports/bills.xlsx",
    "/exports/arrears.csv",
    "/exports/arrears.xlsx",
    "/exports/collection-rate.csv",
    "/exports/collection-rate.xlsx",
]


def _ids(site) -> dict:
    return {
        "estate": site.estate.id,
        "household": site.households[0].id,
        "building": site.buildings[0].id,
    }


@pytest.mark.parametrize("path", ESTATE_PATHS + TENANT_PATHS)
def test_another_tenants_member_gets_404(client, world, path):
    owner, site, _other, stranger, _foreign = world
    response = client.get(url(owner, path.format(**_ids(site))), headers=auth(stranger))
    assert response.status_code == 404


@pytest.mark.parametrize("path", ESTATE_PATHS)
def test_ids_of_another_tenant_are_404(client, world, path):
    """Tenant B's member, tenant B's slug, but ids of tenant A."""
    _owner, site, _other, stranger, foreign = world
    response = client.get(url(stranger, path.format(**_ids(site))), headers=auth(stranger))
    assert response.status_code == 404, path
    own = client.get(url(stranger, path.format(**_ids(foreign))), headers=auth(stranger))
    assert own.status_code == 200, path


def test_posting_a_chase_across_tenants_is_404(client, world):
    owner, site, _other, stranger, _foreign = world
    path = f"/households/{site.households[0].id}/arrears-chases"
    assert (
        client.post(
            url(stranger, path), json={"channel": "phone"}, headers=auth(stranger)
        ).status_code
        == 404
    )
    assert (
        client.post(url(owner, path), json={"channel": "phone"}, headers=auth(stranger)).status_code
        == 404
    )


@pytest.mark.parametrize("path", ESTATE_PATHS)
def test_a_scoped_member_gets_404_for_another_estate(client, world, path):
    owner, site, other, _stranger, _foreign = world
    admin = member(Role.ESTATE_ADMIN, tenant=owner.tenant)
    scope_member(admin, other.estate)
    response = client.get(url(owner, path.format(**_ids(site))), headers=auth(admin))
    assert response.status_code == 404, path
    mine = client.get(url(owner, path.format(**_ids(other))), headers=auth(admin))
    assert mine.status_code == 200, path


def test_a_scoped_member_sees_only_their_estates_tenant_wide(client, world):
    owner, site, other, _stranger, _foreign = world
    cashier = member(Role.CASHIER, tenant=owner.tenant)
    scope_member(cashier, other.estate)
    headers = auth(cashier)
    rates = client.get(url(owner, "/collection-rates"), headers=headers).json
    assert [e["code"] for e in rates["estates"]] == ["OTHER"]
    aging = client.get(url(owner, "/arrears-aging?as_of=2024-12-31"), headers=headers).json
    assert [e["code"] for e in aging["estates"]] == ["OTHER"]
    bills = _csv_rows(client.get(url(owner, "/exports/bills.csv"), headers=headers))
    assert len(bills) == 2 and bills[1][1] == other.estate.name
    path = url(owner, f"/households/{site.households[0].id}/arrears-chases")
    assert client.post(path, json={"channel": "phone"}, headers=headers).status_code == 404
