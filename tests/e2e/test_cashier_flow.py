"""A cashier opens a household's take-a-payment form, takes a cash payment and lands on the
payment page with its receipt number — through Chromium, in Chinese. (When the receipts
feature's print button is on that page, the test clicks it too.)"""

from __future__ import annotations

import re

import pytest

from ruihe_saas.auth.models import Role
from ruihe_saas.estates.services import list_households
from ruihe_saas.tenancy import tenant_context
from tests.billing_factories import bill_for, simple_schedule
from tests.e2e.conftest import artifact
from tests.estate_factories import estate_with_households, scope_member
from tests.factories import PASSWORD, member

pytestmark = [pytest.mark.browser, pytest.mark.committed]


@pytest.fixture
def cashier(db):
    owner = member(Role.OWNER, name="王经理")
    cashier = member(Role.CASHIER, tenant=owner.tenant, name="李收银")
    estate = estate_with_households(owner.tenant_id, "CASH", buildings=1, rooms=2)
    scope_member(cashier, estate)
    schedule = simple_schedule(estate)
    with tenant_context(owner.tenant_id):
        household = list_households(estate, 1, 1).items[0]
    july = bill_for(
        household, "2024-07", {"property_service": "60.00", "garbage": "40.00"}, schedule
    )
    bill_for(household, "2024-08", {"property_service": "60.00", "garbage": "40.00"}, schedule)
    facts = {
        "email": cashier.user.email,
        "slug": owner.tenant.slug,
        "household_id": str(household.id),
        "july": july.number,
    }
    db.session.commit()
    return facts


def test_cashier_takes_a_cash_payment(browser_page, cashier):
    page = browser_page
    page.goto("/login")
    page.locator("input[name=email]").fill(cashier["email"])
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()

    page.goto(f"/t/{cashier['slug']}/payments/new?household_id={cashier['household_id']}")
    assert page.get_by_test_id("open-bill").count() == 2
    assert page.get_by_test_id("household-outstanding").inner_text() == "200.00"
    # settle July only, in cash, with the amount left blank (= the ticked bills' total)
    page.get_by_test_id("bill-checkbox").nth(1).uncheck()
    page.get_by_test_id("payment-method").select_option("cash")
    page.get_by_test_id("payment-note").fill("前台现金")
    page.screenshot(path=artifact("cashier-take-payment.png"), full_page=True)
    page.get_by_test_id("payment-submit").click()
    page.wait_for_load_state()

    number = page.get_by_test_id("receipt-number").inner_text()
    assert re.match(r"^RC-\d{4}-\d{6}$", number)
    assert number in page.locator(".flash").first.inner_text()
    assert page.get_by_test_id("payment-amount").inner_text() == "100.00"
    assert page.get_by_test_id("payment-method").inner_text() == "现金"
    assert page.get_by_test_id("allocation-row").count() == 2
    assert cashier["july"] in page.get_by_test_id("allocations").inner_text()
    page.screenshot(path=artifact("cashier-payment.png"), full_page=True)

    print_link = page.get_by_test_id("print-receipt")
    if print_link.count():  # the receipts feature is integrated: its PDF opens
        response = page.request.get(print_link.first.get_attribute("href"))
        assert response.ok and response.headers["content-type"].startswith("application/pdf")
