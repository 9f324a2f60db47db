"""StripeGateway against the loopback stand-in: the exact requests it sends, idempotency,
error mapping (never the key), webhook signature checks, the events list."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
from datetime import UTC, datetime, timedelta

import pytest

from ruihe_saas.payments.gateway import (
    CheckoutRequest,
    GatewayError,
    GatewayNotConfigured,
    InvalidSignature,
    LineItem,
    RefundRequest,
)
from ruihe_saas.payments.stripe_gateway import StripeGateway
from tests.stripe_standin import (  # noqa: F401 (fixtures)
    SECRET_KEY,
    WEBHOOK_SECRET,
    standin_fixture,
    standin_server_fixture,
)

METADATA = {"tenant_id": "t-1", "household_id": "h-1", "checkout_id": "c-1", "bill_ids": "b1,b2"}


def checkout_request(**overrides) -> CheckoutRequest:
    values = {
        "idempotency_key": "key-1",
        "currency": "cny",
        "line_items": [LineItem("2024-05 账单 T1", 12050), LineItem("2024-06 账单 T2", 8000)],
        "payment_method_types": ["card", "alipay"],
        "metadata": METADATA,
        "success_url": "http://pay.example/s?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://pay.example/c",
    }
    values.update(overrides)
    return CheckoutRequest(**values)


def test_create_checkout_sends_exactly_this(app, stripe_standin):
    expires = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    with app.app_context():
        result = StripeGateway().create_checkout(checkout_request(expires_at=expires))
    [sent] = stripe_standin.requests
    assert sent.method == "POST" and sent.path == "/v1/checkout/sessions"
    assert sent.header("Idempotency-Key") == "key-1"
    assert sent.header("Authorization") == f"Bearer {SECRET_KEY}"
    assert sent.header("Stripe-Account") is None  # platform keys: no connected account
    assert sent.body == {
        "mode": "payment",
        "line_items[0][price_data][currency]": "cny",
        "line_items[0][price_data][unit_amount]": "12050",
        "line_items[0][price_data][product_data][name]": "2024-05 账单 T1",
        "line_items[0][quantity]": "1",
        "line_items[1][price_data][currency]": "cny",
        "line_items[1][price_data][unit_amount]": "8000",
        "line_items[1][price_data][product_data][name]": "2024-06 账单 T2",
        "line_items[1][quantity]": "1",
        "payment_method_types[0]": "card",
        "payment_method_types[1]": "alipay",
        "metadata[tenant_id]": "t-1",
        "metadata[household_id]": "h-1",
        "metadata[checkout_id]": "c-1",
        "metadata[bill_ids]": "b1,b2",
        "payment_intent_data[metadata][tenant_id]": "t-1",
        "payment_intent_data[metadata][household_id]": "h-1",
        "payment_intent_data[metadata][checkout_id]": "c-1",
        "payment_intent_data[metadata][bill_ids]": "b1,b2",
        "success_url": "http://pay.example/s?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "http://pay.example/c",
        "expires_at": str(int(expires.timestamp())),
    }
    assert result.session_id.startswith("cs_test_")
    assert result.url == f"{stripe_standin.base_url}/checkout/{result.session_id}"
    assert result.payment_intent_id is None
    assert stripe_standin.sessions[result.session_id]["amount_total"] == 20050


def test_connect_direct_charge_header_and_fee(app, stripe_standin):
    request = checkout_request(
        connected_account="acct_1TestAccount",
        application_fee_fen=301,
        payment_method_types=["wechat_pay"],
    )
    with app.app_context():
        StripeGateway().create_checkout(request)
    [sent] = stripe_standin.requests
    assert sent.header("Stripe-Account") == "acct_1TestAccount"
    assert sent.body["payment_intent_data[application_fee_amount]"] == "301"
    assert sent.body["payment_method_types[0]"] == "wechat_pay"
    assert sent.body["payment_method_options[wechat_pay][client]"] == "web"


def test_same_key_same_session(app, stripe_standin):
    with app.app_context():
        gateway = StripeGateway()
        first = gateway.create_checkout(checkout_request())
        again = gateway.create_checkout(checkout_request())
        other = gateway.create_checkout(checkout_request(idempotency_key="key-2"))
    assert first == again
    assert other.session_id != first.session_id
    keys = [r.header("Idempotency-Key") for r in stripe_standin.creates()]
    assert keys == ["key-1", "key-1", "key-2"]


def test_retrieve_checkout(app, stripe_standin):
    with app.app_context():
        gateway = StripeGateway()
        result = gateway.create_checkout(checkout_request(connected_account="acct_1X"))
        stripe_standin.complete(result.session_id, "pi_test_1")
        session = gateway.retrieve_checkout(result.session_id, "acct_1X")
    assert session["status"] == "complete" and session["payment_intent"] == "pi_test_1"
    assert stripe_standin.requests[-1].header("Stripe-Account") == "acct_1X"


@pytest.mark.parametrize(
    ("status", "error", "code"),
    [
        (401, {"type": "invalid_request_error", "message": f"Invalid API Key {SECRET_KEY}"}, None),
        (402, {"type": "card_error", "code": "card_declined", "message": "no"}, "card_declined"),
        (400, {"type": "invalid_request_error", "message": f"bad {SECRET_KEY}"}, None),
        (429, {"type": "invalid_request_error", "message": "slow down"}, None),
        (500, {"type": "api_error", "message": "boom"}, None),
    ],
)
def test_errors_are_safe(app, stripe_standin, caplog, status, error, code):
    stripe_standin.fail_next(status, error)
    with app.app_context(), pytest.raises(GatewayError) as raised:
        StripeGateway().create_checkout(checkout_request())
    assert SECRET_KEY not in raised.value.message
    assert SECRET_KEY not in str(raised.value)
    assert SECRET_KEY not in caplog.text
    assert raised.value.message  # something to show
    if code:
        assert raised.value.code == code


def test_unreachable_gateway(app):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with app.app_context(), pytest.raises(GatewayError) as raised:
        StripeGateway(
            SECRET_KEY, api_base=f"http://127.0.0.1:{port}", max_network_retries=0
        ).create_checkout(checkout_request())
    assert raised.value.code == "unreachable"
    assert SECRET_KEY not in raised.value.message


def test_no_key_is_not_configured(app):
    with app.app_context(), pytest.raises(GatewayNotConfigured):
        StripeGateway("").create_checkout(checkout_request())


def test_repr_hides_the_key(app):
    with app.app_context():
        assert SECRET_KEY not in repr(StripeGateway(SECRET_KEY))


def test_refund_request(app, stripe_standin):
    with app.app_context():
        result = StripeGateway().refund(
            RefundRequest(
                idempotency_key="refund-1",
                payment_intent_id="pi_test_9",
                amount_fen=1234,
                connected_account="acct_1Y",
                metadata={"refund_id": "r-1"},
            )
        )
    [sent] = stripe_standin.requests
    assert sent.path == "/v1/refunds"
    assert sent.header("Idempotency-Key") == "refund-1"
    assert sent.header("Stripe-Account") == "acct_1Y"
    assert sent.body == {
        "payment_intent": "pi_test_9",
        "amount": "1234",
        "metadata[refund_id]": "r-1",
    }
    assert result.refund_id.startswith("re_test_") and result.status == "succeeded"
    with app.app_context():
        [listed] = StripeGateway().list_refunds("ch_for_pi_test_9", "acct_1Y")
    assert listed["id"] == result.refund_id and listed["amount"] == 1234
    assert stripe_standin.requests[-1].header("Stripe-Account") == "acct_1Y"


# --- webhooks ------------------------------------------------------------------------------


def signed(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


EVENT = json.dumps(
    {
        "id": "evt_1",
        "object": "event",
        "type": "checkout.session.completed",
        "created": 1700000000,
        "data": {"object": {"id": "cs_test_1", "metadata": {"tenant_id": "t"}}},
    }
).encode()


def test_parse_webhook_valid(app, stripe_standin):
    with app.app_context():
        event = StripeGateway().parse_webhook(EVENT, signed(EVENT))
    assert isinstance(event, dict)
    assert event["id"] == "evt_1"
    assert event["data"]["object"]["metadata"] == {"tenant_id": "t"}


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        "t=abc,v1=def",
        signed(EVENT, secret="whsec_wrong"),
        signed(EVENT, timestamp=int(time.time()) - 3600),  # stale: beyond 300 s
        signed(EVENT + b" "),  # signature of another body
        signed(EVENT).replace("v1=", "v0="),
    ],
    # fixed ids: the signed headers carry the time, and test ids must be the same in every
    # pytest-xdist process
    ids=["none", "empty", "garbage", "not-hex", "wrong-secret", "stale", "other-body", "v0"],
)
def test_parse_webhook_refuses(app, stripe_standin, header):
    with app.app_context(), pytest.raises(InvalidSignature):
        StripeGateway().parse_webhook(EVENT, header)


def test_parse_webhook_signed_garbage(app, stripe_standin):
    for body in (b"not json", b"[1, 2]", b"{}", "é".encode("latin-1")):
        with app.app_context(), pytest.raises(InvalidSignature):
            StripeGateway().parse_webhook(body, signed(body))


def test_parse_webhook_without_secret(app):
    with app.app_context(), pytest.raises(InvalidSignature):
        StripeGateway(SECRET_KEY, webhook_secret="").parse_webhook(EVENT, signed(EVENT))


# --- events ------------------------------------------------------------------------------


def test_events_since_oldest_first_all_pages(app, stripe_standin):
    now = int(time.time())
    old = stripe_standin.add_event("payment_intent.succeeded", {"id": "pi_old"}, now - 7200)
    wanted = [
        stripe_standin.add_event("payment_intent.succeeded", {"id": f"pi_{i}"}, now - 600 + i)
        for i in range(130)  # more than one page of 100
    ]
    stripe_standin.add_event("customer.created", {"id": "cus_1"}, now - 300)
    with app.app_context():
        events = list(
            StripeGateway().events_since(
                datetime.now(UTC) - timedelta(hours=1),
                ["payment_intent.succeeded", "checkout.session.completed"],
                connected_account="acct_1Z",
            )
        )
    assert [e["id"] for e in events] == [e["id"] for e in wanted]
    assert old["id"] not in {e["id"] for e in events}
    lists = [r for r in stripe_standin.requests if r.path == "/v1/events"]
    # one list per type; 130 events of the first type take two pages
    assert [r.body["type"] for r in lists] == [
        "payment_intent.succeeded",
        "payment_intent.succeeded",
        "checkout.session.completed",
    ]
    assert all(r.header("Stripe-Account") == "acct_1Z" for r in lists)
