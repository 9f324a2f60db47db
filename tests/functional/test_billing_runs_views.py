"""Billing run pages: the runs of an estate with the preview / run form, a run with its
progress bar (polled JSON), totals, preview and warnings; errors, permissions, isolation."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ruihe_saas.auth.models import Role
from ruihe_saas.billing.models import Bill, BillingRun, RunStatus
from ruihe_saas.extensions import db as database
from ruihe_saas.tenancy import tenant_context
from tests.conftest import csrf_from, login
from tests.estate_factories import scope_member
from tests.factories import PASSWORD, member
from tests.functional.test_billing_runs_api import billable_estate, count

STATIC_JS = Path(__file__).resolve().parents[2] / "ruihe_saas" / "static" / "js" / "billing.js"


def logged_in(client, membership):
    login(client, membership.user.email, PASSWORD)
    return client


def text(response) -> str:
    return response.get_data(as_text=True)


def url(membership, path: str) -> str:
    return f"/t/{membership.tenant.slug}/billing{path}"


@pytest.fixture(autouse=True)
def inline_jobs(app, monkeypatch):
    """Run the billing job in-process right after the request commits (even with Redis)."""
    monkeypatch.setitem(app.config, "RUIHE_JOBS_INLINE", True)


@pytest.fixture
def owner(db):
    return member(Role.OWNER)


@pytest.fixture
def estate(owner):
    return billable_estate(owner.tenant_id, "PAGE")


def start(client, owner, estate, period="2024-07", button="preview"):
    runs_url = url(owner, f"/estates/{estate.id}/runs")
    data = {"period": period, "csrf_token": csrf_from(client, runs_url)}
    if button:
        data[button] = "x"
    return client.post(runs_url, data=data)


def test_the_runs_page_has_the_form_with_test_ids(client, owner, estate):
    logged_in(client, owner)
    html = text(client.get(url(owner, f"/estates/{estate.id}/runs")))
    for testid in ("run-form", "run-period", "run-preview", "run-submit", "runs"):
        assert f'data-testid="{testid}"' in html, testid
    assert re.search(r'name="period"[^>]*value="\d{4}-\d{2}"', html)  # last month by default


def test_a_preview_runs_and_shows_progress_totals_and_preview(client, owner, estate):
    logged_in(client, owner)
    response = start(client, owner, estate, button="preview")
    assert response.status_code == 302
    run_url = response.headers["Location"]
    html = text(client.get(run_url))
    assert re.search(r'data-testid="run-status" data-status="succeeded"', html)
    assert re.search(r'<progress data-testid="run-progress"[^>]*max="6" value="6"', html)
    assert 'data-code="garbage"' in html and "60.00" in html  # totals per fee item
    assert html.count('data-testid="preview-bill"') >= 1
    assert 'data-testid="preview-buildings"' in html
    assert 'data-testid="run-bills-link"' not in html  # a preview produced no bills
    assert "<script>" not in html and 'src="/static/js/billing.js"' in html
    progress = client.get(run_url + "/progress.json")
    assert progress.status_code == 200 and progress.headers["Cache-Control"] == "no-store"
    assert progress.json == {
        "status": "succeeded",
        "done": 6,
        "total": 6,
        "finished": True,
        "bills_created": 6,
    }
    assert count(owner.tenant_id, Bill) == 0
    listing = text(client.get(url(owner, f"/estates/{estate.id}/runs")))
    assert listing.count('data-testid="run-row"') == 1


def test_issuing_bills_links_to_them(client, owner, estate):
    logged_in(client, owner)
    response = start(client, owner, estate, button="run")
    assert response.status_code == 302
    html = text(client.get(response.headers["Location"]))
    link = re.search(r'href="([^"]+)" data-testid="run-bills-link"', html).group(1)
    assert link.endswith(f"/billing/estates/{estate.id}/bills?period=2024-07")
    bills = text(client.get(link.replace("&amp;", "&")))
    assert bills.count('data-testid="bill-row"') == 6
    assert count(owner.tenant_id, Bill) == 6


def test_enter_without_a_button_previews(client, owner, estate):
    logged_in(client, owner)
    response = start(client, owner, estate, button=None)
    assert response.status_code == 302
    assert count(owner.tenant_id, Bill) == 0


def test_an_active_run_shows_a_live_progress_bar(client, owner, estate):
    with tenant_context(owner.tenant_id):
        run = BillingRun(
            estate_id=estate.id,
            period="2024-07",
            status=RunStatus.RUNNING,
            progress_done=2,
            progress_total=6,
        )
        database.session.add(run)
        database.session.flush()
    logged_in(client, owner)
    html = text(client.get(url(owner, f"/runs/{run.id}")))
    assert 'data-active="true"' in html
    assert re.search(r'<progress data-testid="run-progress"[^>]*max="6" value="2"', html)
    assert f'data-progress-url="/t/{owner.tenant.slug}/billing/runs/{run.id}/progress.json"' in html
    assert 'id="totals"' not in html  # shown once finished
    assert client.get(url(owner, f"/runs/{run.id}/progress.json")).json["finished"] is False
    conflict = start(client, owner, estate, button="run")
    assert conflict.status_code == 409 and 'aria-invalid="true"' in text(conflict)
    assert count(owner.tenant_id, BillingRun) == 1


def test_the_script_polls_every_second_and_updates_the_progress_element():
    script = STATIC_JS.read_text(encoding="utf-8")
    assert "INTERVAL_MS = 1000" in script and "data-progress-url" in script
    assert "[data-run-bar]" in script and "bar.value" in script


@pytest.mark.parametrize("period", ["", "2024-13", "24-07", "1999-12"])
def test_a_bad_period_is_422_in_the_form(client, owner, estate, period):
    logged_in(client, owner)
    response = start(client, owner, estate, period=period)
    assert response.status_code == 422
    assert 'id="period-errors"' in text(response)
    assert count(owner.tenant_id, BillingRun) == 0


@pytest.mark.parametrize("role", [Role.FINANCE, Role.VIEWER])
def test_roles_without_run_billing_see_runs_but_cannot_start(client, owner, estate, role):
    someone = member(role, tenant=owner.tenant)
    logged_in(client, someone)
    html = text(client.get(url(owner, f"/estates/{estate.id}/runs")))
    assert 'data-testid="runs"' in html and 'data-testid="run-form"' not in html
    token = csrf_from(client, url(owner, f"/estates/{estate.id}/runs"))
    response = client.post(
        url(owner, f"/estates/{estate.id}/runs"), data={"period": "2024-07", "csrf_token": token}
    )
    assert response.status_code == 403 and count(owner.tenant_id, BillingRun) == 0


def test_other_tenants_and_estates_get_404(client, owner, estate):
    logged_in(client, owner)
    run_url = start(client, owner, estate).headers["Location"]
    run_path = run_url.split("/billing", 1)[1]
    paths = [run_path, run_path + "/progress.json", f"/estates/{estate.id}/runs"]
    stranger = member(Role.OWNER)
    client.post("/logout", data={"csrf_token": csrf_from(client, url(owner, paths[0]))})
    logged_in(client, stranger)
    for path in paths:
        for through in (owner, stranger):
            assert client.get(url(through, path)).status_code == 404, (through, path)
    other = billable_estate(owner.tenant_id, "ELSE")
    admin = member(Role.ESTATE_ADMIN, tenant=owner.tenant)
    scope_member(admin, other)
    client.post("/logout", data={"csrf_token": csrf_from(client, url(stranger, "/estates/x"))})
    logged_in(client, admin)
    for path in paths:
        assert client.get(url(owner, path)).status_code == 404, path
    assert client.get(url(owner, f"/estates/{other.id}/runs")).status_code == 200
