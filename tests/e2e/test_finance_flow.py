"""Finance opens the dashboard (charts drawn by the vendored ECharts), filters a period,
opens the consolidated income statement and downloads it as XLSX — through Chromium, in
Chinese."""

from __future__ import annotations

import pytest
from openpyxl import load_workbook

from ruihe_saas.auth.models import Role
from tests.e2e.conftest import artifact
from tests.factories import PASSWORD, member
from tests.functional.test_ledger_api import build_books

pytestmark = [pytest.mark.browser, pytest.mark.committed]


@pytest.fixture
def finance(db):
    owner = member(Role.OWNER, name="王经理")
    finance = member(Role.FINANCE, tenant=owner.tenant, name="李会计")
    north, south = build_books(owner)
    facts = {
        "email": finance.user.email,
        "slug": owner.tenant.slug,
        "estates": [north.name, south.name],
    }
    db.session.commit()
    return facts


def test_dashboard_filter_statement_and_xlsx(browser_page, finance):
    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda r: errors.append(r.url) if r.status >= 400 else None)
    page.goto("/login")
    page.locator("input[name=email]").fill(finance["email"])
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()
    base = f"/t/{finance['slug']}"

    page.goto(f"{base}/finance/")
    page.get_by_test_id("dashboard-from").fill("2024-07")
    page.get_by_test_id("dashboard-to").fill("2024-08")
    page.get_by_test_id("dashboard-submit").click()
    page.wait_for_load_state()
    assert "from=2024-07" in page.url
    page.locator("#income-chart[data-rendered=true] canvas").first.wait_for()
    page.locator("#rate-chart[data-rendered=true] canvas").first.wait_for()
    assert page.get_by_test_id("total-income").inner_text() == "2,999.00"

    page.get_by_test_id("to-income-statement").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("filter-from").input_value() == "2024-07-01"
    page.get_by_test_id("filter-to").fill("2024-07-31")
    page.get_by_test_id("filter-submit").click()
    page.wait_for_load_state()
    columns = page.get_by_test_id("entity-column").all_inner_texts()
    assert columns[:2] == finance["estates"] and len(columns) == 3
    assert page.get_by_test_id("elimination-column").is_visible()
    assert page.get_by_test_id("net-income").inner_text() == "1,500.00"

    with page.expect_download() as info:
        page.get_by_test_id("download-xlsx").click()
    download = info.value
    assert download.suggested_filename == "income-statement.xlsx"
    path = artifact("finance-income-statement.xlsx")
    download.save_as(path)
    book = load_workbook(path, read_only=True)
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    book.close()
    assert rows[0][0] == "科目编码" and rows[0][-2:] == ("抵销", "合并")
    assert rows[-1][1] == "净收益" and float(rows[-1][-1]) == 1500.0
    assert not errors, errors
