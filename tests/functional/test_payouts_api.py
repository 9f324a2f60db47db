"""Gateway payouts on the web: ``GET /api/v1/t/<slug>/payouts``, the page
``/t/<slug>/online/payouts`` (owners and finance; 403 for roles without the ledger, 404 for
estate-scoped members and across tenants) and the ``payout.paid`` webhook, whose job records
the payout through the same service as the reconciliation."""

from __future__ import annotations

import json
import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.auth.services import issue_token
from ruihe_saas.extensions import db as database
from ruihe_saas.jobs.models import JobRecord
from ruihe_saas.ledger.checks import run_checks
from ruihe_saas.online.payouts import record_payout
from ruihe_saas.payments.gateway import PayoutInfo, PayoutTransaction
from ruihe_saas.payments.models import GatewayEvent, GatewayPayout
from ruihe_saas.tenancy import tenant_context
from tests.conftest import bearer, login
from tests.estate_factories import estate_with_households, scope_member
from tests.factories import PASSWORD, member
from tests.localstripe import stripe_signature
from tests.stripe_standin import (  # noqa: F401 (fixtures)
    WEBHOOK_SECRET,
    enable_gateway,
    standin_fixture,
    standin_server_fixture,
)

D = Decimal


def auth(membership) -> dict:
    return bearer(issue_token(membership.user, days=1))


def api(membership, path: str = "/payouts", slug: str | None = None) -> str:
    return f"/api/v1/t/{slug or membership.tenant.slug}{path}"


def paid(tenant_id, payout_id: str, amount: int, fees: int, day=date(2024, 7, 20)):
    with tenant_context(tenant_id):
        row, _ = record_payout(
            PayoutInfo(payout_id, amount, "cny", day, "paid", connected_account=None),
            [PayoutTransaction("txn_1", "charge", amount + fees, fees)],
        )
        return row


@pytest.fixture
def world(db):
    owner = member(Role.OWNER)
    tenant = owner.tenant
    finance = member(Role.FINANCE, tenant=tenant)
    cashier = member(Role.CASHIER, tenant=tenant)
    admin = member(Role.ESTATE_ADMIN, tenant=tenant)
    estate = estate_with_households(owner.tenant_id, "PY", buildings=1, rooms=1)
    scope_member(admin, estate)
    stranger = member(Role.OWNER)
    paid(owner.tenant_id, "po_old", 9940, 60, date(2024, 7, 1))
    paid(owner.tenant_id, "po_new", 19880, 120, date(2024, 8, 1))
    paid(stranger.tenant_id, "po_theirs", 500, 5)
    return {
        "owner": owner,
        "finance": finance,
        "cashier": cashier,
        "admin": admin,
        "stranger": stranger,
    }


# --- API -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "finance"])
def test_owners_and_finance_list_the_payouts(client, world, role):
    who = world[role]
    response = client.get(api(who), headers=auth(who))
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["total"], body["page"], body["per_page"]) == (2, 1, 20)
    newest = body["items"][0]
    assert [item["payout_id"] for item in body["items"]] == ["po_new", "po_old"]
    assert {k: newest[k] for k in ("amount", "fees", "gross", "currency", "status")} == {
        "amount": "198.80",
        "fees": "1.20",
        "gross": "200.00",
        "currency": "cny",
        "status": "paid",
    }
    assert newest["arrival_date"] == "2024-08-01" and newest["source"] == "reconcile"
    with tenant_context(who.tenant_id):
        row = database.session.scalar(
            select(GatewayPayout).where(GatewayPayout.payout_id == "po_new")
        )
    assert newest["journal_entry_id"] == str(row.journal_entry_id)
    page = client.get(api(who) + "?per_page=1&page=2", headers=auth(who)).json
    assert [item["payout_id"] for item in page["items"]] == ["po_old"]


def test_roles_without_the_ledger_get_403_and_scoped_members_404(client, world):
    assert client.get(api(world["cashier"]), headers=auth(world["cashier"])).status_code == 403
    scoped = client.get(api(world["admin"]), headers=auth(world["admin"]))
    assert scoped.status_code == 404 and scoped.json["error"]["code"] == "not_found"
    assert client.get(api(world["owner"])).status_code == 401


def test_another_tenant_sees_only_its_own_and_gets_404_for_ours(client, world):
    stranger, owner = world["stranger"], world["owner"]
    theirs = client.get(api(stranger), headers=auth(stranger)).json
    assert [item["payout_id"] for item in theirs["items"]] == ["po_theirs"]
    ours = client.get(api(stranger, slug=owner.tenant.slug), headers=auth(stranger))
    assert ours.status_code == 404


def test_bad_paging_is_422(client, world):
    owner = world["owner"]
    for query in ("?page=0", "?per_page=101", "?page=x"):
        response = client.get(api(owner) + query, headers=auth(owner))
        assert response.status_code == 422, query


def test_the_openapi_document_has_the_payouts(client):
    spec = client.get("/api/v1/openapi.json").json
    operation = spec["paths"]["/api/v1/t/{tenant_slug}/payouts"]["get"]
    assert "200" in operation["responses"]


# --- the page ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "finance"])
def test_the_page_lists_payouts_with_their_entries(client, world, role):
    who = world[role]
    login(client, who.user.email, PASSWORD)
    page = client.get(f"/t/{who.tenant.slug}/online/payouts")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-payout="po_new"' in html and 'data-payout="po_old"' in html
    assert "198.80" in html and "1.20" in html and "200.00" in html
    assert "po_theirs" not in html
    assert html.index("po_new") < html.index("po_old")
    assert f'href="/t/{who.tenant.slug}/finance/entries/{row_entry(who, "po_new")}"' in html


def row_entry(who, payout_id: str) -> uuid.UUID:
    with tenant_context(who.tenant_id):
        return database.session.scalar(
            select(GatewayPayout.journal_entry_id).where(GatewayPayout.payout_id == payout_id)
        )


def signed_in(app, who):
    client = app.test_client()  # a client of its own: a session per user
    login(client, who.user.email, PASSWORD)
    return client


def test_the_page_refuses_others(app, client, world):
    url = f"/t/{world['owner'].tenant.slug}/online/payouts"
    assert signed_in(app, world["cashier"]).get(url).status_code == 403
    assert signed_in(app, world["admin"]).get(url).status_code == 404
    stranger = signed_in(app, world["stranger"])
    assert stranger.get(url).status_code == 404
    mine = stranger.get(f"/t/{world['stranger'].tenant.slug}/online/payouts")
    html = mine.get_data(as_text=True)
    assert mine.status_code == 200 and "po_theirs" in html and "po_new" not in html


def test_an_empty_list_and_the_link_from_the_gateway_settings(client, db):
    owner = member(Role.OWNER)
    login(client, owner.user.email, PASSWORD)
    empty = client.get(f"/t/{owner.tenant.slug}/online/payouts")
    assert empty.status_code == 200 and 'data-testid="no-payouts"' in empty.get_data(as_text=True)
    settings = client.get(f"/t/{owner.tenant.slug}/online/gateway").get_data(as_text=True)
    assert f'href="/t/{owner.tenant.slug}/online/payouts"' in settings


# --- the payout.paid webhook ---------------------------------------------------------------


def _event(
    payout: dict,
    account: str | None = None,
    event_id: str | None = None,
    event_type: str = "payout.paid",
) -> dict:
    event = {
        "id": event_id or f"evt_test_{uuid.uuid4().hex[:16]}",
        "object": "event",
        "type": event_type,
        "created": payout.get("created", 0),
        "data": {"object": payout},
        "livemode": False,
    }
    if account:
        event["account"] = account
    return event


def _signed(client, event: dict):
    body = json.dumps(event).encode()
    return client.post(
        "/stripe/webhook",
        data=body,
        headers={
            "Content-Type": "application/json",
            "Stripe-Signature": stripe_signature(body, WEBHOOK_SECRET),
        },
    )


@pytest.fixture
def inline_jobs(app):
    saved = app.config["RUIHE_JOBS_INLINE"]
    app.config["RUIHE_JOBS_INLINE"] = True  # the job runs when the request commits
    yield
    app.config["RUIHE_JOBS_INLINE"] = saved


def _count(tenant_id, model) -> int:
    with tenant_context(tenant_id):
        return database.session.scalar(select(func.count()).select_from(model))


def test_payout_paid_records_the_payout_through_a_job(client, stripe_standin, inline_jobs):
    owner = member(Role.OWNER)
    enable_gateway(owner.tenant_id)  # platform mode: the platform account's payouts
    payout = stripe_standin.add_payout(9940, fees=(60,))
    event = _event(payout)

    response = _signed(client, event)

    assert response.status_code == 200
    assert response.json["outcome"] == "payout_queued"
    with tenant_context(owner.tenant_id):
        row = database.session.scalar(select(GatewayPayout))
        assert (row.payout_id, row.amount, row.fees, row.gross, row.source) == (
            payout["id"],
            D("99.40"),
            D("0.60"),
            D("100.00"),
            "webhook",
        )
        job = database.session.scalar(select(JobRecord))
        assert job.result == {"payout_id": payout["id"], "outcome": "recorded"}
    paths = [r.path for r in stripe_standin.requests]
    assert paths == [f"/v1/payouts/{payout['id']}", "/v1/balance_transactions"]
    # the same event again, another event for the same payout: nothing more
    assert _signed(client, event).json["outcome"] == "duplicate"
    assert _signed(client, _event(payout)).json["outcome"] == "already_recorded"
    assert _count(owner.tenant_id, GatewayPayout) == 1
    with tenant_context(owner.tenant_id):
        # no online payment here: records and ledger agree that clearing is −100.00
        assert run_checks() == []


def test_payout_failed_reverses_the_recorded_payout(client, stripe_standin, inline_jobs):
    owner = member(Role.OWNER)
    enable_gateway(owner.tenant_id)
    payout = stripe_standin.add_payout(9940, fees=(60,))
    assert _signed(client, _event(payout)).json["outcome"] == "payout_queued"
    payout["status"] = "failed"
    failed = _event(payout, event_type="payout.failed")

    response = _signed(client, failed)

    assert response.status_code == 200 and response.json["outcome"] == "payout_reversed"
    assert _signed(client, failed).json["outcome"] == "duplicate"
    again = _event(payout, event_type="payout.failed")
    assert _signed(client, again).json["outcome"] == "already_failed"
    with tenant_context(owner.tenant_id):
        row = database.session.scalar(select(GatewayPayout))
        assert row.status.value == "failed" and row.reversal_entry_id is not None
        assert run_checks() == []  # clearing is back to what it was: the records agree
    login(client, owner.user.email, PASSWORD)
    page = client.get(f"/t/{owner.tenant.slug}/online/payouts").get_data(as_text=True)
    assert "银行退回" in page and 'data-status="failed"' in page
    token = issue_token(owner.user, days=1)
    listed = client.get(f"/api/v1/t/{owner.tenant.slug}/payouts", headers=bearer(token)).json[
        "items"
    ][0]
    assert listed["status"] == "failed" and listed["reversal_entry_id"] == str(
        row.reversal_entry_id
    )
    # a payout that failed before it was booked needs nothing
    unbooked = stripe_standin.add_payout(5000, fees=(0,), status="failed")
    outcome = _signed(client, _event(unbooked, event_type="payout.failed")).json["outcome"]
    assert outcome == "payout_not_recorded"
    assert _count(owner.tenant_id, GatewayPayout) == 1


def test_a_connected_accounts_payout_event_goes_to_its_tenant(client, stripe_standin, inline_jobs):
    mine, other = member(Role.OWNER), member(Role.OWNER)
    enable_gateway(mine.tenant_id, mode="connect", connected_account_id="acct_webhook1")
    enable_gateway(other.tenant_id, mode="connect", connected_account_id="acct_webhook2")
    payout = stripe_standin.add_payout(4950, fees=(50,), account="acct_webhook1")

    assert _signed(client, _event(payout, "acct_webhook1")).json["outcome"] == "payout_queued"

    assert _count(mine.tenant_id, GatewayPayout) == 1
    assert _count(other.tenant_id, GatewayPayout) == 0
    assert {r.header("Stripe-Account") for r in stripe_standin.requests} == {"acct_webhook1"}


@pytest.mark.parametrize(
    ("change", "account", "outcome"),
    [
        ({}, "acct_nobody1", "unknown_tenant"),  # an account no tenant configured
        ({"status": "in_transit"}, None, "unchanged: in_transit"),
        ({"id": "tr_123"}, None, "no_payout"),
        ({"id": 42}, None, "no_payout"),
        ({"id": "po_" + "x" * 120}, None, "no_payout"),
    ],
    ids=["unknown-account", "in-transit", "not-a-payout", "number", "long-id"],
)
def test_bad_payout_events_change_nothing(
    client, stripe_standin, inline_jobs, change, account, outcome
):
    owner = member(Role.OWNER)
    enable_gateway(owner.tenant_id)
    payout = {**stripe_standin.add_payout(9940, fees=(60,)), **change}
    response = _signed(client, _event(payout, account))
    assert response.status_code == 200
    assert response.json["outcome"] == outcome
    assert _count(owner.tenant_id, GatewayPayout) == 0
    assert _count(owner.tenant_id, JobRecord) == 0
    if outcome == "unknown_tenant":
        assert _count(owner.tenant_id, GatewayEvent) == 0


def test_a_payout_event_without_a_platform_tenant_is_nobodys(client, stripe_standin):
    owner = member(Role.OWNER)  # no gateway settings: the platform account is not theirs
    payout = stripe_standin.add_payout(9940, fees=(60,))
    assert _signed(client, _event(payout)).json["outcome"] == "unknown_tenant"
    assert _count(owner.tenant_id, GatewayPayout) == 0


def test_a_payout_in_another_currency_is_refused_by_the_job(client, stripe_standin, inline_jobs):
    owner = member(Role.OWNER)
    enable_gateway(owner.tenant_id)
    payout = stripe_standin.add_payout(9940, fees=(60,), currency="hkd")
    assert _signed(client, _event(payout)).json["outcome"] == "payout_queued"
    assert _count(owner.tenant_id, GatewayPayout) == 0
    with tenant_context(owner.tenant_id):
        job = database.session.scalar(select(JobRecord))
        assert job.result["outcome"].startswith("refused: ")


def test_a_payout_of_two_estates_checkouts_is_split_between_them(
    client, stripe_standin, inline_jobs
):
    """Two households of two estates pay online (``checkout.session.completed``), one
    payout settles both: each estate's clearing is emptied into its own bank and fees."""
    from ruihe_saas.ledger.models import Account, JournalLine
    from ruihe_saas.ledger.postings import post_bill
    from tests.localstripe import checkout_session, session_completed
    from tests.stripe_standin import household_with_bills

    owner = member(Role.OWNER)
    enable_gateway(owner.tenant_id)
    paid_in = {}
    for code, amounts, intent in (
        ("PW1", (("2024-05", "120.50"), ("2024-06", "80.00")), "pi_web_first"),
        ("PW2", (("2024-05", "60.00"),), "pi_web_second"),
    ):
        estate, household, bills = household_with_bills(owner.tenant_id, code, amounts)
        with tenant_context(owner.tenant_id):
            for bill in bills:
                post_bill(bill)
        session = checkout_session(household, bills)
        database.session.commit()
        assert _signed(client, session_completed(session, intent)).json["outcome"] == "completed"
        paid_in[estate.id] = session.amount
    first, second = paid_in
    payout = stripe_standin.add_payout(
        26050 - 121 - 36,
        charges=((20050, 121, "pi_web_first"), (6000, 36, "pi_web_second")),
    )

    assert _signed(client, _event(payout)).json["outcome"] == "payout_queued"

    with tenant_context(owner.tenant_id):
        per_entity = dict(
            database.session.execute(
                select(JournalLine.estate_id, func.sum(JournalLine.debit - JournalLine.credit))
                .join(Account, Account.id == JournalLine.account_id)
                .where(Account.role == "stripe_clearing")
                .group_by(JournalLine.estate_id)
            ).all()
        )
        fees = dict(
            database.session.execute(
                select(JournalLine.estate_id, func.sum(JournalLine.debit))
                .join(Account, Account.id == JournalLine.account_id)
                .where(Account.role == "payment_fees")
                .group_by(JournalLine.estate_id)
            ).all()
        )
        row = database.session.scalar(select(GatewayPayout))
        assert (row.amount, row.fees, row.gross) == (D("258.93"), D("1.57"), D("260.50"))
        assert run_checks() == []
    assert {k: D(v).quantize(D("0.01")) for k, v in per_entity.items()} == {
        first: D("0.00"),
        second: D("0.00"),
    }
    assert {k: D(v).quantize(D("0.01")) for k, v in fees.items()} == {
        first: D("1.21"),
        second: D("0.36"),
    }
