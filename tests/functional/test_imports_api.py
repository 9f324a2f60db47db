"""Import API: templates, the multipart upload (422 listing every bad row, atomic,
idempotent), roles, tenant and estate scope; copying an estate's layout."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass

import pytest
from openpyxl import load_workbook
from sqlalchemy import event, func, select

from ruihe_saas.audit.models import AuditEvent
from ruihe_saas.auth.models import Role
from ruihe_saas.auth.services import issue_token
from ruihe_saas.estates import services as estate_services
from ruihe_saas.estates.models import Building, Household, MembershipEstate, ParkingSpace
from ruihe_saas.tenancy import tenant_context
from tests.conftest import bearer
from tests.factories import member
from tests.unit.imports.files import ROWS, csv_bytes, with_cell, xlsx_bytes


@pytest.fixture(autouse=True)
def english(client):
    """Messages in English (the msgids), whatever the catalogues say."""
    client.set_cookie("lang", "en")


@dataclass
class Setup:
    slug: str
    tenant_id: object
    estate_id: str
    other_estate_id: str
    owner: str  # tokens


@pytest.fixture
def setup(db) -> Setup:
    owner = member(Role.OWNER)
    with tenant_context(owner.tenant_id):
        estate_services.ensure_default_categories()
        estate = estate_services.create_estate({"name": "模二厂生活小区", "code": "MOER"})
        other = estate_services.create_estate({"name": "地质一大队生活小区", "code": "DZ1"})
    return Setup(
        slug=owner.tenant.slug,
        tenant_id=owner.tenant_id,
        estate_id=str(estate.id),
        other_estate_id=str(other.id),
        owner=issue_token(owner.user, days=1),
    )


def token_of(setup: Setup, role: Role, estates: tuple[str, ...] = ()) -> str:
    from ruihe_saas.extensions import db
    from ruihe_saas.tenancy.models import Tenant

    tenant = db.session.get(Tenant, setup.tenant_id)
    membership = member(role, tenant=tenant)
    with tenant_context(setup.tenant_id):
        for estate_id in estates:
            db.session.add(
                MembershipEstate(membership_id=membership.id, estate_id=uuid.UUID(estate_id))
            )
        db.session.flush()
    return issue_token(membership.user, days=1)


def url(setup: Setup, suffix: str = "/imports", estate_id: str | None = None) -> str:
    return f"/api/v1/t/{setup.slug}/estates/{estate_id or setup.estate_id}{suffix}"


def upload(client, setup, data: bytes, name="households.csv", token=None, estate_id=None, **form):
    body = {"file": (io.BytesIO(data), name), **form}
    return client.post(
        url(setup, estate_id=estate_id),
        data=body,
        content_type="multipart/form-data",
        headers=bearer(token or setup.owner),
    )


def counted(db, setup, model, estate_id=None) -> int:
    with tenant_context(setup.tenant_id):
        return db.session.scalar(
            select(func.count())
            .select_from(model)
            .where(model.estate_id == uuid.UUID(estate_id or setup.estate_id))
        )


# --- templates -------------------------------------------------------------------------


def test_xlsx_template(client, setup):
    response = client.get(url(setup, "/imports/template.xlsx"), headers=bearer(setup.owner))
    assert response.status_code == 200
    assert response.mimetype == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert "households-template.xlsx" in response.headers["Content-Disposition"]
    workbook = load_workbook(io.BytesIO(response.data))
    assert workbook.sheetnames == ["房屋", "说明"]
    assert workbook["房屋"]["A1"].value == "楼栋"


def test_csv_template(client, setup):
    response = client.get(url(setup, "/imports/template.csv"), headers=bearer(setup.owner))
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    text = response.data.decode("utf-8-sig")
    assert text.splitlines() == [
        "楼栋,楼层数,电梯,楼栋类型,单元,房号,楼层,面积,入住状态,业主,电话,类别,车位,车位类型,备注"
    ]


# --- importing -------------------------------------------------------------------------


def test_import_creates_then_reimport_changes_nothing(client, db, setup):
    response = upload(client, setup, csv_bytes(ROWS))
    assert response.status_code == 201, response.json
    assert response.json == {
        "rows": 5,
        "dry_run": False,
        "buildings": {"created": 2, "updated": 0, "unchanged": 0},
        "households": {"created": 5, "updated": 0, "unchanged": 0, "not_in_file": 0},
        "parking_spaces": {"created": 3, "updated": 0, "unchanged": 0},
        "ignored_columns": [],
    }
    assert counted(db, setup, Household) == 5
    with tenant_context(setup.tenant_id):
        events = db.session.scalar(select(func.count()).select_from(AuditEvent))

    again = upload(client, setup, xlsx_bytes(ROWS), name="households.xlsx")
    assert again.status_code == 200
    assert again.json["households"] == {
        "created": 0, "updated": 0, "unchanged": 5, "not_in_file": 0
    }  # fmt: skip
    with tenant_context(setup.tenant_id):
        assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events

    listed = client.get(url(setup, "/households"), headers=bearer(setup.owner))
    assert listed.json["total"] == 5


def test_a_changed_row_updates_by_key(client, db, setup):
    upload(client, setup, csv_bytes(ROWS))
    response = upload(client, setup, csv_bytes(with_cell(ROWS, 2, "业主", "钱七")))
    assert response.status_code == 200
    assert response.json["households"]["updated"] == 1
    found = client.get(url(setup, "/households?q=钱七"), headers=bearer(setup.owner)).json
    assert found["total"] == 1 and found["items"][0]["room"] == "201"
    assert counted(db, setup, Household) == 5


def test_bad_rows_are_all_listed_and_nothing_is_imported(client, db, setup):
    rows = with_cell(ROWS, 1, "面积", "abc")
    rows = with_cell(rows, 4, "面积", "0")
    rows = with_cell(rows, 4, "类别", "贵宾")
    response = upload(client, setup, csv_bytes(rows, encoding="gbk"))
    assert response.status_code == 422
    error = response.json["error"]
    assert error["code"] == "validation_failed"
    assert "3 errors" in error["message"]
    assert error["fields"]["rows"] == [
        {"row": 3, "column": "面积", "message": "Not a number."},
        {"row": 6, "column": "面积", "message": "Must be more than 0."},
        {
            "row": 6,
            "column": "类别",
            "message": "Unknown category 贵宾: use 普通、低保、独居老人、残疾、特扶.",
        },
    ]
    assert counted(db, setup, Building) == counted(db, setup, Household) == 0
    assert counted(db, setup, ParkingSpace) == 0


def test_errors_name_the_files_own_headers(client, setup):
    header = ["building", "floors", "room", "area"]
    response = upload(client, setup, csv_bytes([["1栋", "6", "101", "abc"]], header=header))
    assert response.json["error"]["fields"]["rows"] == [
        {"row": 2, "column": "area", "message": "Not a number."}
    ]


@pytest.mark.parametrize(
    ("name", "data", "fragment"),
    [
        ("x.csv", b"", "empty"),
        ("x.pdf", b"%PDF-1.4", ".xlsx or .csv"),
        ("x.xlsx", b"PK\x03\x04nonsense", "Excel"),
        ("x.xls", b"\xd0\xcf\x11\xe0" + b"\0" * 50, ".xls"),
        ("x.csv", "房号,面积\r\n101,50\r\n".encode(), "楼栋"),
    ],
)
def test_unreadable_files_are_422_with_file_errors(client, setup, name, data, fragment):
    response = upload(client, setup, data, name=name)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_failed"
    assert any(fragment in message for message in response.json["error"]["fields"]["file"])


def test_missing_file_part(client, setup):
    for body in ({}, {"file": "just text"}):
        response = client.post(
            url(setup), data=body, content_type="multipart/form-data", headers=bearer(setup.owner)
        )
        assert response.status_code == 422
        assert "file" in response.json["error"]["fields"]
    response = client.post(url(setup), json={"file": "x"}, headers=bearer(setup.owner))
    assert response.status_code == 422


def test_dry_run_counts_without_writing(client, db, setup):
    response = upload(client, setup, csv_bytes(ROWS), dry_run="true")
    assert response.status_code == 200
    assert response.json["dry_run"] is True
    assert response.json["households"]["created"] == 5
    assert counted(db, setup, Household) == 0
    bad = upload(client, setup, csv_bytes(with_cell(ROWS, 0, "房号", "")), dry_run="true")
    assert bad.status_code == 422
    assert bad.json["error"]["fields"]["rows"] == [
        {"row": 2, "column": "房号", "message": "Required."}
    ]


def test_976_households_in_a_bounded_number_of_statements(client, db, setup, app):
    """No per-row query: the statement count does not grow with the rows."""
    rows = []
    for i in range(976):  # 29 buildings of 33-34 households: 2 units, 3 rooms a floor
        b, n = i % 29 + 1, i // 29
        unit, k = n % 2 + 1, n // 2
        floor = k // 3 + 1
        lift, kind = ("有", "小高层") if b > 25 else ("无", "多层")
        room, area, parking = f"{floor}0{k % 3 + 1}", f"{60 + i % 50}.5", f"P{i}" if i % 4 else ""
        rows.append(
            [f"{b}栋", "7", lift, kind, str(unit), room, str(floor), area, "自住", f"业主{i}", "",
             "普通", parking]
        )  # fmt: skip
    statements = []

    def count(*args):
        statements.append(args[2])

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        response = upload(client, setup, csv_bytes(rows))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert response.status_code == 201
    assert response.json["households"]["created"] == 976
    assert response.json["buildings"]["created"] == 29
    assert len(statements) < 40, len(statements)  # 18 today, whatever the row count
    assert counted(db, setup, Household) == 976


# --- roles, tenants, estate scope --------------------------------------------------------


@pytest.mark.parametrize("role", [Role.VIEWER, Role.FINANCE, Role.CASHIER])
def test_roles_without_edit_estate_data_get_403(client, db, setup, role):
    token = token_of(setup, role, estates=(setup.estate_id,) if role == Role.CASHIER else ())
    assert upload(client, setup, csv_bytes(ROWS), token=token).status_code == 403
    for suffix in ("/imports/template.xlsx", "/imports/template.csv"):
        assert client.get(url(setup, suffix), headers=bearer(token)).status_code == 403
    assert counted(db, setup, Household) == 0


def test_another_tenants_member_gets_404(client, db, setup):
    stranger = member(Role.OWNER)
    token = issue_token(stranger.user, days=1)
    assert upload(client, setup, csv_bytes(ROWS), token=token).status_code == 404
    for suffix in ("/imports/template.xlsx", "/imports/template.csv"):
        assert client.get(url(setup, suffix), headers=bearer(token)).status_code == 404
    copy = client.post(
        url(setup, "/copies"), json={"name": "X", "code": "X1"}, headers=bearer(token)
    )
    assert copy.status_code == 404
    # and the estate id of another tenant under one's own tenant is unknown too
    mine = f"/api/v1/t/{stranger.tenant.slug}/estates/{setup.estate_id}/imports"
    response = client.post(
        mine,
        data={"file": (io.BytesIO(csv_bytes(ROWS)), "x.csv")},
        content_type="multipart/form-data",
        headers=bearer(token),
    )
    assert response.status_code == 404
    assert counted(db, setup, Household) == 0


def test_an_estate_admin_imports_into_their_estate_only(client, db, setup):
    token = token_of(setup, Role.ESTATE_ADMIN, estates=(setup.estate_id,))
    refused = upload(client, setup, csv_bytes(ROWS), token=token, estate_id=setup.other_estate_id)
    assert refused.status_code == 404
    template = url(setup, "/imports/template.csv", estate_id=setup.other_estate_id)
    assert client.get(template, headers=bearer(token)).status_code == 404
    assert counted(db, setup, Household, setup.other_estate_id) == 0

    accepted = upload(client, setup, csv_bytes(ROWS), token=token)
    assert accepted.status_code == 201
    assert counted(db, setup, Household) == 5


# --- copying an estate's layout ----------------------------------------------------------


def test_copy_an_estates_buildings(client, db, setup):
    upload(client, setup, csv_bytes(ROWS))
    response = client.post(
        url(setup, "/copies"),
        json={"name": "新小区", "code": "NEW1", "address": "建宁街道", "year_built": 1995},
        headers=bearer(setup.owner),
    )
    assert response.status_code == 201, response.json
    body = response.json
    assert (body["name"], body["code"], body["stage"]) == ("新小区", "NEW1", "prospect")
    assert (body["building_count"], body["household_count"]) == (2, 0)
    buildings = client.get(
        url(setup, "/buildings", estate_id=body["id"]), headers=bearer(setup.owner)
    ).json["items"]
    assert [(b["name"], b["floors"], b["has_lift"], b["kind"]) for b in buildings] == [
        ("1栋", 6, False, "low_rise"),
        ("2栋", 11, True, "small_high_rise"),
    ]
    assert counted(db, setup, ParkingSpace, body["id"]) == 0


def test_copy_refusals(client, setup):
    taken = client.post(
        url(setup, "/copies"), json={"name": "X", "code": "DZ1"}, headers=bearer(setup.owner)
    )
    assert taken.status_code == 409
    assert "code" in taken.json["error"]["fields"]
    invalid = client.post(url(setup, "/copies"), json={"code": "x y"}, headers=bearer(setup.owner))
    assert invalid.status_code == 422
    admin = token_of(setup, Role.ESTATE_ADMIN, estates=(setup.estate_id,))
    forbidden = client.post(
        url(setup, "/copies"), json={"name": "X", "code": "X1"}, headers=bearer(admin)
    )
    assert forbidden.status_code == 403  # creating estates is the owners' (MANAGE_ESTATES)
