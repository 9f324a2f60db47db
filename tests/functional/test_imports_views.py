"""Import page: format, template downloads, upload with the row error report (422, nothing
saved), dry run, success redirect; the copy form; roles, tenant and estate scope."""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.estates import services as estate_services
from ruihe_saas.estates.models import Building, Estate, Household, MembershipEstate
from ruihe_saas.extensions import db as database
from ruihe_saas.tenancy import tenant_context
from tests.conftest import csrf_from, login
from tests.factories import PASSWORD, member
from tests.unit.imports.files import ROWS, csv_bytes, with_cell


@dataclass
class Place:
    tenant_id: uuid.UUID
    slug: str
    estate_id: uuid.UUID
    other_estate_id: uuid.UUID

    def page(self, estate_id=None, suffix="/import") -> str:
        return f"/t/{self.slug}/estates/{estate_id or self.estate_id}{suffix}"


@pytest.fixture
def owner(db):
    return member(Role.OWNER)


@pytest.fixture
def place(owner) -> Place:
    with tenant_context(owner.tenant_id):
        estate_services.ensure_default_categories()
        estate = estate_services.create_estate({"name": "模二厂生活小区", "code": "MOER"})
        other = estate_services.create_estate({"name": "地质一大队生活小区", "code": "DZ1"})
    return Place(owner.tenant_id, owner.tenant.slug, estate.id, other.id)


@pytest.fixture
def english(client):
    client.set_cookie("lang", "en")


def member_of(place: Place, role: Role, *estate_ids):
    from ruihe_saas.tenancy.models import Tenant

    membership = member(role, tenant=database.session.get(Tenant, place.tenant_id))
    with tenant_context(place.tenant_id):
        for estate_id in estate_ids:
            database.session.add(MembershipEstate(membership_id=membership.id, estate_id=estate_id))
        database.session.flush()
    return membership


def logged_in(client, membership):
    response = login(client, membership.user.email, PASSWORD)
    assert response.status_code == 302
    return client


def post_file(client, place, data: bytes, name="households.csv", estate_id=None, **fields):
    url = place.page(estate_id)
    token = csrf_from(client, place.page())
    return client.post(
        url,
        data={"csrf_token": token, "file": (io.BytesIO(data), name), **fields},
        content_type="multipart/form-data",
    )


def households(place: Place, estate_id=None) -> int:
    with tenant_context(place.tenant_id):
        return database.session.scalar(
            select(func.count())
            .select_from(Household)
            .where(Household.estate_id == (estate_id or place.estate_id))
        )


def error_rows(html: str) -> list[tuple[str, str, str]]:
    table = re.search(r'data-testid="import-errors">(.*?)</table>', html, re.S)
    assert table, html
    body = table.group(1).split("</thead>")[1]
    return [
        tuple(re.sub(r"<.*?>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row))
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_the_page_explains_the_format_and_links_the_templates(client, place, owner):
    admin = member_of(place, Role.ESTATE_ADMIN, place.estate_id)
    html = logged_in(client, admin).get(place.page()).get_data(as_text=True)
    assert 'data-testid="import-columns"' in html
    for header in ("楼栋", "房号", "面积", "业主", "电话", "车位"):
        assert f"<td>{header}</td>" in html
    assert 'enctype="multipart/form-data"' in html and 'name="dry_run"' in html
    assert place.page(suffix="/import/template.xlsx") in html
    assert place.page(suffix="/import/template.csv") in html
    assert "低保" in html  # the tenant's categories
    assert 'data-testid="copy-estate"' not in html  # estate admins cannot create estates


def test_templates_download(client, place, owner):
    logged_in(client, owner)
    xlsx = client.get(place.page(suffix="/import/template.xlsx"))
    assert xlsx.status_code == 200
    assert load_workbook(io.BytesIO(xlsx.data)).sheetnames == ["房屋", "说明"]
    assert "attachment" in xlsx.headers["Content-Disposition"]
    csv_template = client.get(place.page(suffix="/import/template.csv"))
    assert csv_template.mimetype == "text/csv"
    assert csv_template.data.decode("utf-8-sig").startswith("楼栋,楼层数,")


def test_bad_rows_re_render_with_every_error_and_nothing_saved(client, place, owner, english):
    logged_in(client, owner)
    rows = with_cell(ROWS, 1, "面积", "abc")
    rows = with_cell(rows, 3, "楼层", "12")
    response = post_file(client, place, csv_bytes(rows, encoding="gbk"))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "2 errors; nothing was imported" in html
    assert error_rows(html) == [
        ("3", "面积", "Not a number."),
        ("5", "楼层", "Above the building&#39;s 11 floors."),
    ]
    assert households(place) == 0


def households_page(app, place: Place) -> str:
    if "estates.households" in app.view_functions:  # the estate pages' household list
        return place.page(suffix="/households")
    return f"/t/{place.slug}/estates/"


def test_a_valid_file_imports_and_redirects_to_the_households(app, client, place, owner, english):
    logged_in(client, owner)
    response = post_file(client, place, csv_bytes(ROWS))
    assert response.status_code == 303
    assert response.headers["Location"] == households_page(app, place)
    assert households(place) == 5
    landed = client.get(response.headers["Location"])
    assert landed.status_code == 200
    text = landed.get_data(as_text=True)
    assert "Imported 5 rows: 5 households created, 0 updated, 0 unchanged" in text

    again = post_file(client, place, csv_bytes(ROWS))
    assert again.status_code == 303
    assert "0 households created, 0 updated, 5 unchanged" in client.get(
        again.headers["Location"]
    ).get_data(as_text=True)


def test_dry_run_shows_the_counts_and_saves_nothing(client, place, owner, english):
    logged_in(client, owner)
    response = post_file(client, place, csv_bytes(ROWS), dry_run="y")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'data-testid="import-result"' in html
    assert re.search(r"<th>Households</th><td>5</td><td>0</td><td>0</td>", html)
    assert households(place) == 0


def test_file_problems_show_on_the_file_field(client, place, owner, english):
    logged_in(client, owner)
    empty = post_file(client, place, b"", name="x.csv")
    assert empty.status_code == 422
    assert "The file is empty." in empty.get_data(as_text=True)
    token = csrf_from(client, place.page())
    missing = client.post(place.page(), data={"csrf_token": token})
    assert missing.status_code == 422
    assert "Choose a file." in missing.get_data(as_text=True)
    assert households(place) == 0


def test_no_csrf_token_no_import(client, place, owner):
    logged_in(client, owner)
    response = client.post(
        place.page(),
        data={"file": (io.BytesIO(csv_bytes(ROWS)), "x.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400  # CSRFProtect refuses it before the view
    assert households(place) == 0


@pytest.mark.parametrize("role", [Role.VIEWER, Role.FINANCE, Role.CASHIER])
def test_roles_without_edit_estate_data_get_403(client, place, role):
    someone = member_of(place, role, *([place.estate_id] if role == Role.CASHIER else []))
    logged_in(client, someone)
    for suffix in ("/import", "/import/template.xlsx", "/import/template.csv"):
        assert client.get(place.page(suffix=suffix)).status_code == 403
    token = csrf_from(client, "/account/password")
    response = client.post(
        place.page(),
        data={"csrf_token": token, "file": (io.BytesIO(csv_bytes(ROWS)), "x.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 403
    assert households(place) == 0


def test_another_tenants_member_gets_404(client, place):
    stranger = member(Role.OWNER)
    logged_in(client, stranger)
    for suffix in ("/import", "/import/template.xlsx", "/import/template.csv"):
        assert client.get(place.page(suffix=suffix)).status_code == 404
    # the estate id under the stranger's own tenant is unknown as well
    own = f"/t/{stranger.tenant.slug}/estates/{place.estate_id}/import"
    assert client.get(own).status_code == 404
    token = csrf_from(client, "/account/password")
    response = client.post(
        place.page(),
        data={"csrf_token": token, "file": (io.BytesIO(csv_bytes(ROWS)), "x.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 404
    copy = client.post(
        place.page(suffix="/copy"), data={"csrf_token": token, "name": "X", "code": "X1"}
    )
    assert copy.status_code == 404
    assert households(place) == 0


def test_an_estate_admin_sees_only_their_estate(client, place):
    admin = member_of(place, Role.ESTATE_ADMIN, place.estate_id)
    logged_in(client, admin)
    for suffix in ("/import", "/import/template.xlsx", "/import/template.csv"):
        url = place.page(place.other_estate_id, suffix)
        assert client.get(url).status_code == 404
    refused = post_file(client, place, csv_bytes(ROWS), estate_id=place.other_estate_id)
    assert refused.status_code == 404
    assert households(place, place.other_estate_id) == 0
    assert post_file(client, place, csv_bytes(ROWS)).status_code == 303
    assert households(place) == 5


def test_anonymous_is_sent_to_login(client, place):
    response = client.get(place.page())
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_copy_the_layout_to_a_new_estate(client, place, owner, english):
    logged_in(client, owner)
    post_file(client, place, csv_bytes(ROWS))
    html = client.get(place.page()).get_data(as_text=True)
    assert 'data-testid="copy-estate"' in html
    token = csrf_from(client, place.page())
    response = client.post(
        place.page(suffix="/copy"),
        data={"csrf_token": token, "name": "新小区", "code": "NEW1", "address": "建宁街道"},
    )
    assert response.status_code == 303
    with tenant_context(place.tenant_id):
        estate = database.session.scalar(select(Estate).where(Estate.code == "NEW1"))
        names = [b.name for b in estate_services.buildings_of(estate)]
        household_count = database.session.scalar(
            select(func.count()).select_from(Household).where(Household.estate_id == estate.id)
        )
    assert (estate.name, estate.address, names, household_count) == (
        "新小区", "建宁街道", ["1栋", "2栋"], 0
    )  # fmt: skip
    assert response.headers["Location"] == place.page(estate.id)
    assert "新小区" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_copy_with_a_taken_code_re_renders_with_the_error(client, place, owner, english):
    logged_in(client, owner)
    token = csrf_from(client, place.page())
    response = client.post(
        place.page(suffix="/copy"), data={"csrf_token": token, "name": "X", "code": "DZ1"}
    )
    assert response.status_code == 422
    assert "Already taken." in response.get_data(as_text=True)
    with tenant_context(place.tenant_id):
        assert database.session.scalar(select(func.count()).select_from(Building)) == 0
        assert database.session.scalar(select(func.count()).select_from(Estate)) == 2


def test_an_estate_admin_cannot_copy(client, place):
    admin = member_of(place, Role.ESTATE_ADMIN, place.estate_id)
    logged_in(client, admin)
    token = csrf_from(client, place.page())
    response = client.post(
        place.page(suffix="/copy"), data={"csrf_token": token, "name": "X", "code": "X1"}
    )
    assert response.status_code == 403


def test_a_long_error_list_is_cut_on_the_page(client, place, owner, english, monkeypatch):
    from ruihe_saas.imports import views

    monkeypatch.setattr(views, "SHOWN_ERRORS", 2)
    logged_in(client, owner)
    rows = [with_cell(ROWS, i, "面积", "abc")[i] for i in range(5)]
    response = post_file(client, place, csv_bytes(rows))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert [row for row, _column, _message in error_rows(html)] == ["2", "3"]
    assert "…and 3 more errors" in html
    assert "5 errors; nothing was imported" in html


def test_households_left_out_of_the_file_are_mentioned(client, place, owner, english):
    logged_in(client, owner)
    post_file(client, place, csv_bytes(ROWS))
    response = post_file(client, place, csv_bytes(ROWS[:3]))
    text = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "2 households of the estate are not in the file; they were left alone." in text
    assert households(place) == 5
