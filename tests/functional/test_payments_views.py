"""Desk payment pages: the take-a-payment form (errors on the form, nothing stored; success
redirects to the payment with its receipt number), the payment page, the list with filters;
permissions, tenant isolation and estate scope."""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from ruihe_saas.auth.models import Role
from ruihe_saas.billing.models import BillStatus
from ruihe_saas.extensions import db as database
from ruihe_saas.payments.models import CashUpDay, Payment
from ruihe_saas.tenancy import tenant_context
from tests.conftest import csrf_from, login
from tests.estate_factories import estate_with_households, scope_member
from tests.factories import PASSWORD, member
from tests.unit.billing.test_bills import World

D = Decimal


def logged_in(client, membership):
    """A fresh client (own cookies) signed in as ``membership``'s user."""
    fresh = client.application.test_client()
    login(fresh, membership.user.email, PASSWORD)
    return fresh


def page(world: World, path: str) -> str:
    return f"/t/{world.owner.tenant.slug}/payments{path}"


def text(response) -> str:
    return response.get_data(as_text=True)


def payments(world: World) -> list[Payment]:
    with tenant_context(world.tenant_id):
        return database.session.scalars(select(Payment)).all()


def rows(html: str, testid: str = "payment-row") -> list[str]:
    return re.findall(rf'<tr data-testid="{testid}"[^>]*>.*?</tr>', html, re.S)


@pytest.fixture
def world(db):
    world = World("PVIEW")
    world.cashier = member(Role.CASHIER, tenant=world.owner.tenant, name="收银员丙")
    scope_member(world.cashier, world.estate)
    world.july = world.bill("2024-07")  # 60 + 40
    world.august = world.bill("2024-08")
    return world


def new_url(world, household=0) -> str:
    return page(world, f"/new?household_id={world.households[household].id}")


def post_form(client, world, data: dict, household=0):
    url = new_url(world, household)
    token = csrf_from(client, url)
    form = {"csrf_token": token, "method": "cash", "amount": "", "reference": "", "note": ""}
    form.update(data)
    return client.post(url, data=form)


def test_the_form_shows_the_open_bills_ticked(client, world):
    client = logged_in(client, world.cashier)
    response = client.get(new_url(world))
    assert response.status_code == 200
    html = text(response)
    assert len(rows(html, "open-bill")) == 2
    assert html.count("checked") == 2
    assert world.july.number in html and world.august.number in html
    assert 'data-testid="household-outstanding">200.00<' in html
    assert 'name="idempotency_key"' in html


def test_a_cash_payment_of_the_ticked_bill_with_a_blank_amount(client, world):
    client = logged_in(client, world.cashier)
    response = post_form(client, world, {"bill_ids": [str(world.august.id)], "note": "前台"})
    assert response.status_code == 302
    [payment] = payments(world)
    assert response.headers["Location"].endswith(f"/payments/{payment.id}")
    assert payment.amount == D("100.00") and payment.unallocated == 0
    with tenant_context(world.tenant_id):
        database.session.refresh(world.august)
        database.session.refresh(world.july)
        assert (world.july.status, world.august.status) == (BillStatus.OPEN, BillStatus.PAID)
    shown = client.get(response.headers["Location"])
    html = text(shown)
    number = re.search(r'data-testid="receipt-number">([^<]+)<', html).group(1)
    assert re.match(r"^RC-\d{4}-\d{6}$", number)
    assert number in html.split('data-testid="receipt-number"')[0]  # the flash names it
    assert len(rows(html, "allocation-row")) == 2
    assert 'data-testid="payment-credit">0.00<' in html


def test_an_overpayment_by_pos_card_becomes_prepaid_credit(client, world):
    client = logged_in(client, world.cashier)
    response = post_form(
        client,
        world,
        {
            "bill_ids": [str(world.july.id), str(world.august.id)],
            "amount": "250",
            "method": "pos_card",
            "reference": "POS-0001",
            "paid_at": "2024-08-01T10:30",
        },
    )
    assert response.status_code == 302
    [payment] = payments(world)
    assert (payment.unallocated, payment.reference) == (D("50.00"), "POS-0001")
    assert str(payment.business_date) == "2024-08-01"
    html = text(client.get(response.headers["Location"]))
    assert 'data-testid="payment-credit">50.00<' in html
    assert "2024-08-01 10:30" in html


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"amount": "-5"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "1.234"}, "amount"),
        ({"amount": "abc"}, "amount"),
        ({"method": "bank_transfer", "amount": "10"}, "reference"),
        ({"method": "online", "amount": "10"}, "method"),
        ({"amount": "10", "paid_at": "2999-01-01T10:00"}, "paid_at"),
        ({"amount": "10", "paid_at": "not a time"}, "paid_at"),
        ({"amount": "10", "bill_ids": [str(uuid.uuid4())]}, "bill_ids"),
        ({"amount": "10", "reference": "x" * 101}, "reference"),
    ],
)
def test_form_errors_are_shown_and_nothing_is_stored(client, world, data, message):
    client = logged_in(client, world.cashier)
    response = post_form(client, world, data)
    assert response.status_code == 422
    html = text(response)
    assert 'role="alert"' in html
    if message != "bill_ids":
        assert f'id="{message}-errors"' in html, message
    assert payments(world) == []


def test_another_households_bill_is_not_a_choice(client, world):
    neighbours = world.bill("2024-07", household=1)
    client = logged_in(client, world.cashier)
    response = post_form(client, world, {"amount": "10", "bill_ids": [str(neighbours.id)]})
    assert response.status_code == 422 and payments(world) == []


def test_a_closed_cash_up_day_is_an_error_on_the_form(client, world):
    from datetime import date

    with tenant_context(world.tenant_id):
        database.session.add(
            CashUpDay(cashier_id=world.cashier.user_id, business_date=date(2024, 8, 1))
        )
        database.session.flush()
    client = logged_in(client, world.cashier)
    response = post_form(client, world, {"amount": "10", "paid_at": "2024-08-01T10:00"})
    assert response.status_code == 422
    assert 'id="paid_at-errors"' in text(response)
    assert payments(world) == []


def test_a_double_submit_records_one_payment(client, world):
    client = logged_in(client, world.cashier)
    url = new_url(world)
    html = text(client.get(url))
    token = csrf_from(client, url)
    key = re.search(r'name="idempotency_key" type="hidden" value="([^"]+)"', html)
    key = key or re.search(
        r'id="idempotency_key" name="idempotency_key" type="hidden" value="([^"]+)"', html
    )
    assert key, html
    form = {"csrf_token": token, "method": "cash", "amount": "30", "idempotency_key": key.group(1)}
    first = client.post(url, data=form)
    second = client.post(url, data=form)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    assert len(payments(world)) == 1
    changed = client.post(url, data={**form, "amount": "31"})
    assert changed.status_code == 422
    assert key.group(1) not in text(changed)  # a fresh key for a fresh try
    assert len(payments(world)) == 1


def test_the_list_filters(client, world):
    client = logged_in(client, world.cashier)
    post_form(client, world, {"amount": "10", "paid_at": "2024-07-01T09:00"})
    post_form(
        client,
        world,
        {
            "amount": "20",
            "method": "alipay_qr",
            "reference": "ALI-1",
            "paid_at": "2024-07-03T09:00",
        },
        household=1,
    )
    client = logged_in(client, world.owner)
    html = text(client.get(page(world, "/")))
    assert len(rows(html)) == 2
    cases = {
        "?method=alipay_qr": 1,
        "?method=cash": 1,
        f"?estate_id={world.estate.id}": 2,
        f"?household_id={world.households[0].id}": 1,
        "?from=2024-07-02": 1,
        "?to=2024-07-02": 1,
        f"?cashier_id={world.cashier.user_id}": 2,
        f"?cashier_id={world.owner.user_id}": 0,
        "?method=nonsense&estate_id=nope": 2,
    }
    for query, expected in cases.items():
        response = client.get(page(world, f"/{query}"))
        assert response.status_code == 200, query
        assert len(rows(text(response))) == expected, query
    bad = client.get(page(world, "/?from=2024-99-01&to=x"))
    assert bad.status_code == 422 and len(rows(text(bad))) == 2
    inverted = client.get(page(world, "/?from=2024-07-03&to=2024-07-01"))
    assert inverted.status_code == 422


def test_permissions(client, world):
    viewer = member(Role.VIEWER, tenant=world.owner.tenant)
    client = logged_in(client, viewer)
    assert client.get(page(world, "/")).status_code == 403
    assert client.get(new_url(world)).status_code == 403
    finance = member(Role.FINANCE, tenant=world.owner.tenant)
    client = logged_in(client, finance)
    assert client.get(page(world, "/")).status_code == 200
    assert client.get(new_url(world)).status_code == 403


def test_other_tenants_and_estates_are_404(client, world):
    client = logged_in(client, world.cashier)
    post_form(client, world, {"amount": "10"})
    [payment] = payments(world)
    other = World("PVIEW2")
    client = logged_in(client, other.owner)
    assert client.get(f"/t/{other.owner.tenant.slug}/payments/{payment.id}").status_code == 404
    foreign = f"/t/{other.owner.tenant.slug}/payments/new?household_id={world.households[0].id}"
    assert client.get(foreign).status_code == 404
    assert client.get(page(world, "/")).status_code == 404  # not a member there
    # a scoped cashier: another estate's household and payment
    elsewhere = estate_with_households(world.tenant_id, "FAR", buildings=1, rooms=1)
    with tenant_context(world.tenant_id):
        from ruihe_saas.estates.services import list_households

        far = list_households(elsewhere, 1, 1).items[0]
    client = logged_in(client, world.owner)
    made = client.post(
        page(world, f"/new?household_id={far.id}"),
        data={
            "csrf_token": csrf_from(client, page(world, f"/new?household_id={far.id}")),
            "method": "cash",
            "amount": "5",
        },
    )
    assert made.status_code == 302
    client = logged_in(client, world.cashier)
    assert client.get(made.headers["Location"]).status_code == 404
    assert client.get(page(world, f"/new?household_id={far.id}")).status_code == 404
    for bad in ("/new", "/new?household_id=nope", f"/new?household_id={uuid.uuid4()}"):
        assert client.get(page(world, bad)).status_code == 404
    assert client.get(page(world, f"/{uuid.uuid4()}")).status_code == 404
    assert len(rows(text(client.get(page(world, "/"))))) == 1
    assert len(payments(world)) == 2


JUNK = ["", " ", "0", "-1", "1e309", "NaN", "Infinity", "9" * 40, "2024-02-30", "'; DROP", "Ø"]
FIELDS = [
    "estate_id", "household_id", "method", "from", "to", "cashier_id", "page", "amount",
    "reference", "paid_at", "note", "bill_ids", "idempotency_key",
]  # fmt: skip


@pytest.mark.parametrize("junk", JUNK)
def test_junk_never_answers_500(client, world, junk):
    client = logged_in(client, world.cashier)
    values = dict.fromkeys(FIELDS, junk)
    assert client.get(page(world, "/"), query_string=values).status_code in {200, 422}
    new = new_url(world)
    assert client.get(page(world, "/new"), query_string=values).status_code == 404
    token = csrf_from(client, new)
    response = client.post(new, data={**values, "csrf_token": token})
    assert response.status_code == 422
    assert client.post(page(world, "/new"), data={**values, "csrf_token": token}).status_code == 404
    assert payments(world) == []
