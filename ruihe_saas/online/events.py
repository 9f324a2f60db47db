"""Applying gateway events (Stripe webhooks and reconciliation) exactly once.

``apply_event(event, source)`` resolves the tenant the event belongs to (the ``tenant_id``
in the object's metadata, set by ``online.checkout``; else the connected account that sent
it; for a charge without metadata, the tenant holding its PaymentIntent), then, inside that
tenant's context (RLS), inserts the ``GatewayEvent`` row with ``ON CONFLICT DO NOTHING`` in the
same transaction as the effect: a replay, a concurrent redelivery or the reconciliation job
finds the row and changes nothing ("duplicate"). It flushes; the caller commits (the request
pipeline, the reconcile loop).

Effects — states only move forward:

- ``checkout.session.completed`` (paid), ``checkout.session.async_payment_succeeded``,
  ``payment_intent.succeeded``: the checkout session is completed once — a ``Payment``
  (method online, ``gateway_payment_id`` = the PaymentIntent, unique per tenant) allocated
  to the session's bills (a bill paid meanwhile leaves the excess as prepaid credit), its
  receipt, the session marked complete. The session row is locked first, so two different
  events for the same payment arriving together complete it once.
- ``checkout.session.async_payment_failed``, ``payment_intent.payment_failed``: an open
  session becomes failed; a late failure after success changes nothing.
- ``charge.refunded``: each refund of the charge is recorded (made in the Stripe dashboard:
  ``refunds.services.record_gateway_refund``) or settled (ours:
  ``settle_gateway_refund``). A charge whose refunds are not all in the event is synced by a
  job that lists them from Stripe.
- ``payout.paid``: the payout belongs to the tenant owning the account it was paid from
  (``online.payouts.payout_tenant``: never the metadata); unless recorded already, a job
  asks Stripe for it and its balance transactions and records and posts it
  (``online.payouts.sync_payout``, the same service the reconciliation uses).
- ``payout.failed`` (same tenant rule): a recorded payout the bank returned has its entry
  reversed and is marked failed (``online.payouts.record_payout_failure``); one never
  recorded needs nothing.

Events of other types, and events that cannot be matched to a tenant, change nothing and
write nothing (the webhook still answers 2xx, so Stripe does not retry them forever).
Deterministic refusals (a bill that is not the household's …) are recorded as the event's
outcome instead of failing the delivery.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from ruihe_saas.errors import DomainError
from ruihe_saas.extensions import db
from ruihe_saas.payments.gateway import from_minor_units
from ruihe_saas.payments.models import (
    CheckoutSession,
    CheckoutStatus,
    GatewayEvent,
    GatewaySettings,
    Payment,
    PaymentMethod,
    Refund,
)
from ruihe_saas.tenancy.context import tenant_context, unscoped
from ruihe_saas.tenancy.models import Tenant

log = logging.getLogger(__name__)

PROVIDER = "stripe"
SUCCEEDED = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
FAILED = ("checkout.session.async_payment_failed", "payment_intent.payment_failed")
HANDLED_TYPES = [
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",
    "payout.paid",
    "payout.failed",
]
PAYOUT_TYPES = ["payout.paid", "payout.failed"]

# outcomes that wrote nothing (the reconcile counts and the webhook's answer use them)
DUPLICATE = "duplicate"
IGNORED = "ignored"
UNKNOWN_TENANT = "unknown_tenant"


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _id_of(value) -> str | None:
    """A Stripe reference: an id string, or an expanded object with ``id``."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _uuid(value) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value)) if value else None
    except ValueError:
        return None


# --- the tenant of an event ------------------------------------------------------------


def tenant_for_account(account: str) -> uuid.UUID | None:
    """The tenant whose gateway settings name this Stripe Connect account.

    Looked up outside any tenant (``unscoped``). Row-level security still applies on
    PostgreSQL, where that finds nothing for the runtime role: then each tenant is asked in
    its own context (a few tenants per deployment; a security-definer lookup would scale).
    """
    query = select(GatewaySettings.tenant_id).where(
        GatewaySettings.provider == PROVIDER, GatewaySettings.connected_account_id == account
    )
    with unscoped("which tenant owns a Stripe connected account (webhook)"):
        owners = list(db.session.scalars(query))
    if not owners and db.session.get_bind().dialect.name == "postgresql":
        for tenant_id in db.session.scalars(select(Tenant.id)):
            with tenant_context(tenant_id):
                if db.session.scalar(query) is not None:
                    owners.append(tenant_id)
    if len(owners) != 1:
        if owners:
            log.warning("stripe account %s is configured by %d tenants", account, len(owners))
        return None
    return owners[0]


def _tenant_holding_payment_intent(payment_intent: str) -> uuid.UUID | None:
    """The tenant with a checkout session or payment for this PaymentIntent (a charge
    event carries no metadata of ours)."""
    for tenant_id in db.session.scalars(select(Tenant.id)):
        with tenant_context(tenant_id):
            if db.session.scalar(
                select(Payment.id).where(Payment.gateway_payment_id == payment_intent)
            ) or db.session.scalar(
                select(CheckoutSession.id).where(
                    CheckoutSession.gateway_payment_id == payment_intent
                )
            ):
                return tenant_id
    return None


def resolve_tenant(event: dict) -> uuid.UUID | None:
    """The tenant an event belongs to, or None (unknown, or metadata and account disagree)."""
    obj = _dict(_dict(event.get("data")).get("object"))
    account = event.get("account") if isinstance(event.get("account"), str) else None
    by_metadata = _uuid(_dict(obj.get("metadata")).get("tenant_id"))
    if by_metadata is not None and db.session.get(Tenant, by_metadata) is None:
        by_metadata = None
    by_account = tenant_for_account(account) if account else None
    if by_metadata and by_account and by_metadata != by_account:
        log.warning(
            "stripe event %s: metadata tenant %s is not the owner of account %s",
            event.get("id"),
            by_metadata,
            account,
        )
        return None
    if account and by_account is None:
        return None  # an account nobody here configured: never trust metadata alone then
    tenant_id = by_metadata or by_account
    if tenant_id is None and obj.get("object") == "charge":
        payment_intent = _id_of(obj.get("payment_intent"))
        if payment_intent:
            tenant_id = _tenant_holding_payment_intent(payment_intent)
    return tenant_id


# --- applying --------------------------------------------------------------------------


def apply_event(event: dict, source: str = "webhook") -> str:
    """Apply one gateway event once; returns the outcome (also stored on its event row)."""
    event_type = event.get("type") if isinstance(event.get("type"), str) else ""
    event_id = event.get("id") if isinstance(event.get("id"), str) else ""
    if event_type not in HANDLED_TYPES or not event_id or len(event_id) > 100:
        log.info("stripe event %s (%s) ignored: not handled", event_id[:100], event_type[:100])
        return IGNORED
    tenant_id = _payout_tenant(event) if event_type in PAYOUT_TYPES else resolve_tenant(event)
    if tenant_id is None:
        log.info("stripe event %s (%s) ignored: no tenant", event_id, event_type)
        return UNKNOWN_TENANT
    obj = _dict(_dict(event.get("data")).get("object"))
    with tenant_context(tenant_id):
        row_id = _record_event(event_id, event_type, _id_of(obj.get("id")) or "", source)
        if row_id is None:
            return DUPLICATE
        try:
            with db.session.begin_nested():
                outcome = _HANDLERS[event_type](event, obj)
        except DomainError as error:
            outcome = f"rejected: {error.code or type(error).__name__}: {error.message}"
            log.info("stripe event %s (%s) rejected: %s", event_id, event_type, outcome)
        db.session.execute(
            update(GatewayEvent).where(GatewayEvent.id == row_id).values(outcome=outcome[:200])
        )
        db.session.flush()
    log.info("stripe event %s (%s) applied: %s", event_id, event_type, outcome)
    return outcome


def _record_event(event_id: str, event_type: str, object_id: str, source: str):
    """Insert the event's row unless it exists; its id, or None for a duplicate."""
    from ruihe_saas.ids import new_id
    from ruihe_saas.tenancy.context import require_tenant_id

    db.session.flush()
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    row_id = new_id()
    statement = (
        insert(GatewayEvent.__table__)
        .values(
            tenant_id=require_tenant_id(),
            id=row_id,
            provider=PROVIDER,
            event_id=event_id,
            event_type=event_type[:100],
            object_id=object_id[:200],
            source=source[:20],
            outcome="",
            received_at=datetime.now(UTC),
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "provider", "event_id"])
        .returning(GatewayEvent.__table__.c.id)
    )
    return db.session.execute(statement).scalar()


def _event_time(event: dict) -> datetime:
    """When the event happened (never in the future: clocks differ a little)."""
    now = datetime.now(UTC)
    created = event.get("created")
    if isinstance(created, int) and not isinstance(created, bool):
        try:
            return min(datetime.fromtimestamp(created, UTC), now)
        except (OverflowError, OSError, ValueError):
            return now
    return now


def _find_session(obj: dict, *, session_id: str | None, payment_intent: str | None):
    """The tenant's checkout session of this object, locked (metadata ``checkout_id``, else
    the Stripe session id, else the PaymentIntent)."""
    metadata = _dict(obj.get("metadata"))
    conditions = []
    checkout_id = _uuid(metadata.get("checkout_id"))
    if checkout_id is not None:
        conditions.append(CheckoutSession.id == checkout_id)
    if session_id:
        conditions.append(CheckoutSession.gateway_session_id == session_id)
    if payment_intent:
        conditions.append(CheckoutSession.gateway_payment_id == payment_intent)
    for condition in conditions:
        session = db.session.scalar(
            select(CheckoutSession)
            .where(condition)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if session is not None:
            household = _uuid(metadata.get("household_id"))
            if household is not None and household != session.household_id:
                return None  # metadata of another household: never credit it
            return session
    return None


def _amount(obj: dict, session: CheckoutSession) -> Decimal:
    for key in ("amount_total", "amount_received", "amount"):
        value = obj.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return from_minor_units(value)
    return session.amount


def _complete(event: dict, obj: dict) -> str:
    is_session = obj.get("object") == "checkout.session"
    session_id = _id_of(obj.get("id")) if is_session else None
    payment_intent = _id_of(obj.get("payment_intent")) if is_session else _id_of(obj.get("id"))
    if is_session and obj.get("payment_status") not in (None, "paid"):
        session = _find_session(obj, session_id=session_id, payment_intent=payment_intent)
        if session is not None and payment_intent and not session.gateway_payment_id:
            session.gateway_payment_id = payment_intent
        return "awaiting_payment"
    if not payment_intent:
        return "no_payment_intent"
    session = _find_session(obj, session_id=session_id, payment_intent=payment_intent)
    if session is None:
        return "unmatched"
    if session.status == CheckoutStatus.COMPLETE:
        return "already_complete"
    if session.gateway_payment_id and session.gateway_payment_id != payment_intent:
        return "other_payment_intent"
    currency = obj.get("currency")
    if isinstance(currency, str) and currency.lower() != (session.currency or "cny").lower():
        return "currency_mismatch"
    session.gateway_payment_id = payment_intent
    if session_id and not session.gateway_session_id:
        session.gateway_session_id = session_id
    payment = db.session.scalar(select(Payment).where(Payment.gateway_payment_id == payment_intent))
    outcome = "already_paid"
    if payment is None:
        payment = _record_online_payment(event, obj, session, payment_intent)
        outcome = "completed"
    session.status = CheckoutStatus.COMPLETE
    session.payment_id = payment.id
    session.completed_at = datetime.now(UTC)
    db.session.flush()
    return outcome


def _record_online_payment(event: dict, obj: dict, session: CheckoutSession, payment_intent):
    from ruihe_saas.cashup.services import business_date_of
    from ruihe_saas.payments.services import record_payment
    from ruihe_saas.receipts.services import issue_receipt

    paid_at = _event_time(event)
    try:
        with db.session.begin_nested():
            payment = record_payment(
                session.household_id,
                _amount(obj, session),
                PaymentMethod.ONLINE,
                paid_at=paid_at,
                reference=payment_intent,
                bill_ids=session.bill_ids or None,
            )
            payment.gateway_payment_id = payment_intent
            payment.checkout_session_id = session.id
            payment.business_date = business_date_of(payment.paid_at)
            db.session.flush()
    except IntegrityError:
        # recorded meanwhile for the same PaymentIntent (unique per tenant)
        existing = db.session.scalar(
            select(Payment).where(Payment.gateway_payment_id == payment_intent)
        )
        if existing is None:
            raise
        return existing
    issue_receipt(payment)
    return payment


def _fail(event: dict, obj: dict) -> str:
    is_session = obj.get("object") == "checkout.session"
    session_id = _id_of(obj.get("id")) if is_session else None
    payment_intent = _id_of(obj.get("payment_intent")) if is_session else _id_of(obj.get("id"))
    session = _find_session(obj, session_id=session_id, payment_intent=payment_intent)
    if session is None:
        return "unmatched"
    if session.status != CheckoutStatus.OPEN:
        return f"unchanged: {session.status.value}"
    session.status = CheckoutStatus.FAILED
    if payment_intent and not session.gateway_payment_id:
        session.gateway_payment_id = payment_intent
    db.session.flush()
    return "failed"


def _refunded(event: dict, obj: dict) -> str:
    payment_intent = _id_of(obj.get("payment_intent"))
    if not payment_intent:
        return "no_payment_intent"
    payment = db.session.scalar(select(Payment).where(Payment.gateway_payment_id == payment_intent))
    if payment is None:
        return "unmatched"
    listed = _dict(obj.get("refunds"))
    refunds = listed.get("data")
    if not isinstance(refunds, list) or listed.get("has_more"):
        # recent API versions leave the refunds out of the charge: ask Stripe in a job
        from ruihe_saas.jobs import enqueue
        from ruihe_saas.online.tasks import sync_charge_refunds

        charge_id = _id_of(obj.get("id"))
        if not charge_id:
            return "no_charge"
        account = event.get("account") if isinstance(event.get("account"), str) else ""
        enqueue(sync_charge_refunds, charge_id, str(payment.id), account, queue="payments")
        return "refunds_queued"
    applied = apply_refunds(payment, refunds)
    return f"refunds: {applied}"


def apply_refunds(payment: Payment, refunds: list) -> int:
    """Record or settle each gateway refund of a payment; returns how many changed."""
    from ruihe_saas.refunds.services import record_gateway_refund, settle_gateway_refund

    changed = 0
    for refund in refunds:
        refund = _dict(refund)
        refund_id = _id_of(refund.get("id"))
        amount = refund.get("amount")
        status = refund.get("status")
        if not refund_id or not isinstance(amount, int) or isinstance(amount, bool):
            continue
        ours = db.session.scalar(select(Refund).where(Refund.gateway_refund_id == refund_id))
        if ours is not None:
            final = "failed" if status == "canceled" else status
            if final in ("succeeded", "failed") and ours.status.value != final:
                settle_gateway_refund(refund_id, final)
                changed += 1
            continue
        if status in ("succeeded", "pending") and amount > 0:
            recorded = record_gateway_refund(
                payment,
                from_minor_units(amount),
                refund_id,
                reason=str(_l("Refunded at the payment provider")),
                status=status,
            )
            changed += recorded is not None
    db.session.flush()
    return changed


def _payout_tenant(event: dict) -> uuid.UUID | None:
    from ruihe_saas.online.payouts import payout_tenant

    account = event.get("account")
    if account is not None and not (isinstance(account, str) and account):
        return None
    return payout_tenant(account)


def _payout_in(obj: dict, status: str) -> tuple[str | None, str]:
    """``(payout id, "")`` when ``obj`` is a payout in ``status``, else ``(None, outcome)``."""
    payout_id = _id_of(obj.get("id"))
    if not payout_id or not payout_id.startswith("po_") or len(payout_id) > 100:
        return None, "no_payout"
    if obj.get("status") != status:
        return None, f"unchanged: {str(obj.get('status'))[:40]}"
    return payout_id, ""


def _payout_paid(event: dict, obj: dict) -> str:
    from ruihe_saas.online.payouts import find_payout

    payout_id, refused = _payout_in(obj, "paid")
    if payout_id is None:
        return refused
    if find_payout(payout_id) is not None:
        return "already_recorded"
    from ruihe_saas.jobs import enqueue
    from ruihe_saas.online.tasks import sync_payout

    account = event.get("account") if isinstance(event.get("account"), str) else ""
    enqueue(sync_payout, payout_id, account, queue="payments")
    return "payout_queued"


def _payout_failed(event: dict, obj: dict) -> str:
    from ruihe_saas.ledger.postings import local_date
    from ruihe_saas.online.payouts import record_payout_failure

    payout_id, refused = _payout_in(obj, "failed")
    if payout_id is None:
        return refused
    outcome = record_payout_failure(payout_id, local_date(_event_time(event)))
    return {"reversed": "payout_reversed", "known": "already_failed"}.get(
        outcome, "payout_not_recorded"
    )


_HANDLERS = {
    "checkout.session.completed": _complete,
    "checkout.session.async_payment_succeeded": _complete,
    "payment_intent.succeeded": _complete,
    "checkout.session.async_payment_failed": _fail,
    "payment_intent.payment_failed": _fail,
    "charge.refunded": _refunded,
    "payout.paid": _payout_paid,
    "payout.failed": _payout_failed,
}
