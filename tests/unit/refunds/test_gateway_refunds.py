"""Refunds of online payments through the gateway, against real HTTP Stripe stand-ins:

- localstripe (the PyPI package, ``tests/localstripe.py``): a PaymentIntent created and
  confirmed there is refunded through ``refund_payment``; localstripe's refund has the
  amount in fen; a gateway refusal stores nothing;
- the loopback stand-in (``tests/stripe_standin.py``, which records requests and honours
  idempotency keys): the exact request (amount in fen, payment_intent, Idempotency-Key,
  Stripe-Account in connect mode), and a retry after a lost transaction reaching the gateway
  with the same key records the gateway's one refund once.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ruihe_saas.billing.models import BillStatus
from ruihe_saas.errors import Conflict
from ruihe_saas.extensions import db as database
from ruihe_saas.payments.models import AllocationReversal, Refund, RefundMethod, RefundStatus
from ruihe_saas.refunds import services
from ruihe_saas.tenancy import tenant_context
from tests.localstripe import card_payment_method, localstripe_url, stripe_client
from tests.localstripe import stripe_config as stripe_config  # noqa: F401 (fixture)
from tests.stripe_standin import enable_gateway, standin_fixture, standin_server_fixture
from tests.unit.refunds.test_refunds import World

__all__ = ["localstripe_url", "standin_fixture", "standin_server_fixture"]

D = Decimal


@pytest.fixture
def world(db):
    world = World("RGW")
    world.jan = world.bill("2024-01")  # 110.00
    return world


def stored(world) -> tuple[int, int]:
    with tenant_context(world.tenant_id):
        return (
            database.session.scalar(select(func.count()).select_from(Refund)),
            database.session.scalar(select(func.count()).select_from(AllocationReversal)),
        )


def confirmed_intent(url: str, amount_fen: int) -> str:
    client = stripe_client(url)
    intent = client.v1.payment_intents.create(
        params={
            "amount": amount_fen,
            "currency": "cny",
            "payment_method": card_payment_method(client),
            "confirm": True,
        }
    )
    assert intent.status == "succeeded", intent.status
    return intent.id


def localstripe_refund(url: str, refund_id: str) -> dict:
    """``GET /v1/refunds/<id>`` at localstripe."""
    return stripe_client(url).v1.refunds.retrieve(refund_id).to_dict()


# --- localstripe ---------------------------------------------------------------------------


def test_an_online_payment_is_refunded_at_localstripe(world, stripe_config):  # noqa: F811
    url = stripe_config
    intent_id = confirmed_intent(url, 13000)
    payment = world.online_payment("130.00", pi=intent_id)  # 110 to January, 20 prepaid
    enable_gateway(world.tenant_id)
    with tenant_context(world.tenant_id):
        refund = services.refund_payment(payment.id, "50.00", "线上退款")
        assert (refund.method, refund.status) == (RefundMethod.GATEWAY, RefundStatus.SUCCEEDED)
        assert refund.gateway_refund_id.startswith("re_")
        assert (refund.from_credit, refund.from_bills) == (D("20.00"), D("30.00"))
        assert (world.jan.paid, world.jan.status) == (D("80.00"), BillStatus.PARTIALLY_PAID)
        assert payment.refunded == D("50.00")
    at_stripe = localstripe_refund(url, refund.gateway_refund_id)
    assert (at_stripe["amount"], at_stripe["currency"], at_stripe["status"]) == (
        5000,
        "cny",
        "succeeded",
    )
    assert at_stripe["payment_intent"] == intent_id
    assert at_stripe["metadata"]["refund_id"] == str(refund.id)

    # the webhook's later report of the same refund changes nothing
    with tenant_context(world.tenant_id):
        again = services.record_gateway_refund(payment, D("50.00"), refund.gateway_refund_id)
        assert again.id == refund.id and payment.refunded == D("50.00")
        # the rest, in full
        rest = services.refund_payment(payment.id, "80.00", "余款退回")
        assert services.refundable(payment) == D("0.00")
        assert world.jan.status == BillStatus.OPEN
    assert localstripe_refund(url, rest.gateway_refund_id)["amount"] == 8000


def test_a_refund_the_gateway_refuses_stores_nothing(world, stripe_config):  # noqa: F811
    payment = world.online_payment("110.00", pi="pi_unknown_at_localstripe")
    enable_gateway(world.tenant_id)
    with tenant_context(world.tenant_id):
        with pytest.raises(Conflict) as error:
            services.refund_payment(payment.id, "10.00", "r")
        assert error.value.code == "gateway_refused" and "amount" in error.value.fields
        assert (payment.refunded, payment.unallocated) == (D("0.00"), D("0.00"))
        assert (world.jan.paid, world.jan.status) == (D("110.00"), BillStatus.PAID)
    assert stored(world) == (0, 0)


# --- the recording stand-in ----------------------------------------------------------------


def test_the_exact_refund_request(world, stripe_standin):
    payment = world.online_payment("110.00", pi="pi_test_exact")
    enable_gateway(world.tenant_id, mode="connect", connected_account_id="acct_tenant1")
    with tenant_context(world.tenant_id):
        refund = services.refund_payment(payment.id, "12.34", "r", idempotency_key="client-1")
    (sent,) = [r for r in stripe_standin.requests if r.path == "/v1/refunds"]
    assert sent.body["amount"] == "1234" and sent.body["payment_intent"] == "pi_test_exact"
    assert sent.body["metadata[refund_id]"] == str(refund.id)
    assert sent.header("Stripe-Account") == "acct_tenant1"
    key = sent.header("Idempotency-Key")
    assert key.startswith(f"refund:{payment.id}:k:")
    assert refund.gateway_refund_id.startswith("re_test_")


def test_a_retry_after_a_lost_transaction_refunds_once(world, stripe_standin):
    """The gateway refunded but our transaction was lost: the retry (same caller key) reaches
    the gateway with the same Idempotency-Key, gets the same refund back, and records it
    once. Without a caller key the key is derived from the payment's refund count, so the
    retry of an identical refund also reuses it."""
    payment = world.online_payment("110.00", pi="pi_test_retry")
    enable_gateway(world.tenant_id)
    with tenant_context(world.tenant_id):
        savepoint = database.session.begin_nested()
        lost = services.refund_payment(payment.id, "10.00", "r", idempotency_key="retry-1")
        lost_gateway_id = lost.gateway_refund_id
        savepoint.rollback()  # the commit never happened
        assert stored(world) == (0, 0)
        kept = services.refund_payment(payment.id, "10.00", "r", idempotency_key="retry-1")
        assert kept.gateway_refund_id == lost_gateway_id
        keys = [r.header("Idempotency-Key") for r in stripe_standin.requests]
        assert len(keys) == 2 and keys[0] == keys[1]

        savepoint = database.session.begin_nested()
        services.refund_payment(payment.id, "5.00", "r")
        savepoint.rollback()
        services.refund_payment(payment.id, "5.00", "r")
        keys = [r.header("Idempotency-Key") for r in stripe_standin.requests]
        assert keys[2] == keys[3] and keys[2] != keys[0]
        assert payment.refunded == D("15.00")
    assert stored(world)[0] == 2


def test_a_gateway_error_is_409_and_stores_nothing(world, stripe_standin):
    payment = world.online_payment("110.00", pi="pi_test_fail")
    enable_gateway(world.tenant_id)
    stripe_standin.fail_next(
        402, {"type": "invalid_request_error", "message": "charge already refunded"}
    )
    with tenant_context(world.tenant_id):
        with pytest.raises(Conflict):
            services.refund_payment(payment.id, "10.00", "r")
        assert payment.refunded == D("0.00") and world.jan.status == BillStatus.PAID
    assert stored(world) == (0, 0)
