"""Bill pages: an estate's bills with filters, a bill with lines, credits, late fee and void
forms, the household file's bills and statement; permissions, tenant isolation, estate scope."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.billing.models import BillCredit
from ruihe_saas.extensions import db as database
from ruihe_saas.tenancy import tenant_context
from tests.conftest import csrf_from, login
from tests.estate_factories import scope_member
from tests.factories import PASSWORD, member
from tests.unit.billing.test_bills import World, lines, pay


def logged_in(client, membership):
    login(client, membership.user.email, PASSWORD)
    return client


def page(world: World, path: str) -> str:
    return f"/t/{world.owner.tenant.slug}/billing{path}"


def text(response) -> str:
    return response.get_data(as_text=True)


def rows(html: str, testid: str = "bill-row") -> list[str]:
    return re.findall(rf'<tr data-testid="{testid}"[^>]*>.*?</tr>', html, re.S)


def numbers(html: str) -> set[str]:
    """The bill numbers in the bills table."""
    return {re.search(r">(T\d{8})<", row).group(1) for row in rows(html)}


def credit_count(world: World) -> int:
    with tenant_context(world.tenant_id):
        return database.session.scalar(select(func.count()).select_from(BillCredit))


@pytest.fixture
def world(db):
    world = World("VIEW")
    world.july = world.bill("2024-07")
    world.august = world.bill("2024-08")
    world.other = world.bill("2024-07", household=2)
    return world


def test_the_estate_bills_list_filters(client, world):
    logged_in(client, world.owner)
    base = page(world, f"/estates/{world.estate.id}/bills")
    everything = text(client.get(base))
    assert len(rows(everything)) == 3 and world.july.number in everything
    assert "<td>2024-08</td>" in rows(everything)[0]  # newest period first
    cases = {
        f"?building={world.buildings[1].id}": {world.other.number},
        "?period=2024-08": {world.august.number},
        "?status=open&period=2024-07": {world.july.number, world.other.number},
        "?status=void": set(),
        f"?household={world.households[0].id}&period=2024-07": {world.july.number},
        # values naming nothing of this estate filter nothing
        "?building=nonsense&status=overdue&household=1": {
            world.july.number,
            world.august.number,
            world.other.number,
        },
    }
    for query, expected in cases.items():
        assert numbers(text(client.get(base + query))) == expected, query
    bad = client.get(base + "?period=2024-13")
    assert bad.status_code == 200 and 'aria-invalid="true"' in text(bad)
    assert len(rows(text(bad))) == 3


def test_the_bill_page_shows_lines_formula_credits_and_void_forms(client, world):
    logged_in(client, world.owner)
    garbage = lines(world.july)["garbage"]
    with tenant_context(world.tenant_id):
        garbage.formula = "40.00元/户/月 × 1户 × 31/31天"
        database.session.flush()
    html = text(client.get(page(world, f"/bills/{world.july.id}")))
    assert world.july.number in html and world.households[0].label in html
    assert "40.00元/户/月 × 1户 × 31/31天" in html  # the engine's formula
    assert "60 × 1 × 31/31" in html  # built from the line when there is none
    assert html.count('data-testid="void-line-form"') == 2
    assert 'data-testid="void-bill-form"' in html
    assert 'data-testid="late-fee-note"' not in html  # late fees are off


def test_voiding_through_the_forms(client, world):
    finance = member(Role.FINANCE, tenant=world.owner.tenant)
    logged_in(client, finance)
    bill_url = page(world, f"/bills/{world.july.id}")
    token = csrf_from(client, bill_url)
    garbage = lines(world.july)["garbage"]
    line_url = page(world, f"/bills/{world.july.id}/lines/{garbage.id}/void")
    blank = client.post(line_url, data={"reason": "  ", "csrf_token": token})
    assert blank.status_code == 422
    assert f'id="reason-{garbage.id}-errors"' in text(blank)
    assert credit_count(world) == 0
    done = client.post(line_url, data={"reason": "重复收费", "csrf_token": token})
    assert done.status_code == 302 and done.headers["Location"].endswith(bill_url)
    html = text(client.get(bill_url))
    assert "重复收费" in html and len(rows(html, "credit-row")) == 1
    assert html.count('data-testid="void-line-form"') == 1  # the voided line has no form
    service = lines(world.july)["property_service"]
    pay(world.households[0], "60.00", [(service, "60.00")])
    paid = client.post(
        page(world, f"/bills/{world.july.id}/lines/{service.id}/void"),
        data={"reason": "退费", "csrf_token": token},
    )
    assert paid.status_code == 409  # the page shows why; nothing to void is left unpaid
    assert "refund" in text(paid).lower() or "退款" in text(paid)
    bill_void = client.post(
        page(world, f"/bills/{world.july.id}/void"), data={"reason": "", "csrf_token": token}
    )
    assert bill_void.status_code == 422
    assert credit_count(world) == 1


def test_voiding_a_whole_bill(client, world):
    logged_in(client, world.owner)
    bill_url = page(world, f"/bills/{world.august.id}")
    token = csrf_from(client, bill_url)
    missing = client.post(page(world, f"/bills/{world.august.id}/void"), data={"csrf_token": token})
    assert missing.status_code == 422 and 'id="reason-errors"' in text(missing)
    done = client.post(
        page(world, f"/bills/{world.august.id}/void"),
        data={"reason": "户主已搬离", "csrf_token": token},
    )
    assert done.status_code == 302
    html = text(client.get(bill_url))
    assert 'data-status="void"' in html and len(rows(html, "credit-row")) == 2
    assert 'data-testid="void-bill-form"' not in html
    no_csrf = client.post(page(world, f"/bills/{world.july.id}/void"), data={"reason": "x"})
    assert no_csrf.status_code == 400 and credit_count(world) == 2


def test_a_line_of_another_bill_is_404(client, world):
    logged_in(client, world.owner)
    token = csrf_from(client, page(world, f"/bills/{world.july.id}"))
    other_line = lines(world.august)["garbage"]
    response = client.post(
        page(world, f"/bills/{world.july.id}/lines/{other_line.id}/void"),
        data={"reason": "x", "csrf_token": token},
    )
    assert response.status_code == 404 and credit_count(world) == 0


@pytest.mark.parametrize("role", [Role.ESTATE_ADMIN, Role.CASHIER, Role.VIEWER])
def test_roles_without_void_bills_see_no_forms_and_get_403(client, world, role):
    someone = member(role, tenant=world.owner.tenant)
    scope_member(someone, world.estate) if role != Role.VIEWER else None
    logged_in(client, someone)
    html = text(client.get(page(world, f"/bills/{world.july.id}")))
    assert (
        world.july.number in html and "void-bill-form" not in html and "void-line-form" not in html
    )
    token = csrf_from(client, page(world, f"/bills/{world.july.id}"))
    line = lines(world.july)["garbage"]
    for path in (f"/bills/{world.july.id}/void", f"/bills/{world.july.id}/lines/{line.id}/void"):
        response = client.post(page(world, path), data={"reason": "x", "csrf_token": token})
        assert response.status_code == 403, path
    assert credit_count(world) == 0


def _every_url(world: World) -> list[tuple[str, str]]:
    line = lines(world.july)["garbage"]
    return [
        ("get", f"/estates/{world.estate.id}/bills"),
        ("get", f"/bills/{world.july.id}"),
        ("post", f"/bills/{world.july.id}/void"),
        ("post", f"/bills/{world.july.id}/lines/{line.id}/void"),
        ("get", f"/estates/{world.estate.id}/runs"),
        ("post", f"/estates/{world.estate.id}/runs"),
    ]


def test_another_tenant_gets_404_everywhere(client, world):
    stranger = World("STRANGER")
    logged_in(client, stranger.owner)
    token = csrf_from(client, f"/t/{stranger.owner.tenant.slug}/estates/")
    for method, path in _every_url(world):
        for through in (stranger, world):
            data = {"reason": "x", "period": "2024-07", "csrf_token": token}
            response = getattr(client, method)(
                page(through, path), data=data if method == "post" else None
            )
            assert response.status_code == 404, (through.owner.tenant.slug, path)
    assert credit_count(world) == 0


def test_an_estate_scoped_member_gets_404_for_other_estates(client, world):
    mine = World("MINE", owner=member(Role.OWNER, tenant=world.owner.tenant))
    admin = member(Role.ESTATE_ADMIN, tenant=world.owner.tenant)
    scope_member(admin, mine.estate)
    logged_in(client, admin)
    token = csrf_from(client, page(world, f"/estates/{mine.estate.id}/bills"))
    for method, path in _every_url(world):
        data = {"reason": "x", "period": "2024-07", "csrf_token": token}
        response = getattr(client, method)(
            page(world, path), data=data if method == "post" else None
        )
        assert response.status_code in (404, 403), path
        if method == "get":
            assert response.status_code == 404, path


def test_the_household_file_shows_bills_and_the_statement(client, world):
    household = world.households[0]
    with tenant_context(world.tenant_id):
        from ruihe_saas.billing import bills

        bills.void_line(lines(world.july)["garbage"].id, "重复收费")
    pay(
        household,
        "200.00",
        [(lines(world.july)["property_service"], "60.00")],
        paid_at=datetime(2024, 8, 10, 3, tzinfo=UTC),
    )
    logged_in(client, world.owner)
    html = text(
        client.get(
            f"/t/{world.owner.tenant.slug}/estates/{world.estate.id}/households/{household.id}"
        )
    )
    assert len(rows(html, "household-bill-row")) == 2
    statement = rows(html, "statement-row")
    assert [re.search(r'data-kind="(\w+)"', r).group(1) for r in statement] == [
        "bill",
        "bill",
        "payment",
        "credit",  # credited today
    ]
    balances = [re.findall(r'class="num balance[^"]*">([-\d.]+)<', r)[0] for r in statement]
    assert [Decimal(b) for b in balances] == [Decimal(v) for v in ("100", "200", "0", "-40")]
    assert "重复收费" in html
    assert re.search(r'data-testid="statement-prepaid">140.00<', html)
    assert date(2024, 8, 10).isoformat() in html


def test_a_household_without_bills_has_an_empty_statement(client, world):
    logged_in(client, world.owner)
    html = text(
        client.get(
            f"/t/{world.owner.tenant.slug}/estates/{world.estate.id}/households/"
            f"{world.households[3].id}"
        )
    )
    assert 'id="statement"' in html and "household-bill-row" not in html
    assert re.search(r'data-testid="statement-balance">0(\.00)?<', html)
