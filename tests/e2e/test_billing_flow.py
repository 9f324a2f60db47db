"""An estate admin creates a fee schedule, previews a billing run, runs it and sees the
bills — through Chromium, in Chinese."""

from __future__ import annotations

from datetime import date

import pytest

from ruihe_saas.auth.models import Role
from tests.billing_factories import set_stages
from tests.e2e.conftest import artifact
from tests.estate_factories import estate_with_households, scope_member
from tests.factories import PASSWORD, member

pytestmark = [pytest.mark.browser, pytest.mark.committed]


@pytest.fixture
def estate_admin(db):
    owner = member(Role.OWNER, name="王经理")
    admin = member(Role.ESTATE_ADMIN, tenant=owner.tenant, name="周管理员")
    estate = estate_with_households(owner.tenant_id, "MOER", buildings=2, rooms=3)
    set_stages(estate, (date(2024, 1, 1), "full_takeover"))
    scope_member(admin, estate)
    facts = {"email": admin.user.email, "slug": owner.tenant.slug, "estate_id": str(estate.id)}
    db.session.commit()
    return facts


def test_schedule_preview_run_and_bills(browser_page, estate_admin, app, monkeypatch):
    monkeypatch.setitem(app.config, "RUIHE_JOBS_INLINE", True)  # no worker in this test
    page = browser_page
    page.goto("/login")
    page.locator("input[name=email]").fill(estate_admin["email"])
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()
    base = f"/t/{estate_admin['slug']}"
    estate_id = estate_admin["estate_id"]

    page.goto(f"{base}/fees/estates/{estate_id}/new")
    page.get_by_test_id("schedule-name").fill("全面接管收费标准")
    page.get_by_test_id("schedule-effective-from").fill("2024-01-01")
    page.locator("select[name=stages]").select_option("full_takeover")
    page.get_by_test_id("item-0-name").fill("物业服务费")
    page.get_by_test_id("item-0-rate").fill("0.60")
    page.get_by_test_id("item-1-name").fill("垃圾清运费")
    page.get_by_test_id("item-1-charge-kind").select_option("fixed")
    page.get_by_test_id("item-1-rate").fill("10")
    page.get_by_test_id("schedule-save").click()
    page.wait_for_load_state()
    versions = page.get_by_test_id("schedule-version")
    assert versions.count() == 1
    assert versions.first.get_by_test_id("schedule-item").count() == 2

    page.goto(f"{base}/billing/estates/{estate_id}/runs")
    page.get_by_test_id("run-period").fill("2024-07")
    page.get_by_test_id("run-preview").click()
    page.wait_for_load_state()
    status = page.get_by_test_id("run-status")
    status.and_(page.locator("[data-status=succeeded]")).wait_for(timeout=15_000)
    assert "60.00" in page.content()  # 6 households × 10.00 garbage fee in the preview

    page.goto(f"{base}/billing/estates/{estate_id}/runs")
    page.get_by_test_id("run-period").fill("2024-07")
    page.get_by_test_id("run-submit").click()
    page.wait_for_load_state()
    page.get_by_test_id("run-status").and_(page.locator("[data-status=succeeded]")).wait_for(
        timeout=15_000
    )
    page.get_by_test_id("run-bills-link").click()
    page.wait_for_load_state()
    assert page.get_by_test_id("bill-row").count() == 6
    assert "账单" in page.content()
    page.screenshot(path=artifact("billing-bills.png"), full_page=True)
