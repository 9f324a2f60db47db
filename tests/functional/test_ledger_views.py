"""Finance pages: dashboard, reports (with downloads), manual entries, improvement
spending, entries and reversal, chart of accounts, period close and reopen; permissions,
estate scope, form errors and no 500 on junk."""

from __future__ import annotations

import csv
import io
import json
import re
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.extensions import db as database
from ruihe_saas.ledger.models import Account, JournalEntry, PeriodClose
from ruihe_saas.tenancy import tenant_context
from tests.conftest import csrf_from, login
from tests.estate_factories import scope_member
from tests.factories import PASSWORD, member
from tests.functional.test_ledger_api import build_books

JULY = "from=2024-07-01&to=2024-07-31"


@pytest.fixture
def world(db):
    owner = member(Role.OWNER)
    north, south = build_books(owner)
    finance = member(Role.FINANCE, tenant=owner.tenant)
    admin = member(Role.ESTATE_ADMIN, tenant=owner.tenant)
    scope_member(admin, north)
    cashier = member(Role.CASHIER, tenant=owner.tenant)
    return owner, finance, admin, cashier, north, south


def signed_in(client, membership) -> str:
    login(client, membership.user.email, PASSWORD)
    return f"/t/{membership.tenant.slug}/finance"


def text(response) -> str:
    return response.get_data(as_text=True)


def account_id(membership, role: str) -> str:
    with tenant_context(membership.tenant_id):
        return str(database.session.scalar(select(Account.id).where(Account.role == role)))


def entry_count(membership) -> int:
    with tenant_context(membership.tenant_id):
        return database.session.scalar(select(func.count()).select_from(JournalEntry))


def test_dashboard_renders_charts_data(client, world):
    _owner, finance, _admin, _cashier, north, south = world
    base = signed_in(client, finance)
    response = client.get(f"{base}/?from=2024-07&to=2024-08")
    assert response.status_code == 200
    html = text(response)
    assert "vendor/echarts/echarts.min.js" in html and "js/finance.js" in html
    assert 'id="finance-chart-data"' in html and "<script>" not in html
    assert 'data-testid="total-income">2,999.00' in html  # July 2000 + August 999
    assert 'data-testid="nav-payouts"' in html  # the gateway's payouts, for the whole tenant
    payload = re.search(
        r'<script type="application/json" id="finance-chart-data">(.*?)</script>', html, re.S
    ).group(1)
    chart = json.loads(payload)
    assert [s["name"] for s in chart["income"]][:2] == [north.name, south.name]
    assert len(chart["income"]) == 3  # and the collective economy
    assert chart["income"][0]["data"] == ["1200.00", "999.00"]
    assert client.get(f"{base}/?from=2024-13").status_code == 422
    assert client.get(f"{base}/?from=2024-09&to=2024-01").status_code == 422
    static = client.get("/static/vendor/echarts/echarts.min.js")
    assert static.status_code == 200
    static.close()


def test_income_statement_page_and_downloads(client, world):
    _owner, finance, _admin, _cashier, north, _south = world
    base = signed_in(client, finance)
    page = client.get(f"{base}/reports/income-statement?{JULY}")
    assert page.status_code == 200
    html = text(page)
    assert html.count('data-testid="entity-column"') == 3
    assert 'data-testid="elimination-column"' in html
    assert 'data-testid="net-income">1,500.00' in html
    one = text(client.get(f"{base}/reports/income-statement?{JULY}&estate_id={north.id}"))
    assert 'data-testid="elimination-column"' not in one
    csv_file = client.get(f"{base}/reports/income-statement?{JULY}&format=csv")
    assert csv_file.status_code == 200 and csv_file.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(csv_file.get_data().decode("utf-8-sig"))))
    assert rows[0][0] == "科目编码" and rows[-1][-1] == "1500.00"
    xlsx = client.get(f"{base}/reports/income-statement?{JULY}&format=xlsx")
    book = load_workbook(io.BytesIO(xlsx.get_data()), read_only=True)
    first_row = next(book.worksheets[0].iter_rows(values_only=True))
    assert first_row[0] == "科目编码" and "抵销" in first_row


@pytest.mark.parametrize(
    "name", ["trial-balance", "balance-sheet", "improvement-fund", "public-revenue", "receivables"]
)
def test_other_reports_render_and_download(client, world, name):
    _owner, finance, _admin, _cashier, north, _south = world
    base = signed_in(client, finance)
    response = client.get(f"{base}/reports/{name}?{JULY}&estate_id={north.id}")
    assert response.status_code == 200, name
    assert 'data-testid="report"' in text(response)
    for fmt in ("csv", "xlsx"):
        download = client.get(f"{base}/reports/{name}?{JULY}&estate_id={north.id}&format={fmt}")
        assert download.status_code == 200
        assert "attachment" in download.headers["Content-Disposition"]


def test_public_revenue_statement_is_printable(client, world):
    _owner, finance, _admin, _cashier, north, _south = world
    base = signed_in(client, finance)
    html = text(client.get(f"{base}/reports/public-revenue?{JULY}&estate_id={north.id}"))
    assert 'data-testid="total-in">200.00' in html
    assert "data-print" in html and "css/finance.css" in html


@pytest.mark.parametrize(
    "query",
    [
        "from=2024-13-01",
        "to=junk",
        "from=2024-08-01&to=2024-07-01",
        "estate_id=nonsense",
        "format=pdf",
        "as_of=3000-01-01",
        "from=%00%ff",
    ],
)
def test_bad_filters_show_errors_not_500(client, world, query):
    finance = world[1]
    base = signed_in(client, finance)
    for name in ("income-statement", "balance-sheet", "public-revenue", "receivables"):
        response = client.get(f"{base}/reports/{name}?{query}")
        assert response.status_code in (200, 422), (name, query)
        if response.status_code == 422:
            assert 'data-testid="filter-errors"' in text(response)


def test_unknown_report_and_foreign_estate_404(client, world):
    finance = world[1]
    base = signed_in(client, finance)
    assert client.get(f"{base}/reports/nope").status_code == 404
    assert client.get(f"{base}/reports/trial-balance?estate_id={uuid.uuid4()}").status_code == 404
    assert client.get(f"{base}/entries/{uuid.uuid4()}").status_code == 404


def test_permissions_and_estate_scope(client, app, world):
    owner, _finance, admin, cashier, north, south = world
    base = signed_in(client, cashier)
    assert client.get(f"{base}/").status_code == 403
    client = app.test_client()
    base = signed_in(client, admin)
    html = text(client.get(f"{base}/reports/income-statement?{JULY}"))
    assert html.count('data-testid="entity-column"') == 1
    assert south.name not in html and "社区集体经济" not in html
    assert 'data-testid="nav-payouts"' not in html  # payouts are the collective economy's
    assert client.get(f"{base}/reports/trial-balance?estate_id={south.id}").status_code == 404
    assert client.get(f"{base}/reports/trial-balance?estate_id=collective").status_code == 404
    assert client.get(f"{base}/entries/new/expense").status_code == 403
    periods = text(client.get(f"{base}/periods?period=2024-07"))
    assert (
        periods.count('data-testid="close-row"') == 1
        and 'data-testid="close-button"' not in periods
    )
    assert client.get(f"{base}/accounts").status_code == 200


def test_expense_and_income_entries(client, world):
    owner, finance, _admin, _cashier, north, _south = world
    base = signed_in(client, finance)
    form_page = client.get(f"{base}/entries/new/expense")
    assert form_page.status_code == 200 and "6401 人工" in text(form_page)
    assert "1122" not in text(form_page)  # 应收 is for automatic postings
    token = csrf_from(client, f"{base}/entries/new/expense")
    data = {
        "csrf_token": token,
        "estate": str(north.id),
        "account": account_id(owner, "wages"),
        "amount": "3200.00",
        "entry_date": "2024-08-31",
        "pay_from": "bank",
        "reference": "GZ-2024-08",
        "memo": "8月工资",
    }
    response = client.post(f"{base}/entries/new/expense", data=data)
    assert response.status_code == 302, text(response)
    shown = client.get(response.headers["Location"])
    assert "GZ-2024-08" in text(shown) and "3,200.00" in text(shown)
    income = dict(
        data,
        account=account_id(owner, "public_revenue"),
        amount="88.80",
        reference="CD-08",
        memo="充电桩收益",
    )
    assert client.post(f"{base}/entries/new/income", data=income).status_code == 302
    assert client.get(f"{base}/entries/new/transfer").status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": "abc"}, "amount"),
        ({"amount": "-5"}, "amount"),
        ({"amount": ""}, "amount"),
        ({"reference": ""}, "reference"),
        ({"entry_date": "2024-02-30"}, "entry_date"),
        ({"entry_date": "2999-01-01"}, "entry_date"),
        ({"estate": "junk"}, "estate"),
        ({"account": "junk"}, "account"),
        ({"account": "income"}, "account"),
        ({"memo": "m" * 400}, "memo"),
    ],
)
def test_entry_form_errors_store_nothing(client, world, change, field):
    owner, finance, _admin, _cashier, north, _south = world
    base = signed_in(client, finance)
    token = csrf_from(client, f"{base}/entries/new/expense")
    data = {
        "csrf_token": token,
        "estate": str(north.id),
        "account": account_id(owner, "wages"),
        "amount": "10",
        "entry_date": "2024-08-31",
        "pay_from": "bank",
        "reference": "R",
        "memo": "",
    }
    data.update(change)
    if data["account"] == "income":
        data["account"] = account_id(owner, "property_income")
    before = entry_count(owner)
    response = client.post(f"{base}/entries/new/expense", data=data)
    assert response.status_code == 422
    assert f'id="{field}-errors"' in text(response)
    assert entry_count(owner) == before


def test_improvement_spending(client, world):
    owner, finance, _admin, _cashier, north, _south = world
    base = signed_in(client, finance)
    token = csrf_from(client, f"{base}/periods?period=2024-07")
    closed = client.post(
        f"{base}/periods/2024-07/close", data={"csrf_token": token, "entity": str(north.id)}
    )
    assert closed.status_code == 302
    page = text(client.get(f"{base}/improvement/new"))
    assert "550.00" in page  # the July surplus went to the fund
    token = csrf_from(client, f"{base}/improvement/new")
    data = {
        "csrf_token": token,
        "estate": str(north.id),
        "memo": "新建凉亭",
        "amount": "600",
        "entry_date": "2024-08-20",
        "pay_from": "bank",
        "reference": "GZ-1",
    }
    too_much = client.post(f"{base}/improvement/new", data=data)
    assert too_much.status_code == 422 and "550.00" in text(too_much)
    ok = client.post(f"{base}/improvement/new", data=dict(data, amount="300"))
    assert ok.status_code == 302
    fund = text(
        client.get(
            f"{base}/reports/improvement-fund?estate_id={north.id}&from=2024-07-01&to=2024-08-31"
        )
    )
    assert 'data-testid="closing">250.00' in fund and "新建凉亭" in fund


def test_reverse_from_the_entry_page(client, world):
    owner, finance, *_ = world
    base = signed_in(client, finance)
    with tenant_context(owner.tenant_id):
        entry_id = database.session.scalar(
            select(JournalEntry.id).where(JournalEntry.reference == "T").limit(1)
        )
    page = client.get(f"{base}/entries/{entry_id}")
    assert 'data-testid="reverse-form"' in text(page)
    token = csrf_from(client, f"{base}/entries/{entry_id}")
    empty = client.post(f"{base}/entries/{entry_id}/reverse", data={"csrf_token": token})
    assert empty.status_code == 422
    done = client.post(
        f"{base}/entries/{entry_id}/reverse",
        data={"csrf_token": token, "reason": "录错", "entry_date": "2024-08-01"},
    )
    assert done.status_code == 302
    assert 'data-testid="reversed"' in text(client.get(f"{base}/entries/{entry_id}"))
    listing = client.get(f"{base}/entries?source=reversal&from=junk")
    assert listing.status_code == 422
    assert client.get(f"{base}/entries?source=reversal").status_code == 200


def test_chart_of_accounts(client, world):
    owner, finance, *_ = world
    base = signed_in(client, finance)
    page = client.get(f"{base}/accounts")
    assert page.status_code == 200 and "改造基金" in text(page)
    token = csrf_from(client, f"{base}/accounts")
    bad = client.post(
        f"{base}/accounts",
        data={"csrf_token": token, "code": "12", "name": "安保", "type": "expense"},
    )
    assert bad.status_code == 422 and 'id="code-errors"' in text(bad)
    junk = client.post(
        f"{base}/accounts",
        data={"csrf_token": token, "code": "6409", "name": "安保", "type": "junk"},
    )
    assert junk.status_code == 422
    ok = client.post(
        f"{base}/accounts",
        data={"csrf_token": token, "code": "6409", "name": "安保", "type": "expense"},
    )
    assert ok.status_code == 302
    with tenant_context(owner.tenant_id):
        new = database.session.scalar(select(Account).where(Account.code == "6409"))
        assert new.active
    toggled = client.post(f"{base}/accounts/{new.id}/active", data={"csrf_token": token})
    assert toggled.status_code == 302
    with tenant_context(owner.tenant_id):
        assert database.session.scalar(select(Account.active).where(Account.id == new.id)) is False
    wages = account_id(owner, "wages")
    assert (
        client.post(f"{base}/accounts/{wages}/active", data={"csrf_token": token}).status_code
        == 302
    )
    with tenant_context(owner.tenant_id):
        assert database.session.scalar(select(Account.active).where(Account.role == "wages"))


def test_close_and_reopen_pages(client, app, world):
    owner, finance, _admin, _cashier, north, _south = world
    base = signed_in(client, finance)
    page = client.get(f"{base}/periods?period=2024-07")
    html = text(page)
    assert page.status_code == 200 and html.count('data-testid="close-row"') == 3
    assert "550.00" in html  # North's surplus, all to the fund
    token = csrf_from(client, f"{base}/periods?period=2024-07")
    assert (
        client.post(
            f"{base}/periods/2024-07/close", data={"csrf_token": token, "entity": "collective"}
        ).status_code
        == 302
    )
    again = client.post(
        f"{base}/periods/2024-07/close", data={"csrf_token": token, "entity": "collective"}
    )
    assert again.status_code == 422
    assert (
        client.post(
            f"{base}/periods/2024-07/close", data={"csrf_token": token, "entity": "junk"}
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"{base}/periods/2024-13/close", data={"csrf_token": token, "entity": "collective"}
        ).status_code
        == 422
    )
    assert (
        client.post(
            f"{base}/periods/2024-07/reopen",
            data={"csrf_token": token, "entity": "collective", "reason": "x"},
        ).status_code
        == 403
    )
    assert client.get(f"{base}/periods?period=junk").status_code == 422
    client = app.test_client()
    base = signed_in(client, owner)
    token = csrf_from(client, f"{base}/periods?period=2024-07")
    html = text(client.get(f"{base}/periods?period=2024-07"))
    assert 'data-testid="reopen-form"' in html
    empty = client.post(
        f"{base}/periods/2024-07/reopen",
        data={"csrf_token": token, "entity": "collective", "reason": ""},
    )
    assert empty.status_code == 422
    done = client.post(
        f"{base}/periods/2024-07/reopen",
        data={"csrf_token": token, "entity": "collective", "reason": "补录"},
    )
    assert done.status_code == 302
    with tenant_context(owner.tenant_id):
        close = database.session.scalar(select(PeriodClose))
        assert close.reopen_reason == "补录"
    assert "补录" in text(client.get(f"{base}/periods?period=2024-07"))


JUNK = st.one_of(
    st.sampled_from(["", " ", "0", "-1", "1e309", "NaN", "9" * 40, "2024-02-30", "'; DROP", "Ø",
                     "collective", "2024-07", "income-statement", "csv", "xlsx"]),
    st.text(max_size=30),
)  # fmt: skip
FIELDS = [
    "estate", "account", "amount", "entry_date", "pay_from", "reference", "memo", "code",
    "name", "type", "reason", "entity", "period", "from", "to", "as_of", "format", "source",
    "estate_id", "page",
]  # fmt: skip


@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(values=st.fixed_dictionaries({name: JUNK for name in FIELDS}))
def test_no_finance_page_answers_500_on_junk(app, client, world, values):
    owner, _finance, _admin, _cashier, north, _south = world
    if not getattr(client, "signed_in_for_junk", False):
        signed_in(client, owner)
        client.signed_in_for_junk = True
    token = csrf_from(client, f"/t/{owner.tenant.slug}/finance/accounts")
    with tenant_context(owner.tenant_id):
        entry_id = database.session.scalar(select(JournalEntry.id).limit(1))
    ids = {
        "entry_id": entry_id,
        "account_id": account_id(owner, "wages"),
        "period": "2024-07",
        "name": "income-statement",
        "kind": "expense",
    }
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("ledger."):
            continue
        url = re.sub(r"<(?:[a-z]+:)?(\w+)>", lambda m: str(ids.get(m.group(1), "x")), rule.rule)
        url = url.replace("<tenant_slug>", owner.tenant.slug).replace(
            "/t/x/", f"/t/{owner.tenant.slug}/"
        )
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if method == "GET":
                response = client.get(url, query_string=values)
            else:
                response = client.post(url, data={**values, "csrf_token": token})
            assert response.status_code < 500, (method, url, values)
            response.close()
