"""The Stripe implementation of ``PaymentGateway``.

One ``stripe.StripeClient`` per gateway object, built from deployment configuration
(``STRIPE_SECRET_KEY``; ``STRIPE_API_BASE`` points it at a loopback stand-in in tests).
Per-request options carry the idempotency key and, for Stripe Connect direct charges,
the tenant's connected account (``Stripe-Account`` header). Stripe errors become
``GatewayError`` with a message that is safe to show: never the key, never Stripe's raw
text (it can echo request parameters).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from typing import Any

import stripe
from flask import current_app

from ruihe_saas.payments.gateway import (
    CHARGE,
    OTHER,
    PAYMENT,
    REFUND,
    CheckoutRequest,
    CheckoutResult,
    GatewayError,
    GatewayNotConfigured,
    InvalidSignature,
    PaymentGateway,
    PayoutInfo,
    PayoutTransaction,
    RefundRequest,
    RefundResult,
)

log = logging.getLogger(__name__)

# Stripe error classes → a safe, short message (shown to staff/residents, never the key)
_SAFE_MESSAGES: list[tuple[type[Exception], str, str]] = [
    (
        stripe.AuthenticationError,
        "authentication",
        "The payment provider rejected our credentials.",
    ),
    (stripe.PermissionError, "permission", "The payment provider refused this operation."),
    (stripe.RateLimitError, "rate_limited", "The payment provider is busy; please try again."),
    (stripe.IdempotencyError, "idempotency", "A different request was already sent with this key."),
    (stripe.CardError, "card_declined", "The payment was declined."),
    (stripe.InvalidRequestError, "invalid_request", "The payment provider refused the request."),
    (stripe.APIConnectionError, "unreachable", "The payment provider could not be reached."),
]


def _gateway_error(exc: stripe.StripeError) -> GatewayError:
    code, message = "provider_error", "The payment provider reported an error."
    for cls, safe_code, safe_message in _SAFE_MESSAGES:
        if isinstance(exc, cls):
            code, message = safe_code, safe_message
            break
    # log the class, Stripe's code and request id only: no message text, no key
    log.warning(
        "stripe error %s code=%s status=%s request_id=%s",
        type(exc).__name__,
        getattr(exc, "code", None),
        getattr(exc, "http_status", None),
        getattr(exc, "request_id", None),
    )
    return GatewayError(message, code=getattr(exc, "code", None) or code)


def _options(idempotency_key: str | None = None, account: str | None = None) -> dict:
    options: dict[str, Any] = {}
    if idempotency_key:
        options["idempotency_key"] = idempotency_key
    if account:
        options["stripe_account"] = account
    return options


def _plain(obj: Any) -> dict:
    if isinstance(obj, stripe.StripeObject):
        return obj.to_dict()  # StripeObject is not a dict (stripe ≥ 13)
    return dict(obj)


def _list_every(service, params: dict[str, Any], account: str | None) -> list[dict]:
    """Every object of a Stripe list (each page read), as plain dicts, newest first as Stripe
    lists them; a Stripe error on any page is a ``GatewayError``."""
    try:
        page = service.list(params, _options(account=account))
        return [_plain(obj) for obj in page.auto_paging_iter()]
    except stripe.StripeError as exc:
        raise _gateway_error(exc) from None


class StripeGateway(PaymentGateway):
    """Stripe Checkout, refunds, signed webhooks, the events list, payouts and what they settle."""

    name = "stripe"

    def __init__(
        self,
        api_key: str | None = None,
        *,
        api_base: str | None = None,
        webhook_secret: str | None = None,
        webhook_tolerance: int | None = None,
        max_network_retries: int | None = None,
    ):
        config = current_app.config
        self._api_key = api_key if api_key is not None else config.get("STRIPE_SECRET_KEY")
        self._api_base = api_base if api_base is not None else config.get("STRIPE_API_BASE")
        self._webhook_secret = (
            webhook_secret if webhook_secret is not None else config.get("STRIPE_WEBHOOK_SECRET")
        )
        self._tolerance = (
            webhook_tolerance
            if webhook_tolerance is not None
            else int(config.get("STRIPE_WEBHOOK_TOLERANCE", 300))
        )
        self._retries = max_network_retries
        self._client_obj: stripe.StripeClient | None = None

    def __repr__(self) -> str:  # never show the key
        return f"<StripeGateway api_base={self._api_base or 'stripe'}>"

    @property
    def _client(self) -> stripe.StripeClient:
        if not self._api_key:
            raise GatewayNotConfigured("Online payment is not configured.", code="not_configured")
        if self._client_obj is None:
            kwargs: dict[str, Any] = {}
            if self._api_base:
                kwargs["base_addresses"] = {"api": self._api_base.rstrip("/")}
            if self._retries is not None:
                kwargs["max_network_retries"] = self._retries
            self._client_obj = stripe.StripeClient(self._api_key, **kwargs)
        return self._client_obj

    # -- checkout ------------------------------------------------------------------------

    @staticmethod
    def checkout_params(request: CheckoutRequest) -> dict:
        """The ``checkout.sessions.create`` parameters for a request (pure, for tests)."""
        metadata = {str(k): str(v) for k, v in request.metadata.items()}
        payment_intent_data: dict[str, Any] = {"metadata": dict(metadata)}
        if request.application_fee_fen:
            payment_intent_data["application_fee_amount"] = int(request.application_fee_fen)
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": request.currency,
                        "unit_amount": int(item.amount_fen),
                        "product_data": {"name": item.name},
                    },
                    "quantity": 1,
                }
                for item in request.line_items
            ],
            "payment_method_types": list(request.payment_method_types),
            "metadata": metadata,
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
            "payment_intent_data": payment_intent_data,
        }
        if "wechat_pay" in request.payment_method_types:
            # Checkout needs the client type for WeChat Pay
            params["payment_method_options"] = {"wechat_pay": {"client": "web"}}
        if request.customer_email:
            params["customer_email"] = request.customer_email
        if request.expires_at is not None:
            expires = request.expires_at
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=UTC)
            params["expires_at"] = int(expires.timestamp())
        return params

    def create_checkout(self, request: CheckoutRequest) -> CheckoutResult:
        params = self.checkout_params(request)
        try:
            session = self._client.v1.checkout.sessions.create(
                params,  # type: ignore[arg-type]
                _options(request.idempotency_key, request.connected_account),  # type: ignore[arg-type]
            )
        except stripe.StripeError as exc:
            raise _gateway_error(exc) from None
        session = _plain(session)
        payment_intent = session.get("payment_intent")
        if isinstance(payment_intent, dict):
            payment_intent = payment_intent.get("id")
        if not session.get("id") or not session.get("url"):
            raise GatewayError("The payment provider gave no checkout page.", code="no_url")
        return CheckoutResult(
            session_id=session["id"], url=session["url"], payment_intent_id=payment_intent
        )

    def retrieve_checkout(self, session_id: str, connected_account: str | None = None) -> dict:
        """The Checkout Session as a plain dict (status, payment_status, payment_intent …)."""
        try:
            session = self._client.v1.checkout.sessions.retrieve(
                session_id,
                None,
                _options(account=connected_account),  # type: ignore[arg-type]
            )
        except stripe.StripeError as exc:
            raise _gateway_error(exc) from None
        return _plain(session)

    # -- refunds -------------------------------------------------------------------------

    def refund(self, request: RefundRequest) -> RefundResult:
        params: dict[str, Any] = {
            "payment_intent": request.payment_intent_id,
            "amount": int(request.amount_fen),
        }
        if request.metadata:
            params["metadata"] = {str(k): str(v) for k, v in request.metadata.items()}
        try:
            refund = self._client.v1.refunds.create(
                params,  # type: ignore[arg-type]
                _options(request.idempotency_key, request.connected_account),  # type: ignore[arg-type]
            )
        except stripe.StripeError as exc:
            raise _gateway_error(exc) from None
        refund = _plain(refund)
        status = refund.get("status") or "pending"
        if status not in ("succeeded", "pending", "failed"):
            # requires_action / canceled: not (yet) money back
            status = "failed" if status == "canceled" else "pending"
        return RefundResult(refund_id=refund["id"], status=status)

    def list_refunds(self, charge_id: str, connected_account: str | None = None) -> list[dict]:
        """Every refund of a charge (``ch_…``), as plain dicts (refunds made outside the app)."""
        return _list_every(
            self._client.v1.refunds, {"charge": charge_id, "limit": 100}, connected_account
        )

    # -- webhooks ------------------------------------------------------------------------

    def parse_webhook(self, payload: bytes, signature_header: str | None) -> dict:
        if not signature_header or not self._webhook_secret:
            raise InvalidSignature("missing signature or webhook secret")
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        try:
            stripe.Webhook.construct_event(
                payload, signature_header, self._webhook_secret, tolerance=self._tolerance
            )
            event = json.loads(payload)
        except (
            stripe.SignatureVerificationError,
            ValueError,  # also JSONDecodeError, UnicodeDecodeError
            TypeError,
            KeyError,
            AttributeError,  # signed JSON that is not an object
        ) as exc:
            raise InvalidSignature(type(exc).__name__) from None
        if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
            raise InvalidSignature("not an event")
        return event

    # -- reconciliation ------------------------------------------------------------------

    def events_since(
        self,
        since: datetime,
        types: list[str],
        connected_account: str | None = None,
    ) -> Iterator[dict]:
        """Events of these types created at or after ``since``, oldest first.

        One list per type (``type=…``: Stripe's and localstripe's common filter), every page
        read (auto-paging), then merged oldest first; a reconciliation window is a day or a
        few, so this stays small. ``connected_account``: the events of that Connect account.
        """
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        events: dict[str, dict] = {}
        for event_type in list(dict.fromkeys(types)) or [None]:
            params: dict[str, Any] = {"created": {"gte": int(since.timestamp())}, "limit": 100}
            if event_type:
                params["type"] = event_type
            listed = _list_every(self._client.v1.events, params, connected_account)
            listed.reverse()  # Stripe lists newest first
            for event in listed:
                events.setdefault(event["id"], event)
        # stable: within one second, each type's own order (oldest first) is kept
        yield from sorted(events.values(), key=lambda e: e.get("created") or 0)

    # -- payouts -------------------------------------------------------------------------

    def list_payouts(
        self, since: datetime, connected_account: str | None = None, status: str | None = "paid"
    ) -> Iterator[PayoutInfo]:
        """``GET /v1/payouts?status=paid&arrival_date[gte]=…`` (no ``status`` when None: every
        status), every page.

        By arrival date rather than creation: a payout is created days before it is paid,
        so a window over ``created`` would miss one that was still in transit when the
        window last covered it. Malformed payouts are logged and left out."""
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        day = since.astimezone(UTC).date()
        params: dict[str, Any] = {
            "arrival_date": {"gte": int(datetime.combine(day, time.min, UTC).timestamp())},
            "limit": 100,
        }
        if status is not None:
            params["status"] = status
        listed = _list_every(self._client.v1.payouts, params, connected_account)
        for payout in reversed(listed):  # Stripe lists newest first
            info = _payout_info(payout, connected_account)
            if info is None:
                log.warning("stripe payout %r ignored: malformed", str(payout.get("id"))[:100])
                continue
            yield info

    def retrieve_payout(self, payout_id: str, connected_account: str | None = None) -> PayoutInfo:
        try:
            payout = self._client.v1.payouts.retrieve(
                payout_id,
                None,
                _options(account=connected_account),  # type: ignore[arg-type]
            )
        except stripe.StripeError as exc:
            raise _gateway_error(exc) from None
        info = _payout_info(_plain(payout), connected_account)
        if info is None:
            raise GatewayError("The payment provider sent an unreadable payout.", code="malformed")
        return info

    def payout_transactions(
        self, payout_id: str, connected_account: str | None = None
    ) -> list[PayoutTransaction]:
        """The payout's balance transactions with their sources
        (``GET /v1/balance_transactions?payout=po_…&expand[]=data.source``, every page),
        its own ``payout`` transaction left out. A charge's payment intent is the charge's
        ``payment_intent``; a refund's, the refund's (or its expanded charge's)."""
        listed = _list_every(
            self._client.v1.balance_transactions,
            {"payout": payout_id, "limit": 100, "expand": ["data.source"]},
            connected_account,
        )
        transactions = []
        for txn in listed:
            if txn.get("type") == "payout":
                continue
            transaction = _payout_transaction(txn)
            if transaction is None:
                log.warning(
                    "stripe balance transaction %r of %s unreadable",
                    str(txn.get("id"))[:100],
                    payout_id,
                )
                raise GatewayError(
                    "The payment provider sent an unreadable balance transaction.",
                    code="malformed",
                )
            transactions.append(transaction)
        return transactions


# Stripe's balance transaction types → ours; any other type (adjustment, dispute,
# application fee, …) is OTHER. ``payment``/``payment_refund``: direct charges of some
# payment methods; ``refund_failure``: a refund that failed, its money back in the balance.
TRANSACTION_TYPES = {
    "charge": CHARGE,
    "payment": PAYMENT,
    "refund": REFUND,
    "payment_refund": REFUND,
    "refund_failure": REFUND,
}


def _id(value, prefix: str = "") -> str | None:
    """An object id (a string, or an expanded object's ``id``), or None."""
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, str) and value.startswith(prefix) and 0 < len(value) <= 100:
        return value
    return None


def _payment_intent(kind: str, source) -> str | None:
    """The payment intent a charge or refund (an expanded ``source``) belongs to."""
    if not isinstance(source, dict) or kind == OTHER:
        return None
    intent = _id(source.get("payment_intent"), "pi_")
    if intent is None and kind == REFUND and isinstance(source.get("charge"), dict):
        intent = _id(source["charge"].get("payment_intent"), "pi_")
    return intent


def _payout_transaction(txn: dict) -> PayoutTransaction | None:
    """A Stripe balance transaction as ``PayoutTransaction``; None when unreadable."""
    txn_id, amount, fee = _id(txn.get("id")), _int(txn.get("amount")), _int(txn.get("fee"))
    stripe_type = txn.get("type")
    if txn_id is None or amount is None or fee is None or not isinstance(stripe_type, str):
        return None
    kind = TRANSACTION_TYPES.get(stripe_type, OTHER)
    source = txn.get("source")
    return PayoutTransaction(
        transaction_id=txn_id,
        type=kind,
        amount_fen=amount,
        fee_fen=fee,
        payment_intent_id=_payment_intent(kind, source),
        source_id=_id(source),
    )


def _int(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _payout_info(payout: dict, connected_account: str | None) -> PayoutInfo | None:
    """A Stripe payout object as ``PayoutInfo``; None when a field is missing or wrong."""
    payout_id, amount = payout.get("id"), _int(payout.get("amount"))
    currency, status = payout.get("currency"), payout.get("status")
    arrival = _int(payout.get("arrival_date"))
    if not (isinstance(payout_id, str) and payout_id.startswith("po_") and len(payout_id) <= 100):
        return None
    if amount is None or arrival is None:
        return None
    if not isinstance(currency, str) or not isinstance(status, str):
        return None
    try:
        arrival_date: date = datetime.fromtimestamp(arrival, UTC).date()
    except (OverflowError, OSError, ValueError):
        return None
    return PayoutInfo(
        payout_id=payout_id,
        amount_fen=amount,
        currency=currency.lower(),
        arrival_date=arrival_date,
        status=status[:20],
        connected_account=connected_account,
    )
