"""The payment gateway interface: what the rest of the app asks of an online payment
provider. ``stripe_gateway.StripeGateway`` implements it; direct WeChat Pay / Alipay
gateways can be added later (Stripe does not onboard mainland-China merchants, so a
company in China would use those) without touching checkout, webhook or refund code.

Amounts cross this boundary as integers in the currency's minor unit (fen for CNY).
Every call that creates something carries a deterministic idempotency key.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal


class GatewayError(Exception):
    """The gateway refused or could not be reached; ``message`` is safe to show."""

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code


class GatewayNotConfigured(GatewayError):
    """The tenant has no enabled gateway, or the deployment has no keys."""


class InvalidSignature(Exception):
    """A webhook whose signature is missing, wrong, stale or does not match the body."""


def to_minor_units(amount: Decimal) -> int:
    """Yuan (2 decimals) → fen; refuses anything finer than a fen."""
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"{amount} has more than 2 decimals")
    return int(fen)


def from_minor_units(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class LineItem:
    name: str  # shown on the checkout page, e.g. "2024-07 账单 ZD2024-0000123"
    amount_fen: int


@dataclass(frozen=True)
class CheckoutRequest:
    idempotency_key: str
    currency: str  # "cny"
    line_items: list[LineItem]
    payment_method_types: list[str]  # card, alipay, wechat_pay
    metadata: dict[str, str]  # tenant_id, household_id, checkout_id, bill_ids
    success_url: str
    cancel_url: str
    connected_account: str | None = None  # Stripe Connect: direct charge on this account
    application_fee_fen: int | None = None
    customer_email: str | None = None
    expires_at: datetime | None = None

    @property
    def amount_fen(self) -> int:
        return sum(item.amount_fen for item in self.line_items)


@dataclass(frozen=True)
class CheckoutResult:
    session_id: str  # cs_…
    url: str  # where the resident's browser goes
    payment_intent_id: str | None = None


@dataclass(frozen=True)
class RefundRequest:
    idempotency_key: str
    payment_intent_id: str
    amount_fen: int
    connected_account: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RefundResult:
    refund_id: str  # re_…
    status: str  # succeeded, pending, failed


@dataclass(frozen=True)
class PayoutInfo:
    """A payout of the gateway's balance to the bank, as the gateway reports it."""

    payout_id: str  # po_…
    amount_fen: int  # what reached the bank
    currency: str  # lower case, "cny"
    arrival_date: date
    status: str  # paid, pending, in_transit, canceled, failed
    connected_account: str | None = None  # the Connect account it was paid from


# the kinds of balance transaction a payout settles
CHARGE, PAYMENT, REFUND, OTHER = "charge", "payment", "refund", "other"


@dataclass(frozen=True)
class PayoutTransaction:
    """One balance transaction a payout settles, as plain data: a charge (``payment``: a
    direct charge of some payment methods), a refund (or a failed refund coming back), or
    anything else (adjustments, disputes, …). The payment intent links it to a payment."""

    transaction_id: str  # txn_…
    type: str  # CHARGE, PAYMENT, REFUND or OTHER
    amount_fen: int  # signed: + into the balance (a charge), − out of it (a refund)
    fee_fen: int  # what the gateway kept on it
    payment_intent_id: str | None = None  # pi_… of the charge, or of the refunded charge
    source_id: str | None = None  # ch_…, py_…, re_…, du_… (what the transaction is about)

    @property
    def net_fen(self) -> int:
        return self.amount_fen - self.fee_fen


class PaymentGateway(abc.ABC):
    """One provider. Implementations are stateless; settings come in with each call."""

    name: str

    @abc.abstractmethod
    def create_checkout(self, request: CheckoutRequest) -> CheckoutResult:
        """Create a hosted checkout page for the line items (idempotent on the key)."""

    @abc.abstractmethod
    def refund(self, request: RefundRequest) -> RefundResult:
        """Refund part or all of a captured payment (idempotent on the key)."""

    @abc.abstractmethod
    def parse_webhook(self, payload: bytes, signature_header: str | None) -> dict:
        """The event in a webhook body, after verifying its signature on the raw bytes;
        ``InvalidSignature`` otherwise."""

    @abc.abstractmethod
    def events_since(self, since: datetime, types: list[str]) -> Iterator[dict]:
        """Events of these types created since ``since``, oldest first (reconciliation)."""

    @abc.abstractmethod
    def list_payouts(
        self, since: datetime, connected_account: str | None = None, status: str | None = "paid"
    ) -> Iterator[PayoutInfo]:
        """Payouts of ``status`` (None: any) that arrived, or were to arrive, at the bank on or
        after ``since``'s date (reconciliation)."""

    @abc.abstractmethod
    def retrieve_payout(self, payout_id: str, connected_account: str | None = None) -> PayoutInfo:
        """One payout, as it stands now (``GatewayError`` if unknown)."""

    @abc.abstractmethod
    def payout_transactions(
        self, payout_id: str, connected_account: str | None = None
    ) -> list[PayoutTransaction]:
        """The balance transactions a payout settles (its own transfer to the bank left
        out), in the gateway's order; ``GatewayError`` if unknown or unreadable."""
