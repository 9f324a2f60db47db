"""A real HTTP Stripe stand-in for the tests: the PyPI package ``localstripe``.

``localstripe_url`` (session scope) starts ``<venv>/bin/localstripe --from-scratch`` on a free
loopback port and stops it at the end; without it the tests that use it skip, except in CI
(``CI=true``), where they fail. Use it in a test module with::

    from tests.localstripe import localstripe_url, stripe_config  # noqa: F401

What localstripe does (1.15, read from its source): PaymentIntents (create with ``confirm``,
``/confirm``, ``/cancel``), Charges, Refunds, PaymentMethods (test card numbers:
``4242424242424242`` succeeds, ``4000000000000341`` is declined when charged), ``GET
/v1/events`` (filters ``type`` = one type, ``created[gt|gte|lt|lte]``, ``limit``,
``starting_after``; oldest first, unlike Stripe). It sends ``payment_intent.succeeded`` /
``payment_intent.payment_failed`` (and customer, invoice … events) about a second later to the
webhooks registered with ``POST /_config/webhooks/<name>`` (``url``, ``secret``, ``events``),
signed in Stripe's v1 scheme ``Stripe-Signature: t=<event.created>,v1=<HMAC-SHA256(secret,
f"{t}.{payload}")>``. It has no Checkout Sessions, no ``charge.refunded`` event (a refund
sends nothing), no ``account`` on events, and it ignores idempotency keys and
``Stripe-Account``. Every object is kept in memory for the whole session (and, whatever the
flags, dumped to ``/tmp/localstripe.pickle``, which ``--from-scratch`` never reads back).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}

API_KEY = "sk_test_localstripe"
WEBHOOK_SECRET = "whsec_ruihe_test_secret"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
STARTUP_SECONDS = 20


def _unavailable(problem: str):
    if IN_CI:
        pytest.fail(f"CI requires localstripe: {problem}")
    pytest.skip(f"needs localstripe: {problem}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/v1/events?limit=1", headers=AUTH, timeout=1).ok
    except requests.RequestException:
        return False


@pytest.fixture(scope="session")
def localstripe_url():
    """Base URL (``http://127.0.0.1:<port>``) of a localstripe running for this session."""
    executable = Path(sys.executable).parent / "localstripe"
    if not executable.exists():
        _unavailable(f"{executable} is missing (pip install localstripe)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (open for the whole session)
        prefix="localstripe-", suffix=".log", delete=False
    )
    process = subprocess.Popen(  # noqa: S603 (our venv's localstripe, fixed arguments)
        [str(executable), "--from-scratch", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                output = Path(log.name).read_text(errors="replace")[-2000:]
                _unavailable(f"it did not start on port {port}: {output}")
            time.sleep(0.1)
        yield url
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
        with contextlib.suppress(OSError):
            os.unlink(log.name)


@pytest.fixture
def stripe_config(app, localstripe_url):
    """The app's Stripe configuration pointed at localstripe (restored afterwards)."""
    keys = ("STRIPE_SECRET_KEY", "STRIPE_API_BASE", "STRIPE_WEBHOOK_SECRET")
    saved = {key: app.config.get(key) for key in keys}
    app.config.update(
        STRIPE_SECRET_KEY=API_KEY,
        STRIPE_API_BASE=localstripe_url,
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
    )
    try:
        yield localstripe_url
    finally:
        app.config.update(saved)


def stripe_client(url: str, api_key: str = API_KEY):
    """A stripe 16 ``StripeClient`` talking to localstripe."""
    import stripe

    return stripe.StripeClient(api_key, base_addresses={"api": url})


@contextlib.contextmanager
def module_api_pointed_at(url: str, api_key: str = API_KEY):
    """The module-level API (``stripe.PaymentIntent.create`` …) pointed at localstripe."""
    import stripe

    saved = stripe.api_base, stripe.api_key
    stripe.api_base, stripe.api_key = url, api_key
    try:
        yield stripe
    finally:
        stripe.api_base, stripe.api_key = saved


def _post_json(url: str, body: dict) -> None:
    requests.post(url, json=body, timeout=10).raise_for_status()


def register_webhook(
    url: str,
    name: str,
    target: str,
    *,
    secret: str = WEBHOOK_SECRET,
    events: list[str] | None = None,
) -> None:
    """Make localstripe POST its events (of these types; all if None) to ``target``."""
    body = {"url": target, "secret": secret}
    if events is not None:
        body["events"] = events
    _post_json(f"{url}/_config/webhooks/{name}", body)


def unregister_webhook(url: str, name: str) -> None:
    """localstripe cannot delete a webhook: subscribe it to nothing instead."""
    _post_json(
        f"{url}/_config/webhooks/{name}",
        {"url": "http://127.0.0.1:9", "secret": "x", "events": []},
    )


def card_payment_method(client, number: str = "4242424242424242") -> str:
    """A card PaymentMethod id (``4000000000000341`` is declined when charged)."""
    method = client.v1.payment_methods.create(
        params={
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"},
        }
    )
    return method.id


def list_events(url: str, *, type: str | None = None, created_gte: int | None = None) -> list:
    """Events as plain dicts, oldest first (localstripe's order; the first 100)."""
    params: dict = {"limit": 100}
    if type:
        params["type"] = type
    if created_gte is not None:
        params["created[gte]"] = created_gte
    response = requests.get(f"{url}/v1/events", params=params, headers=AUTH, timeout=10)
    response.raise_for_status()
    return response.json()["data"]


def stripe_signature(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None):
    """A ``Stripe-Signature`` header for ``payload`` (Stripe's v1 scheme)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


# --- building checkout sessions and events for webhook tests ----------------------------


def checkout_session(household, bills, *, amount=None, gateway_session_id: str | None = None):
    """A ``CheckoutSession`` row for ``bills`` of ``household`` (as ``online.checkout`` makes
    one), created in the household's tenant."""
    from decimal import Decimal

    from ruihe_saas.extensions import db
    from ruihe_saas.payments.models import CheckoutSession
    from ruihe_saas.tenancy.context import tenant_context

    total = sum((bill.amount - bill.paid - bill.credited for bill in bills), Decimal("0.00"))
    with tenant_context(household.tenant_id):
        session = CheckoutSession(
            estate_id=household.estate_id,
            household_id=household.id,
            bill_ids=[str(bill.id) for bill in bills],
            amount=Decimal(str(amount)) if amount is not None else total,
            currency="cny",
            idempotency_key=f"test-{uuid.uuid4().hex}",
            gateway_session_id=gateway_session_id or f"cs_test_{uuid.uuid4().hex}",
        )
        db.session.add(session)
        db.session.flush()
    return session


def checkout_metadata(session, *, tenant_id=None, household_id=None) -> dict:
    return {
        "tenant_id": str(tenant_id or session.tenant_id),
        "household_id": str(household_id or session.household_id),
        "checkout_id": str(session.id),
        "bill_ids": ",".join(session.bill_ids),
    }


def stripe_event(event_type: str, obj: dict, *, event_id: str | None = None, **extra) -> dict:
    """An event as Stripe sends it (``data.object`` = ``obj``)."""
    return {
        "id": event_id or f"evt_test_{uuid.uuid4().hex}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "livemode": False,
        "api_version": "2024-06-20",
        "data": {"object": obj},
        **extra,
    }


def session_completed(session, payment_intent: str, *, metadata=None, amount_fen=None, **kw):
    """``checkout.session.completed`` (paid) for a ``CheckoutSession`` row."""
    return stripe_event(
        "checkout.session.completed",
        {
            "id": session.gateway_session_id,
            "object": "checkout.session",
            "mode": "payment",
            "status": "complete",
            "payment_status": "paid",
            "payment_intent": payment_intent,
            "amount_total": amount_fen if amount_fen is not None else int(session.amount * 100),
            "currency": "cny",
            "metadata": metadata if metadata is not None else checkout_metadata(session),
        },
        **kw,
    )


def payment_intent_event(
    event_type: str, session, payment_intent: str, *, metadata=None, amount_fen=None, **kw
):
    """``payment_intent.succeeded`` / ``payment_intent.payment_failed`` for a session."""
    amount = amount_fen if amount_fen is not None else int(session.amount * 100)
    succeeded = event_type == "payment_intent.succeeded"
    return stripe_event(
        event_type,
        {
            "id": payment_intent,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount if succeeded else 0,
            "currency": "cny",
            "status": "succeeded" if succeeded else "requires_payment_method",
            "metadata": metadata if metadata is not None else checkout_metadata(session),
        },
        **kw,
    )
