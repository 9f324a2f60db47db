"""``POST /stripe/webhook``: signatures, exactly-once crediting, and real localstripe traffic."""

from __future__ import annotations

import json
import threading
import time
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from werkzeug.serving import make_server

from ruihe_saas.auth.models import Role
from ruihe_saas.estates.models import Household
from ruihe_saas.extensions import db as database
from ruihe_saas.payments.models import (
    CheckoutSession,
    CheckoutStatus,
    GatewayEvent,
    Payment,
    Receipt,
    Refund,
)
from ruihe_saas.tenancy import tenant_context
from tests import localstripe as _localstripe
from tests.billing_factories import bill_for, simple_schedule
from tests.estate_factories import estate_with_households
from tests.factories import member
from tests.localstripe import (
    WEBHOOK_SECRET,
    card_payment_method,
    checkout_metadata,
    checkout_session,
    free_port,
    register_webhook,
    session_completed,
    stripe_client,
    stripe_event,
    stripe_signature,
    unregister_webhook,
)

# fixtures
localstripe_url = _localstripe.localstripe_url
stripe_config = _localstripe.stripe_config

URL = "/stripe/webhook"


@pytest.fixture
def webhook_secret(app):
    saved = app.config.get("STRIPE_WEBHOOK_SECRET"), app.config.get("STRIPE_WEBHOOK_TOLERANCE")
    app.config.update(STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET, STRIPE_WEBHOOK_TOLERANCE=300)
    yield WEBHOOK_SECRET
    app.config["STRIPE_WEBHOOK_SECRET"], app.config["STRIPE_WEBHOOK_TOLERANCE"] = saved


def _setup(code="WH"):
    owner = member(Role.OWNER)
    estate = estate_with_households(owner.tenant_id, code, buildings=1, rooms=2)
    schedule = simple_schedule(estate)
    with tenant_context(owner.tenant_id):
        household = database.session.scalars(
            select(Household).where(Household.estate_id == estate.id).order_by(Household.room)
        ).first()
    amounts = {"property_service": "90.00", "garbage": "10.00"}
    bills = [bill_for(household, p, amounts, schedule) for p in ("2024-01", "2024-02")]
    session = checkout_session(household, bills)
    return owner.tenant_id, household, bills, session


def _count(tenant_id, model) -> int:
    with tenant_context(tenant_id):
        return database.session.scalar(select(func.count()).select_from(model))


def _post(client, body: bytes, signature: str | None):
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return client.post(URL, data=body, headers=headers)


def _signed(client, event: dict, secret=WEBHOOK_SECRET):
    body = json.dumps(event).encode()
    return _post(client, body, stripe_signature(body, secret))


def _pi() -> str:
    return f"pi_test_{uuid.uuid4().hex[:20]}"


# --- signatures --------------------------------------------------------------------------


def test_bad_signatures_are_refused_and_write_nothing(client, webhook_secret):
    tenant_id, _household, _bills, session = _setup()
    body = json.dumps(session_completed(session, _pi())).encode()
    now = int(time.time())
    tampered = body.replace(b'"amount_total": 20000', b'"amount_total": 1')
    assert tampered != body
    cases = {
        "missing header": (body, None),
        "empty header": (body, ""),
        "garbage header": (body, "nonsense"),
        "wrong secret": (body, stripe_signature(body, "whsec_wrong")),
        "stale": (body, stripe_signature(body, timestamp=now - 301)),
        "tampered body": (tampered, stripe_signature(body)),
        "garbage json": (b"{not json", stripe_signature(b"{not json")),
        "not an event": (b"[1, 2]", stripe_signature(b"[1, 2]")),
        "v0 only": (body, stripe_signature(body).replace("v1=", "v0=")),
    }
    for name, (payload, signature) in cases.items():
        response = _post(client, payload, signature)
        assert response.status_code == 400, name
        assert response.get_json()["error"]["code"] == "invalid_signature", name
    assert _count(tenant_id, GatewayEvent) == 0
    assert _count(tenant_id, Payment) == 0


def test_without_a_configured_secret_nothing_is_accepted(app, client):
    saved = app.config.get("STRIPE_WEBHOOK_SECRET")
    app.config["STRIPE_WEBHOOK_SECRET"] = None
    try:
        tenant_id, _household, _bills, session = _setup()
        response = _signed(client, session_completed(session, _pi()))
        assert response.status_code == 400
        assert _count(tenant_id, Payment) == 0
    finally:
        app.config["STRIPE_WEBHOOK_SECRET"] = saved


def test_get_is_not_allowed(client):
    assert client.get(URL).status_code == 405


# --- exactly once -------------------------------------------------------------------------


def test_signed_checkout_completed_credits_the_bills(client, webhook_secret):
    tenant_id, _household, bills, session = _setup()
    pi = _pi()
    response = _signed(client, session_completed(session, pi))
    assert response.status_code == 200
    assert response.get_json() == {"received": True, "outcome": "completed"}
    with tenant_context(tenant_id):
        payment = database.session.scalar(select(Payment))
        assert payment.amount == Decimal("200.00") and payment.unallocated == 0
        assert payment.gateway_payment_id == pi
        assert database.session.scalar(
            select(Receipt.number).where(Receipt.payment_id == payment.id)
        )
        row = database.session.get(CheckoutSession, (tenant_id, session.id))
        database.session.refresh(row)
        assert row.status == CheckoutStatus.COMPLETE and row.payment_id == payment.id


def test_same_event_five_times_and_out_of_order(client, webhook_secret):
    tenant_id, _household, _bills, session = _setup()
    pi = _pi()
    succeeded = stripe_event(
        "payment_intent.succeeded",
        {
            "id": pi,
            "object": "payment_intent",
            "amount": 20000,
            "amount_received": 20000,
            "currency": "cny",
            "metadata": checkout_metadata(session),
        },
    )
    outcomes = [_signed(client, succeeded).get_json()["outcome"] for _ in range(5)]
    assert outcomes == ["completed"] + ["duplicate"] * 4
    # the checkout event arrives afterwards, twice; then a late failure
    completed = session_completed(session, pi)
    assert _signed(client, completed).get_json()["outcome"] == "already_complete"
    assert _signed(client, completed).get_json()["outcome"] == "duplicate"
    failed = stripe_event("payment_intent.payment_failed", succeeded["data"]["object"])
    assert _signed(client, failed).get_json()["outcome"] == "unchanged: complete"
    assert _count(tenant_id, Payment) == 1
    assert _count(tenant_id, GatewayEvent) == 3


def test_unknown_tenant_answers_200_and_writes_nothing(client, webhook_secret):
    tenant_id, _household, _bills, session = _setup()
    metadata = checkout_metadata(session, tenant_id=uuid.uuid4())
    response = _signed(client, session_completed(session, _pi(), metadata=metadata))
    assert response.status_code == 200
    assert response.get_json()["outcome"] == "unknown_tenant"
    response = _signed(client, stripe_event("invoice.paid", {"id": "in_1"}))
    assert response.status_code == 200 and response.get_json()["outcome"] == "ignored"
    assert _count(tenant_id, GatewayEvent) == 0
    assert _count(tenant_id, Payment) == 0


def test_cross_tenant_metadata_credits_nobody(client, webhook_secret):
    tenant_id, _household, _bills, session = _setup()
    intruder = member(Role.OWNER)
    metadata = checkout_metadata(session, tenant_id=intruder.tenant_id)
    response = _signed(client, session_completed(session, _pi(), metadata=metadata))
    assert response.status_code == 200 and response.get_json()["outcome"] == "unmatched"
    assert _count(tenant_id, Payment) == 0
    assert _count(intruder.tenant_id, Payment) == 0


@pytest.mark.postgres
@pytest.mark.committed
def test_concurrent_deliveries_credit_once(app, db, webhook_secret):
    database.session().expire_on_commit = False  # read our objects after commits
    tenant_id, _household, _bills, session = _setup("WHC")
    database.session.commit()
    body = json.dumps(session_completed(session, _pi())).encode()
    signature = stripe_signature(body)
    barrier = threading.Barrier(5)
    results: list = []

    def deliver():
        with app.app_context():  # the test client class may commit the (empty) session
            client = app.test_client()
            barrier.wait(timeout=10)
            response = client.post(
                URL, data=body, headers={"Stripe-Signature": signature, "Content-Type": "x"}
            )
            results.append((response.status_code, (response.get_json() or {}).get("outcome")))

    threads = [threading.Thread(target=deliver) for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == sorted([(200, "completed")] + [(200, "duplicate")] * 4)
    assert _count(tenant_id, Payment) == 1
    assert _count(tenant_id, GatewayEvent) == 1
    assert _count(tenant_id, Receipt) == 1


@pytest.mark.postgres
@pytest.mark.committed
def test_concurrent_different_events_for_one_payment(app, db, webhook_secret):
    """checkout.session.completed and payment_intent.succeeded at the same moment."""
    database.session().expire_on_commit = False  # read our objects after commits
    tenant_id, _household, _bills, session = _setup("WHD")
    database.session.commit()
    pi = _pi()
    events = [session_completed(session, pi)] * 2 + [
        stripe_event(
            "payment_intent.succeeded",
            {
                "id": pi,
                "object": "payment_intent",
                "amount_received": 20000,
                "currency": "cny",
                "metadata": checkout_metadata(session),
            },
        )
    ] * 2
    barrier = threading.Barrier(len(events))
    statuses: list[int] = []

    def deliver(event):
        body = json.dumps(event).encode()
        with app.app_context():
            client = app.test_client()
            barrier.wait(timeout=10)
            headers = {"Stripe-Signature": stripe_signature(body)}
            statuses.append(client.post(URL, data=body, headers=headers).status_code)

    threads = [threading.Thread(target=deliver, args=(e,)) for e in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert statuses == [200] * len(events)
    assert _count(tenant_id, Payment) == 1
    assert _count(tenant_id, GatewayEvent) == 2


# --- localstripe: real PaymentIntents, signed webhooks, refunds -----------------------------


class LiveServer:
    """The app on a free loopback port in a thread (localstripe posts its webhooks here)."""

    def __init__(self, app):
        self.port = free_port()
        self.server = make_server("127.0.0.1", self.port, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.thread.join(timeout=10)


def _wait_for(check, seconds=15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    return check()


def _payment_of(tenant_id, pi):
    with tenant_context(tenant_id):
        found = database.session.scalar(select(Payment).where(Payment.gateway_payment_id == pi))
        database.session.commit()  # end the read: see other threads' commits
        return found


def _session_status(tenant_id, session_id):
    with tenant_context(tenant_id):
        status = database.session.scalar(
            select(CheckoutSession.status).where(CheckoutSession.id == session_id)
        )
        database.session.commit()  # end the read: see other threads' commits
        return status


@pytest.mark.committed
def test_localstripe_payment_intents_through_the_webhook(app, db, stripe_config):
    database.session().expire_on_commit = False  # read our objects after commits
    localstripe = stripe_config
    tenant_id, household, bills, session = _setup("WHL")
    declined_session = checkout_session(household, bills[:1])
    database.session.commit()
    stripe = stripe_client(localstripe)
    name = f"ruihe-{uuid.uuid4().hex[:8]}"
    with LiveServer(app) as base:
        register_webhook(
            localstripe,
            name,
            f"{base}{URL}",
            events=["payment_intent.succeeded", "payment_intent.payment_failed"],
        )
        try:
            intent = stripe.v1.payment_intents.create(
                params={
                    "amount": 20000,
                    "currency": "cny",
                    "payment_method": card_payment_method(stripe),
                    "payment_method_types": ["card"],
                    "metadata": checkout_metadata(session),
                    "confirm": True,
                }
            )
            assert intent.status == "succeeded"
            payment = _wait_for(lambda: _payment_of(tenant_id, intent.id))
            assert payment is not None, "localstripe's payment_intent.succeeded never arrived"
            assert payment.amount == Decimal("200.00")

            declined = stripe.v1.payment_intents.create(
                params={
                    "amount": 10000,
                    "currency": "cny",
                    "payment_method": card_payment_method(stripe, "4000000000000341"),
                    "metadata": checkout_metadata(declined_session),
                }
            )
            with pytest.raises(Exception, match="declined"):
                stripe.v1.payment_intents.confirm(declined.id)
            assert _wait_for(
                lambda: _session_status(tenant_id, declined_session.id) == CheckoutStatus.FAILED
            )
        finally:
            unregister_webhook(localstripe, name)
    assert _session_status(tenant_id, session.id) == CheckoutStatus.COMPLETE
    with tenant_context(tenant_id):
        assert database.session.scalar(select(func.count()).select_from(Payment)) == 1


def test_localstripe_refund_applied_from_charge_refunded(client, stripe_config):
    """A refund made in the Stripe dashboard (here: straight at localstripe, which sends no
    ``charge.refunded``): the charge, with its refunds, is signed and posted like Stripe."""
    pytest.importorskip("ruihe_saas.refunds.services").record_gateway_refund  # noqa: B018
    localstripe = stripe_config
    tenant_id, _household, _bills, session = _setup("WHR")
    stripe = stripe_client(localstripe)
    intent = stripe.v1.payment_intents.create(
        params={
            "amount": 20000,
            "currency": "cny",
            "payment_method": card_payment_method(stripe),
            "metadata": checkout_metadata(session),
            "confirm": True,
        }
    )
    # the webhook is not registered here: post localstripe's own event ourselves
    from tests.localstripe import list_events

    [succeeded] = [
        e
        for e in list_events(localstripe, type="payment_intent.succeeded")
        if e["data"]["object"]["id"] == intent.id
    ]
    assert _signed(client, succeeded).get_json()["outcome"] == "completed"

    refund = stripe.v1.refunds.create(params={"payment_intent": intent.id, "amount": 5000})
    charge = stripe.v1.charges.retrieve(refund.charge).to_dict()
    assert charge["refunds"]["data"][0]["id"] == refund.id
    event = stripe_event("charge.refunded", charge)
    assert _signed(client, event).get_json()["outcome"] == "refunds: 1"
    assert _signed(client, event).get_json()["outcome"] == "duplicate"
    # the same refund in a later event (another id) is not recorded twice
    again = stripe_event("charge.refunded", charge)
    assert _signed(client, again).get_json()["outcome"] == "refunds: 0"
    with tenant_context(tenant_id):
        refunds = database.session.scalars(select(Refund)).all()
        assert [(r.gateway_refund_id, r.amount) for r in refunds] == [(refund.id, Decimal("50.00"))]


def test_charge_refunded_without_refunds_is_synced_by_a_job(app, client, stripe_config):
    """Recent Stripe API versions leave ``refunds`` out of the charge: a job lists them."""
    pytest.importorskip("ruihe_saas.refunds.services").record_gateway_refund  # noqa: B018
    localstripe = stripe_config
    tenant_id, _household, _bills, session = _setup("WHJ")
    stripe = stripe_client(localstripe)
    intent = stripe.v1.payment_intents.create(
        params={
            "amount": 20000,
            "currency": "cny",
            "payment_method": card_payment_method(stripe),
            "metadata": checkout_metadata(session),
            "confirm": True,
        }
    )
    succeeded = stripe_event("payment_intent.succeeded", intent.to_dict())
    assert _signed(client, succeeded).get_json()["outcome"] == "completed"
    refund = stripe.v1.refunds.create(params={"payment_intent": intent.id, "amount": 2000})
    charge = stripe.v1.charges.retrieve(refund.charge).to_dict()
    charge.pop("refunds")
    saved = app.config["RUIHE_JOBS_INLINE"]
    app.config["RUIHE_JOBS_INLINE"] = True  # the job runs when the request commits
    try:
        response = _signed(client, stripe_event("charge.refunded", charge))
    finally:
        app.config["RUIHE_JOBS_INLINE"] = saved
    assert response.get_json()["outcome"] == "refunds_queued"
    with tenant_context(tenant_id):
        refunds = database.session.scalars(select(Refund)).all()
        assert [(r.gateway_refund_id, r.amount) for r in refunds] == [(refund.id, Decimal("20.00"))]
