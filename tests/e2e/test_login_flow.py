"""Log in, see the tenant's home and members, log out — through Chromium, in Chinese."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from ruihe_saas.auth.models import Role
from tests.e2e.conftest import artifact
from tests.factories import PASSWORD, member

pytestmark = [pytest.mark.browser, pytest.mark.committed]


def _path(url: str) -> str:
    return urlsplit(url).path


@pytest.fixture
def owner(db):
    """An owner and a viewer of one tenant, committed so the server thread sees them."""
    owner = member(Role.OWNER, name="王经理")
    member(Role.VIEWER, tenant=owner.tenant, name="李出纳")
    # Read before the commit expires the objects (a reload outside the tenant's context
    # would be refused by the scoping guard / row-level security).
    facts = {
        "email": owner.user.email,
        "slug": owner.tenant.slug,
        "tenant_name": owner.tenant.name,
    }
    db.session.commit()
    return facts


def _log_in(page, email: str, password: str):
    """Fill and submit the login form; returns the POST's response."""
    page.get_by_label("邮箱", exact=True).fill(email)
    page.get_by_label("密码", exact=True).fill(password)
    with page.expect_response(
        lambda r: r.request.method == "POST" and _path(r.url) == "/login"
    ) as posted:
        page.locator("form button[type=submit].primary").click()
    page.wait_for_load_state()
    return posted.value


def test_login_home_members_logout(browser_page, owner):
    page = browser_page
    page.goto("/login")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "登录" in page.title()
    assert page.locator("h1").inner_text() == "登录"
    assert "瑞和物业云" in page.locator(".brand").inner_text()

    response = _log_in(page, owner["email"], PASSWORD)
    assert response.status == 302

    home = f"/t/{owner['slug']}/"
    assert _path(page.url) == home  # one membership: / redirects to the tenant
    assert page.get_by_test_id("tenant-home").inner_text() == owner["tenant_name"]
    assert page.get_by_test_id("tenant-name").inner_text() == owner["tenant_name"]
    members = page.get_by_test_id("members")
    rows = members.locator("tbody tr")
    assert rows.count() == 2
    table = members.inner_text()
    for text in ("王经理", "李出纳", owner["email"], "负责人", "只读成员"):
        assert text in table
    assert "共 2 名成员" in page.locator("main").inner_text()
    page.screenshot(path=artifact("tenant-home.png"), full_page=True)

    logout = page.get_by_test_id("logout")
    assert logout.inner_text() == "退出登录"
    with page.expect_navigation():
        logout.click()
    assert _path(page.url) == "/login"
    assert page.get_by_test_id("logout").count() == 0

    page.goto(home)
    assert _path(page.url) == "/login"
    assert urlsplit(page.url).query == "next=/t/" + owner["slug"] + "/"
    assert page.locator("h1").inner_text() == "登录"


def test_wrong_password_stays_on_login(browser_page, owner):
    page = browser_page
    page.goto("/login")

    response = _log_in(page, owner["email"], PASSWORD + "-wrong")

    assert response.status == 401  # the form again, no redirect
    assert response.request.redirected_from is None
    assert _path(page.url) == "/login"
    error = page.locator("small.error[role=alert]")
    assert error.inner_text() == "邮箱或密码错误。"
    assert page.locator("input[name=email]").input_value() == owner["email"]
    assert page.locator("input[name=password]").input_value() == ""
    assert page.get_by_test_id("logout").count() == 0


def test_login_page_csp_and_no_console_errors(browser_page):
    page = browser_page
    problems: list[str] = []
    stylesheets = []
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}"))
    page.on(
        "response",
        lambda r: stylesheets.append(r) if _path(r.url) == "/static/css/app.css" else None,
    )

    response = page.goto("/login")
    page.wait_for_load_state("load")

    assert response.status == 200
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert [r.status for r in stylesheets] == [200]
    assert page.evaluate("getComputedStyle(document.querySelector('.topbar')).display") == "flex"
    assert problems == []

    # The browser really enforces it: an inline script added to the page never runs.
    page.evaluate(
        """() => {
            window.__violations = [];
            document.addEventListener('securitypolicyviolation',
                e => window.__violations.push(e.violatedDirective));
            const script = document.createElement('script');
            script.textContent = 'window.__inlineRan = true;';
            document.head.appendChild(script);
        }"""
    )
    page.wait_for_function("window.__violations.length > 0")
    assert page.evaluate("window.__inlineRan === undefined")
    assert page.evaluate("window.__violations")[0].startswith("script-src")
