"""Cash-up pages: a cashier's day, closing it (CSRF, confirmation), the printable sheet,
finance's overview; roles, bad input, tenant isolation."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.extensions import db as database
from ruihe_saas.payments.models import CashUpDay, RefundMethod
from ruihe_saas.tenancy import tenant_context
from tests.conftest import CSRF_RE, login
from tests.factories import PASSWORD, member
from tests.unit.cashup.builders import DAY, make_desk


@pytest.fixture
def desk(db):
    desk = make_desk()
    cash = desk.pay("100.00", "cash")
    desk.pay("35.50", "wechat_qr", household=1, reference="WX-1")
    desk.pay("12.00", "cash", cashier=desk.other_cashier)
    desk.refund(cash, "10.00", method=RefundMethod.CASH)
    return desk


def signed_in(client, membership) -> str:
    login(client, membership.user.email, PASSWORD)
    return f"/t/{membership.tenant.slug}/cash-up"


def text(response) -> str:
    return response.get_data(as_text=True)


def count_testid(html: str, name: str) -> int:
    return len(re.findall(rf'data-testid="{name}"', html))


def closed_count(desk) -> int:
    with tenant_context(desk.tenant_id):
        return database.session.scalar(select(func.count()).select_from(CashUpDay))


def csrf(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match
    return match.group(1) or match.group(2)


def test_day_page_shows_totals_payments_and_the_close_form(client, desk):
    base = signed_in(client, desk.cashier)
    response = client.get(f"{base}?date={DAY}")
    assert response.status_code == 200
    html = text(response)
    assert count_testid(html, "method-row") == 5 and count_testid(html, "payment-row") == 2
    assert 'data-method="cash" data-net="90.00"' in html
    assert 'data-received="135.50" data-refunded="10.00" data-net="125.50"' in html
    assert "WX-1" in html and "1栋" in html and count_testid(html, "refund-row") == 1
    assert count_testid(html, "close-form") == 1 and count_testid(html, "day-open") == 1
    assert f"/cash-up/sheet?date={DAY}" in html
    assert "<script>" not in html and " style=" not in html
    assert count_testid(html, "overview-link") == 0  # cashiers have no overview


def test_close_works_with_confirmation(client, desk):
    base = signed_in(client, desk.cashier)
    page = text(client.get(f"{base}?date={DAY}"))
    token = csrf(page)
    form = {"csrf_token": token, "date": DAY.isoformat(), "cashier_id": str(desk.cashier.user_id)}
    unconfirmed = client.post(f"{base}/close", data=form)
    assert unconfirmed.status_code == 422 and closed_count(desk) == 0
    assert "Tick the box" in text(unconfirmed) or "勾选" in text(unconfirmed)
    no_csrf = client.post(f"{base}/close", data={**form, "csrf_token": "", "confirm": "y"})
    assert no_csrf.status_code in (400, 422) and closed_count(desk) == 0
    done = client.post(f"{base}/close", data={**form, "confirm": "y", "note": "已清点"})
    assert done.status_code == 302
    assert f"date={DAY}" in done.headers["Location"]
    assert closed_count(desk) == 1
    html = text(client.get(done.headers["Location"]))
    assert count_testid(html, "day-closed") == 1 and count_testid(html, "close-form") == 0
    assert "已清点" in html and count_testid(html, "closed-day") == 0  # DAY is > 31 days ago
    again = client.post(f"{base}/close", data={**form, "confirm": "y"})
    assert again.status_code == 409 and closed_count(desk) == 1


def test_cashier_cannot_close_or_see_another_cashiers_day(client, desk):
    base = signed_in(client, desk.cashier)
    other = desk.other_cashier.user_id
    assert client.get(f"{base}?date={DAY}&cashier_id={other}").status_code == 403
    assert client.get(f"{base}/sheet?date={DAY}&cashier_id={other}").status_code == 403
    token = csrf(text(client.get(f"{base}?date={DAY}")))
    response = client.post(
        f"{base}/close",
        data={
            "csrf_token": token,
            "date": DAY.isoformat(),
            "cashier_id": str(other),
            "confirm": "y",
        },
    )
    assert response.status_code == 403 and closed_count(desk) == 0
    # the overview is finance's: a cashier is sent to their own day
    overview = client.get(f"{base}/overview?date={DAY}")
    assert overview.status_code == 302 and f"date={DAY}" in overview.headers["Location"]


def test_finance_overview_and_closing_a_cashiers_day(client, desk):
    base = signed_in(client, desk.finance)
    response = client.get(f"{base}/overview?date={DAY}")
    assert response.status_code == 200
    html = text(response)
    assert count_testid(html, "overview-row") == 2 and 'data-closed="no"' in html
    assert "收款员甲" in html and "收款员乙" in html
    other = desk.other_cashier.user_id
    page = text(client.get(f"{base}?date={DAY}&cashier_id={other}"))
    assert count_testid(page, "close-form") == 1 and count_testid(page, "payment-row") == 1
    done = client.post(
        f"{base}/close",
        data={
            "csrf_token": csrf(page),
            "date": DAY.isoformat(),
            "cashier_id": str(other),
            "confirm": "y",
        },
    )
    assert done.status_code == 302 and closed_count(desk) == 1
    html = text(client.get(f"{base}/overview?date={DAY}"))
    assert html.count('data-closed="yes"') == 1 and html.count('data-closed="no"') == 1
    empty = text(client.get(f"{base}/overview?date={DAY + timedelta(days=3)}"))
    assert count_testid(empty, "overview-row") == 0


def test_printable_sheet(client, desk):
    base = signed_in(client, desk.cashier)
    response = client.get(f"{base}/sheet?date={DAY}")
    assert response.status_code == 200
    html = text(response)
    assert count_testid(html, "cashup-sheet") == 1 and count_testid(html, "print") == 1
    assert desk.owner.tenant.name in html and DAY.isoformat() in html and "收款员甲" in html
    assert count_testid(html, "sheet-payment") == 2 and count_testid(html, "sheet-refund") == 1
    assert count_testid(html, "sheet-signatures") == 1
    assert ("Cashier signature" in html and "Finance signature" in html) or (
        "收款员签字" in html and "财务签字" in html
    )
    numbers = re.findall(r"RC-2024-\d{6}", html)
    receipts = re.search(r'data-testid="sheet-receipts">([^<]+)<', html).group(1)
    assert min(numbers) in receipts and max(numbers) in receipts
    assert 'data-received="135.50" data-refunded="10.00" data-net="125.50"' in html
    assert "js/arrears.js" in html  # the print button's script (CSP: no inline script)


@pytest.mark.parametrize("query", ["date=2024-02-30", "date=soon", "date=1900-01-01"])
def test_bad_date_is_422_with_the_message(client, desk, query):
    base = signed_in(client, desk.finance)
    for path in ("", "/sheet", "/overview"):
        response = client.get(f"{base}{path}?{query}")
        assert response.status_code == 422, path
        assert count_testid(text(response), "filter-errors") == 1


def test_bad_close_form_is_not_a_500(client, desk):
    base = signed_in(client, desk.cashier)
    token = csrf(text(client.get(f"{base}?date={DAY}")))
    for data in (
        {"date": "x", "confirm": "y"},
        {"date": "2024-02-30", "confirm": "y"},
        {"date": DAY.isoformat(), "cashier_id": "zzz", "confirm": "y"},
        {"date": DAY.isoformat(), "confirm": "y", "note": "长" * 300},
    ):
        response = client.post(f"{base}/close", data={"csrf_token": token, **data})
        assert response.status_code in (404, 422), data
    assert closed_count(desk) == 0


def test_unknown_cashier_and_other_tenants_are_404(client, desk):
    stranger = member(Role.FINANCE)
    base = signed_in(client, stranger)
    ours = f"/t/{desk.owner.tenant.slug}/cash-up"
    for path in (f"?date={DAY}", f"/sheet?date={DAY}", f"/overview?date={DAY}"):
        assert client.get(f"{ours}{path}").status_code == 404
    # their own tenant, naming our cashier: not one of theirs
    cashier = desk.cashier.user_id
    assert client.get(f"{base}?date={DAY}&cashier_id={cashier}").status_code == 404
    assert client.get(f"{base}/sheet?date={DAY}&cashier_id={cashier}").status_code == 404
    assert count_testid(text(client.get(f"{base}/overview?date={DAY}")), "overview-row") == 0


def test_viewer_has_no_cash_up(client, desk):
    viewer = member(Role.VIEWER, tenant=desk.owner.tenant)
    base = signed_in(client, viewer)
    assert client.get(base).status_code == 403
    assert client.get(f"{base}/sheet").status_code == 403


JUNK = ["", " ", "\x00", "'; DROP TABLE payments; --", "9" * 400, "2024-06-10T00:00", "-1", "长"]


def test_junk_input_is_never_a_500(client, desk):
    base = signed_in(client, desk.finance)
    token = csrf(text(client.get(f"{base}?date={DAY}")))
    for value in JUNK:
        values = {"date": value, "cashier_id": value, "note": value, "confirm": value}
        for path in ("", "/sheet", "/overview"):
            response = client.get(f"{base}{path}", query_string=values)
            assert response.status_code < 500, (path, value)
        response = client.post(f"{base}/close", data={**values, "csrf_token": token})
        assert response.status_code < 500, value
    assert closed_count(desk) == 0
