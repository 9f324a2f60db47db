"""Arrears pages: tenant table, estate arrears, collection rate, household arrears with
chasing records, the printable reminder notice, exports; permissions, isolation, bad input."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from sqlalchemy import func, select

from ruihe_saas.arrears.models import ArrearsChase, ChaseChannel
from ruihe_saas.auth.models import Role
from ruihe_saas.extensions import db as database
from ruihe_saas.payments.services import record_payment
from ruihe_saas.tenancy import tenant_context
from tests.conftest import csrf_from, login
from tests.estate_factories import scope_member
from tests.factories import PASSWORD, member
from tests.unit.arrears.builders import make_site


@pytest.fixture
def world(db):
    """Tenant A: estate RATE (target 90 %) with May and June bills, household 0 paid in
    full; estate OTHER with one bill. Tenant B with an estate of its own."""
    owner = member(Role.OWNER)
    site = make_site(owner.tenant_id, code="RATE", buildings=2, rooms=2, target="90")
    other = make_site(owner.tenant_id, code="OTHER", buildings=1, rooms=1)
    for index in range(4):
        site.bill(index, "2024-05", due=date(2024, 6, 1))
        site.bill(index, "2024-06", due=date(2024, 7, 1))
    other.bill(0, "2024-06", due=date(2024, 7, 1))
    with tenant_context(owner.tenant_id):
        record_payment(site.households[0].id, "220", "cash", paid_at=datetime(2024, 6, 10, 9))
        record_payment(site.households[1].id, "50", "cash", paid_at=datetime(2024, 6, 11, 9))
    stranger = member(Role.OWNER)
    foreign = make_site(stranger.tenant_id, code="FOREIGN", buildings=1, rooms=1)
    return owner, site, other, stranger, foreign


def signed_in(client, membership):
    login(client, membership.user.email, PASSWORD)
    return f"/t/{membership.tenant.slug}/arrears"


def text(response) -> str:
    return response.get_data(as_text=True)


def count_testid(html: str, name: str) -> int:
    return len(re.findall(rf'data-testid="{name}"', html))


def test_tenant_page_shows_rates_and_aging(client, world):
    owner, site, _other, _stranger, _foreign = world
    base = signed_in(client, owner)
    response = client.get(f"{base}/?from=2024-05&to=2024-06&as_of=2024-07-31")
    assert response.status_code == 200
    html = text(response)
    assert count_testid(html, "collection-row") == 2 and count_testid(html, "aging-row") == 2
    # RATE: May 110 + 50 of 440, June 110 of 440; OTHER: June nothing of 110
    assert all(f'data-rate="{rate}"' in html for rate in ("36.36", "25.00", "0.00"))
    assert f"/arrears/estates/{site.estate.id}/" in html
    assert "/arrears/exports/collection-rate.csv?from=2024-05&amp;to=2024-06" in html
    assert 'class="rate below"' in html  # under the 90 % target
    assert "<script>" not in html and " style=" not in html


@pytest.mark.parametrize(
    ("query", "field"),
    [("from=2024-13", "from"), ("from=2024-06&to=2024-05", "from"), ("as_of=2024-02-30", "as_of")],
)
def test_tenant_page_bad_query_is_422_with_the_message(client, world, query, field):
    owner, *_ = world
    base = signed_in(client, owner)
    response = client.get(f"{base}/?{query}")
    assert response.status_code == 422
    html = text(response)
    assert 'data-testid="filter-errors"' in html and f'"field-name">{field}<' in html
    assert count_testid(html, "collection-row") == 2  # still shows the defaults


def test_estate_page_aging_and_households(client, world):
    owner, site, _other, _stranger, _foreign = world
    base = signed_in(client, owner)
    url = f"{base}/estates/{site.estate.id}/"
    html = text(client.get(f"{url}?as_of=2024-07-31"))
    assert count_testid(html, "aging-row") == 2 and count_testid(html, "arrears-household") == 3
    first = site.households[1]
    assert f"/arrears/estates/{site.estate.id}/households/{first.id}/" in html
    assert f"/arrears/estates/{site.estate.id}/collection-rate" in html
    by_building = text(client.get(f"{url}?as_of=2024-07-31&building={site.buildings[0].id}"))
    assert count_testid(by_building, "arrears-household") == 1
    oldest = text(client.get(f"{url}?as_of=2024-07-31&sort=oldest&building=junk&page=x"))
    assert count_testid(oldest, "arrears-household") == 3
    bad = client.get(f"{url}?as_of=31.07.2024")
    assert bad.status_code == 422 and 'data-testid="filter-errors"' in text(bad)


def test_collection_rate_page(client, world):
    owner, site, _other, _stranger, _foreign = world
    base = signed_in(client, owner)
    url = f"{base}/estates/{site.estate.id}/collection-rate"
    response = client.get(f"{url}?period=2024-06")
    assert response.status_code == 200
    html = text(response)
    # June: 110 (household 0) of 440; May arrears 440 at the start, 110 + 50 cleared
    assert 'data-rate="25.00"' in html
    assert 'data-testid="collection-target">90.00%<' in html
    assert 'data-testid="clearance-rate">36.36%<' in html
    assert "65.00" in html  # points short of the target
    assert count_testid(html, "rate-row") == 2 and count_testid(html, "history-row") == 12
    bad = client.get(f"{url}?period=June")
    assert bad.status_code == 422 and '"field-name">period<' in text(bad)


def test_household_page_and_chasing(client, world):
    owner, site, _other, _stranger, _foreign = world
    base = signed_in(client, owner)
    household = site.households[1]
    url = f"{base}/estates/{site.estate.id}/households/{household.id}/"
    html = text(client.get(url))
    assert count_testid(html, "outstanding-bill") == 2 and 'data-testid="chase-form"' in html
    assert 'data-testid="notice-link"' in html and household.label in html
    token = csrf_from(client, url)
    posted = client.post(
        f"{base}/estates/{site.estate.id}/households/{household.id}/chases",
        data={
            "csrf_token": token,
            "chased_on": "2024-07-20",
            "channel": "visit",
            "result": "上门未遇，留下通知单",
            "promised_on": "",
        },
    )
    assert posted.status_code == 302 and posted.headers["Location"].endswith("#chases")
    with tenant_context(owner.tenant_id):
        chase = database.session.scalar(select(ArrearsChase))
        assert (chase.channel, chase.result) == (ChaseChannel.VISIT, "上门未遇，留下通知单")
        assert str(chase.outstanding) == "170.00"  # May 60 + June 110, both overdue
    listed = text(client.get(url))
    assert count_testid(listed, "chase-row") == 1 and "上门未遇" in listed


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"chased_on": "", "channel": "phone"}, "Enter the date of the chase."),
        ({"promised_on": "2024-01-01"}, "Must be on or after the date of the chase."),
        ({"channel": "pigeon"}, "Not a valid choice"),
        ({"chased_on": "2099-01-01"}, "Cannot be in the future or before 2000."),
        ({"result": "长" * 2001}, "2000"),
    ],
)
def test_bad_chase_form_is_422_in_the_form(client, world, changes, message):
    owner, site, _other, _stranger, _foreign = world
    base = signed_in(client, owner)
    household = site.households[1]
    url = f"{base}/estates/{site.estate.id}/households/{household.id}/"
    client.post("/lang/en", data={"csrf_token": csrf_from(client, url)})
    data = {
        "csrf_token": csrf_from(client, url),
        "chased_on": "2024-07-20",
        "channel": "phone",
        "result": "",
    }
    data.update(changes)
    response = client.post(
        f"{base}/estates/{site.estate.id}/households/{household.id}/chases", data=data
    )
    assert response.status_code == 422
    assert message in text(response)
    with tenant_context(owner.tenant_id):
        assert database.session.scalar(select(func.count()).select_from(ArrearsChase)) == 0


def test_reminder_notice(client, world):
    owner, site, _other, _stranger, _foreign = world
    base = signed_in(client, owner)
    household = site.households[2]
    url = f"{base}/estates/{site.estate.id}/households/{household.id}/notice?as_of=2024-07-31"
    response = client.get(url)
    assert response.status_code == 200
    html = text(response)
    assert count_testid(html, "notice-bill") == 2
    assert "220.00" in html and "贰佰贰拾元整" in html
    assert owner.tenant.name in html and household.label in html
    assert "2024年7月31日" in html  # the date as Chinese readers write it
    assert 'data-testid="print"' in html and 'data-testid="notice-text"' in html
    assert "/static/js/arrears.js" in html and "<script>" not in html and " style=" not in html
    nothing = text(client.get(url.replace("2024-07-31", "2024-05-01")))
    assert count_testid(nothing, "notice-bill") == 0 and 'data-testid="notice-total"' not in nothing


def test_a_viewer_reads_but_neither_chases_nor_prints(client, world):
    owner, site, _other, _stranger, _foreign = world
    viewer = member(Role.VIEWER, tenant=owner.tenant)
    base = signed_in(client, viewer)
    household = site.households[1]
    url = f"{base}/estates/{site.estate.id}/households/{household.id}/"
    html = text(client.get(url))
    assert 'data-testid="chase-form"' not in html and 'data-testid="notice-link"' not in html
    assert client.get(f"{url}notice").status_code == 403
    token = csrf_from(client, url)
    direct = client.post(
        f"{base}/estates/{site.estate.id}/households/{household.id}/chases",
        data={"csrf_token": token, "chased_on": "2024-07-20", "channel": "phone"},
    )
    assert direct.status_code == 403


def test_html_exports(client, world):
    owner, site, _other, _stranger, _foreign = world
    base = signed_in(client, owner)
    bills = client.get(f"{base}/exports/bills.csv?estate_id={site.estate.id}&period=2024-06")
    assert bills.status_code == 200 and bills.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(bills.data.decode("utf-8-sig"))))
    assert rows[0][0] == "账单号" and len(rows) == 1 + 4
    arrears = client.get(f"{base}/exports/arrears.xlsx?estate_id={site.estate.id}&as_of=2024-07-31")
    workbook = load_workbook(io.BytesIO(arrears.data), read_only=True)
    assert workbook.sheetnames == ["楼栋账龄 2024-07-31", "欠费户明细"]
    rates = client.get(f"{base}/exports/collection-rate.xlsx?from=2024-06&to=2024-06")
    sheet = load_workbook(io.BytesIO(rates.data), read_only=True)["收缴率"]
    assert [c.value for c in next(sheet.iter_rows(max_row=1))][:3] == ["小区", "楼栋", "账期"]
    assert client.get(f"{base}/exports/bills.csv?period=2024-6").status_code == 422
    assert client.get(f"{base}/exports/arrears.csv?as_of=x").status_code == 422
    assert client.get(f"{base}/exports/bills.pdf").status_code == 404


def _urls(site) -> list[str]:
    estate, household = site.estate.id, site.households[0].id
    return [
        f"/estates/{estate}/",
        f"/estates/{estate}/collection-rate",
        f"/estates/{estate}/households/{household}/",
        f"/estates/{estate}/households/{household}/notice",
        f"/exports/bills.csv?estate_id={estate}",
        f"/exports/bills.xlsx?building_id={site.buildings[0].id}",
        f"/exports/arrears.csv?estate_id={estate}",
        f"/exports/collection-rate.xlsx?estate_id={estate}",
    ]


TENANT_URLS = [
    "/",
    "/exports/bills.csv",
    "/exports/arrears.xlsx",
    "/exports/collection-rate.csv",
]


def test_another_tenants_member_gets_404_everywhere(client, world):
    owner, site, _other, stranger, foreign = world
    signed_in(client, stranger)
    slug = owner.tenant.slug
    for path in _urls(site) + TENANT_URLS:
        assert client.get(f"/t/{slug}/arrears{path}").status_code == 404, path
    # own tenant, ids of tenant A
    own = f"/t/{stranger.tenant.slug}/arrears"
    for path in _urls(site):
        assert client.get(f"{own}{path}").status_code == 404, path
    for path in _urls(foreign):
        assert client.get(f"{own}{path}").status_code == 200, path
    chase = f"{own}/estates/{site.estate.id}/households/{site.households[0].id}/chases"
    token = csrf_from(client, f"{own}/")
    posted = client.post(
        chase, data={"csrf_token": token, "chased_on": "2024-07-01", "channel": "phone"}
    )
    assert posted.status_code == 404


def test_a_scoped_member_gets_404_for_another_estate(client, world):
    owner, site, other, _stranger, _foreign = world
    admin = member(Role.ESTATE_ADMIN, tenant=owner.tenant)
    scope_member(admin, other.estate)
    base = signed_in(client, admin)
    for path in _urls(site):
        assert client.get(f"{base}{path}").status_code == 404, path
    for path in _urls(other):
        assert client.get(f"{base}{path}").status_code == 200, path
    html = text(client.get(f"{base}/"))
    assert count_testid(html, "collection-row") == 1 and other.estate.name in html
    # a household of RATE under OTHER's URL
    mixed = f"{base}/estates/{other.estate.id}/households/{site.households[0].id}/"
    assert client.get(mixed).status_code == 404


JUNK = st.one_of(
    st.sampled_from(["", " ", "0", "-1", "1e309", "NaN", "9" * 40, "2024-02-30", "2024-13", "Ø"]),
    st.text(max_size=20),
)
QUERY_NAMES = [
    "from", "to", "as_of", "period", "sort", "building", "page", "estate_id", "building_id",
    "status",
]  # fmt: skip
FORM_NAMES = ["chased_on", "channel", "result", "promised_on"]


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(values=st.fixed_dictionaries({name: JUNK for name in QUERY_NAMES + FORM_NAMES}))
def test_no_arrears_page_answers_500_to_junk(client, junk_site, values):
    base, site, token = junk_site
    for path in ["/", *_urls(site)]:
        response = client.get(f"{base}{path.split('?')[0]}", query_string=values)
        assert response.status_code < 500, (path, values)
        response.close()
    chase = f"{base}/estates/{site.estate.id}/households/{site.households[0].id}/chases"
    response = client.post(chase, data={**values, "csrf_token": token})
    assert response.status_code in {302, 422}, values


@pytest.fixture
def junk_site(client, world):
    owner, site, *_ = world
    base = signed_in(client, owner)
    return base, site, csrf_from(client, f"{base}/")
