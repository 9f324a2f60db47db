"""A cashier opens a household's pay link (with its QR code); a resident, signed out, opens
the link, chooses a bill, pays and lands on the (stand-in) Stripe checkout page — through
Chromium, in Chinese."""

from __future__ import annotations

import pytest

from ruihe_saas.auth.models import Role
from tests.e2e.conftest import TIMEOUT_MS, artifact
from tests.estate_factories import scope_member
from tests.factories import PASSWORD, member
from tests.stripe_standin import (  # noqa: F401 (fixtures)
    enable_gateway,
    household_with_bills,
    standin_fixture,
    standin_server_fixture,
)

pytestmark = [pytest.mark.browser, pytest.mark.committed]


@pytest.fixture
def household(db, stripe_standin):
    owner = member(Role.OWNER, name="王经理")
    cashier = member(Role.CASHIER, tenant=owner.tenant, name="李收银")
    estate, household, bills = household_with_bills(owner.tenant_id, "MOER")
    scope_member(cashier, estate)
    enable_gateway(owner.tenant_id, payment_methods=["card", "alipay", "wechat_pay"])
    facts = {
        "email": cashier.user.email,
        "slug": owner.tenant.slug,
        "household_id": str(household.id),
        "room": household.room,
        "bills": [(str(b.id), b.number) for b in bills],
    }
    db.session.commit()
    return facts


def test_resident_pays_through_the_pay_link(
    browser_page, chromium_browser, household, stripe_standin, live_server
):
    page = browser_page
    page.goto("/login")
    page.locator("input[name=email]").fill(household["email"])
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()

    page.goto(f"/t/{household['slug']}/online/households/{household['household_id']}/pay-link")
    assert page.get_by_test_id("pay-qr").is_visible()
    link = page.get_by_test_id("pay-url").inner_text().strip()
    assert link.startswith(f"{live_server}/pay/")

    # the resident: another browser, never signed in
    resident = chromium_browser.new_context(locale="zh-CN")
    resident.set_default_timeout(TIMEOUT_MS)
    try:
        pay = resident.new_page()
        pay.goto(link)
        assert pay.get_by_test_id("pay-household").inner_text().endswith(household["room"])
        rows = pay.get_by_test_id("pay-bill")
        assert rows.count() == 2
        (first_id, first_number), (second_id, _) = household["bills"]
        pay.locator(f"input[value='{second_id}']").uncheck()  # pay the older bill only
        pay.get_by_test_id("pay-submit").click()
        pay.wait_for_url(f"{stripe_standin.base_url}/checkout/cs_test_*")
        assert pay.locator("h1").inner_text() == "Stand-in checkout"
        [sent] = stripe_standin.creates()
        assert sent.body["line_items[0][price_data][unit_amount]"] == "12050"
        assert "line_items[1][price_data][unit_amount]" not in sent.body
        assert sent.body["metadata[bill_ids]"] == first_id
        assert first_number in sent.body["line_items[0][price_data][product_data][name]"]

        # back from the checkout page (Stripe fills in the session id)
        session_id = pay.locator("#session").inner_text()
        success = sent.body["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
        pay.goto(success)
        assert pay.get_by_test_id("pay-success-status").is_visible()
        pay.screenshot(path=artifact("resident_pay_success.png"), full_page=True)
    finally:
        resident.close()
