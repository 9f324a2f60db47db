"""An estate admin imports a household file with an error, sees the row errors, fixes the
file, imports it and sees the households — through Chromium, in Chinese."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from ruihe_saas.auth.models import Role
from ruihe_saas.estates import services as estate_services
from ruihe_saas.estates.models import MembershipEstate
from ruihe_saas.tenancy import tenant_context
from tests.e2e.conftest import artifact
from tests.factories import PASSWORD, member
from tests.unit.imports.files import ROWS, csv_bytes, with_cell

pytestmark = [pytest.mark.browser, pytest.mark.committed]


@pytest.fixture
def estate_admin(db):
    """An estate admin scoped to the Mo'er estate (a second estate exists), committed."""
    owner = member(Role.OWNER, name="王经理")
    admin = member(Role.ESTATE_ADMIN, tenant=owner.tenant, name="周管理员")
    with tenant_context(owner.tenant_id):
        estate_services.ensure_default_categories()
        estate = estate_services.create_estate({"name": "模二厂生活小区", "code": "MOER"})
        estate_services.create_estate({"name": "地质一大队生活小区", "code": "DZ1"})
        db.session.add(MembershipEstate(membership_id=admin.id, estate_id=estate.id))
        db.session.flush()
    facts = {
        "email": admin.user.email,
        "slug": owner.tenant.slug,
        "estate_id": str(estate.id),
    }
    db.session.commit()
    return facts


def _path(url: str) -> str:
    return urlsplit(url).path


def _submit(page, path: str):
    """Click the import form's button; returns the POST's response."""
    with page.expect_response(
        lambda r: r.request.method == "POST" and _path(r.url) == path
    ) as posted:
        page.get_by_test_id("import-form").locator("button[type=submit]").click()
    page.wait_for_load_state()
    return posted.value


def _choose(page, name: str, data: bytes) -> None:
    page.locator("input[type=file][name=file]").set_input_files(
        files=[{"name": name, "mimeType": "text/csv", "buffer": data}]
    )


def test_import_with_an_error_then_fixed(browser_page, estate_admin, app):
    page = browser_page
    page.goto("/login")
    page.locator("input[name=email]").fill(estate_admin["email"])
    page.locator("input[name=password]").fill(PASSWORD)
    with page.expect_navigation():
        page.locator("form button[type=submit].primary").click()

    import_path = f"/t/{estate_admin['slug']}/estates/{estate_admin['estate_id']}/import"
    response = page.goto(import_path)
    assert response.status == 200
    assert "模二厂生活小区" in page.get_by_test_id("import-title").inner_text()
    assert page.get_by_test_id("template-xlsx").count() == 1
    assert page.get_by_test_id("template-csv").count() == 1

    # 1. A file whose third row has an area of "abc" (GBK, as Excel saves CSV in China).
    broken = csv_bytes(with_cell(ROWS, 1, "面积", "abc"), encoding="gbk")
    _choose(page, "房屋.csv", broken)
    response = _submit(page, import_path)
    assert response.status == 422
    rows = page.get_by_test_id("import-errors").locator("tbody tr")
    assert rows.count() == 1
    cells = rows.first.locator("td").all_inner_texts()
    assert cells[:2] == ["3", "面积"] and cells[2].strip()
    assert page.get_by_test_id("import-summary").is_visible()
    page.screenshot(path=artifact("import-row-errors.png"), full_page=True)

    # 2. The fixed file imports; the admin lands on the estate's households.
    _choose(page, "房屋.csv", csv_bytes(ROWS, encoding="gbk"))
    response = _submit(page, import_path)
    assert response.status == 303
    assert page.locator("p.flash[role=status]").count() == 1
    households_path = import_path.removesuffix("/import") + "/households"
    if "estates.households" in app.view_functions:
        assert _path(page.url) == households_path
        table = page.get_by_test_id("households")
        assert table.locator("tbody tr").count() == 5
        text = table.inner_text()
        for expected in ("101", "1102", "张三", "王五", "赵六"):
            assert expected in text
    else:  # until the household list exists, the import lands on the estate list
        assert _path(page.url) == f"/t/{estate_admin['slug']}/estates/"
        assert "模二厂生活小区" in page.locator("main").inner_text()
    page.screenshot(path=artifact("import-done.png"), full_page=True)
