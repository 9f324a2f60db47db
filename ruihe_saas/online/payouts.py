"""Gateway payouts: what the gateway (Stripe) paid out of its balance into the company's
bank, and the fees it kept on the payments and refunds that payout settles.

- ``record_payout(info, transactions, source=…)``, in the tenant's context: checks the payout
  (paid, in CNY, an amount > 0, fees ≥ 0 — else ``PayoutRefused``, nothing written), splits
  it over the entities whose money it settles (``split_payout``), then in a savepoint posts
  its one entry (``ledger.postings.post_gateway_payout``: per entity Dr 银行存款 its part,
  Dr 支付手续费 its fees / Cr Stripe 待清算 its gross, dated the arrival date) and adds the
  ``GatewayPayout`` row (the totals) with the entry's id — in the caller's transaction. Once
  per payout: a recorded payout is returned as it is; a concurrent transaction recording
  the same payout meets the unique ``(tenant_id, payout_id)`` (and the entry's unique
  ``source_key``), and this one returns the winner's row.
- ``split_payout(amount_fen, transactions)``: online payments debit the clearing account of
  the household's estate, so a payout credits each estate what it takes from there: the
  charges and refunds of that estate's payments (matched by payment intent to
  ``Payment.gateway_payment_id``; a refund also by ``Refund.gateway_refund_id``) with their
  fees. Everything else — intents of no payment here, adjustments and disputes, and the
  difference between the payout amount and what its transactions add up to — is the
  collective economy's. Σ parts = the payout amount, Σ fees = its fees.
- ``payout_accounts()``: whose payouts are whose. A connected account's payouts belong to the
  one tenant whose settings (connect mode) name it; the platform account's payouts to the one
  tenant using the platform's own keys (enabled, platform mode: a single-company
  deployment). An account claimed by several tenants, or a platform account with no or
  several such tenants, is left alone (logged): its payouts are nobody's to book.
- ``record_payout_failure(payout_id, day)``: a recorded payout the bank returned
  (``payout.failed``, or listed failed by the reconciliation): its entry is reversed once and
  the record marked failed; the money is back in Stripe 待清算.
- ``sync_payout(payout_id, account)``: the ``payout.paid`` webhook's job — asks the gateway
  for the payout and its fees and records it (the reconciliation does the same from the
  payouts list, ``online.reconcile.reconcile_payouts``).
- ``list_payouts(page, per_page)``: newest first, for owners and finance. A payout is the
  whole tenant's (one transfer to the company's bank, often for several estates), so an
  estate-scoped member gets 404, as for any data outside their estates.

``ledger.checks.stripe_clearing_difference`` compares the clearing account with online
payments − gateway refunds − Σ ``gross`` of these rows (for the whole tenant: how a payout
was split is kept only in its entry).
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import NamedTuple

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ruihe_saas.errors import NotFound, ValidationFailed
from ruihe_saas.extensions import db
from ruihe_saas.ledger.models import JournalEntry
from ruihe_saas.payments.gateway import (
    CHARGE,
    PAYMENT,
    REFUND,
    PaymentGateway,
    PayoutInfo,
    PayoutTransaction,
    from_minor_units,
)
from ruihe_saas.payments.models import (
    GatewayMode,
    GatewayPayout,
    GatewaySettings,
    Payment,
    PaymentMethod,
    PayoutStatus,
    Refund,
    RefundMethod,
)
from ruihe_saas.tenancy.context import current_estate_scope, tenant_context
from ruihe_saas.tenancy.models import Tenant
from ruihe_saas.web.pagination import Page, paginate

log = logging.getLogger(__name__)

PROVIDER = "stripe"
CURRENCY = "cny"  # the clearing account's currency: every checkout is in CNY
MAX_FEN = 99_999_999_999_999  # NUMERIC(14, 2)
# the transactions whose fees are the payout's fees, and which belong to a payment
SETTLED_TYPES = frozenset({CHARGE, PAYMENT, REFUND})


class PayoutRefused(ValidationFailed):
    """The gateway reported a payout this ledger cannot book (not paid, another currency,
    impossible amounts): nothing is written."""

    code = "payout_refused"


# --- whose payouts -------------------------------------------------------------------------


def payout_accounts() -> list[tuple[str | None, uuid.UUID]]:
    """``(account, tenant_id)`` for each Stripe account whose payouts one tenant owns;
    ``account`` None is the platform's own account. Platform first, then by account."""
    owners: dict[str | None, set[uuid.UUID]] = defaultdict(set)
    for tenant_id in list(db.session.scalars(select(Tenant.id))):
        with tenant_context(tenant_id):
            for settings in db.session.scalars(
                select(GatewaySettings).where(GatewaySettings.provider == PROVIDER)
            ):
                if settings.mode == GatewayMode.CONNECT and settings.connected_account_id:
                    owners[settings.connected_account_id].add(tenant_id)
                elif settings.mode == GatewayMode.PLATFORM and settings.enabled:
                    owners[None].add(tenant_id)
    accounts = []
    for account in sorted(owners, key=lambda a: "" if a is None else a):
        tenants = owners[account]
        if len(tenants) != 1:
            log.warning(
                "payouts of %s skipped: %d tenants claim the account",
                account or "the platform account",
                len(tenants),
            )
            continue
        accounts.append((account, next(iter(tenants))))
    return accounts


def payout_tenant(account: str | None) -> uuid.UUID | None:
    """The tenant that owns the payouts of ``account`` (None: the platform's), or None."""
    return dict(payout_accounts()).get(account or None)


# --- recording -----------------------------------------------------------------------------


def find_payout(payout_id: str) -> GatewayPayout | None:
    return db.session.scalar(select(GatewayPayout).where(GatewayPayout.payout_id == payout_id))


class PayoutShare(NamedTuple):
    """One entity's part of a payout (what ``post_gateway_payout`` takes)."""

    estate_id: uuid.UUID | None  # None: the collective economy
    amount: Decimal  # its part of what reached the bank (negative: it gave to the payout)
    fee: Decimal  # the fees kept on its payments and refunds

    @property
    def gross(self) -> Decimal:
        """What leaves its clearing account."""
        return self.amount + self.fee


def _readable(transactions) -> bool:
    def fen(value) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_FEN

    return isinstance(transactions, list | tuple) and all(
        isinstance(t, PayoutTransaction) and fen(t.amount_fen) and fen(t.fee_fen)
        for t in transactions
    )


def payout_fees(transactions: Sequence[PayoutTransaction]) -> int:
    """The fees (fen) the gateway kept on the payments and refunds a payout settles: what
    left the clearing balance besides the payout amount."""
    return sum(t.fee_fen for t in transactions if t.type in SETTLED_TYPES)


def _check(info: PayoutInfo, transactions) -> None:
    problem = None
    if info.status != PayoutStatus.PAID.value:
        problem = _l("The payout is not paid.")
    elif info.currency != CURRENCY:
        problem = _l("The payout is not in CNY.")
    elif info.amount_fen <= 0:
        problem = _l("The payout amount is not positive.")
    elif not _readable(transactions):
        problem = _l("The payout's transactions are unreadable.")
    elif payout_fees(transactions) < 0:
        problem = _l("The payout's fees are negative.")
    elif info.amount_fen + payout_fees(transactions) > MAX_FEN:
        problem = _l("The payout amount is too large.")
    if problem is not None:
        raise PayoutRefused(problem, fields={"payout": [problem]})


def _estates(transactions: Sequence[PayoutTransaction]) -> dict[str, uuid.UUID]:
    """The estate of each payment intent and refund id these transactions name that belongs
    to an online payment of this tenant."""
    intents = {t.payment_intent_id for t in transactions if t.payment_intent_id}
    refund_ids = {t.source_id for t in transactions if t.type == REFUND and t.source_id}
    found: dict[str, uuid.UUID] = {}
    if intents:
        found.update(
            db.session.execute(
                select(Payment.gateway_payment_id, Payment.estate_id).where(
                    Payment.gateway_payment_id.in_(sorted(intents)),
                    Payment.method == PaymentMethod.ONLINE,
                )
            )
            .tuples()
            .all()
        )
    if refund_ids:
        found.update(
            db.session.execute(
                select(Refund.gateway_refund_id, Refund.estate_id).where(
                    Refund.gateway_refund_id.in_(sorted(refund_ids)),
                    Refund.method == RefundMethod.GATEWAY,
                )
            )
            .tuples()
            .all()
        )
    return found


def split_payout(amount_fen: int, transactions: Sequence[PayoutTransaction]) -> list[PayoutShare]:
    """A payout's parts per entity, the collective economy (None) first, then by estate id;
    entities with nothing left out. Σ amount = ``amount_fen``, Σ fee = ``payout_fees``."""
    estates = _estates(transactions)
    gross: dict[uuid.UUID | None, int] = defaultdict(int)
    fees: dict[uuid.UUID | None, int] = defaultdict(int)
    for txn in transactions:
        if txn.type not in SETTLED_TYPES:
            continue  # adjustments, disputes …: in the collective economy's rest below
        estate_id = estates.get(txn.payment_intent_id or "")
        if estate_id is None and txn.type == REFUND:
            estate_id = estates.get(txn.source_id or "")
        gross[estate_id] += txn.amount_fen
        fees[estate_id] += txn.fee_fen
    # what the payout moved besides the matched parts is the collective economy's
    gross[None] += amount_fen + sum(fees.values()) - sum(gross.values())
    return [
        PayoutShare(
            estate_id,
            from_minor_units(gross[estate_id] - fees[estate_id]),
            from_minor_units(fees[estate_id]),
        )
        for estate_id in sorted(gross, key=lambda e: "" if e is None else str(e))
        if gross[estate_id] or fees[estate_id]
    ]


def record_payout(
    info: PayoutInfo, transactions: Sequence[PayoutTransaction], *, source: str = "reconcile"
) -> tuple[GatewayPayout, bool]:
    """Record and post a paid payout once, split over the entities it settles (its balance
    transactions, ``PaymentGateway.payout_transactions``); ``(row, True)`` when this call
    recorded it, ``(row, False)`` when it already was. Flushes; the caller commits."""
    from ruihe_saas.ledger.postings import post_gateway_payout

    _check(info, transactions)
    existing = find_payout(info.payout_id)
    if existing is not None:
        return existing, False
    amount, fees = from_minor_units(info.amount_fen), from_minor_units(payout_fees(transactions))
    shares = split_payout(info.amount_fen, transactions)
    try:
        with db.session.begin_nested():
            entry = post_gateway_payout(shares, info.arrival_date, info.payout_id)
            row = GatewayPayout(
                provider=PROVIDER,
                payout_id=info.payout_id,
                connected_account_id=info.connected_account,
                amount=amount,
                fees=fees,
                gross=amount + fees,
                currency=info.currency,
                arrival_date=info.arrival_date,
                status=PayoutStatus.PAID,
                journal_entry_id=entry.id,
                source=source[:20],
            )
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        # recorded meanwhile by another transaction (webhook job and reconciliation)
        existing = find_payout(info.payout_id)
        if existing is None:
            raise
        return existing, False
    log.info(
        "payout %s recorded: %s + fees %s over %d entities (entry %s)",
        info.payout_id,
        amount,
        fees,
        len(shares),
        entry.number,
    )
    return row, True


def sync_payout(
    payout_id: str,
    account: str | None = None,
    *,
    gateway: PaymentGateway | None = None,
    source: str = "webhook",
) -> str:
    """Ask the gateway for a payout and its balance transactions and record it (in the
    current tenant); returns the outcome: ``recorded``, ``known``, or ``refused: …``
    (nothing written). ``GatewayError`` propagates, so a job retries."""
    if find_payout(payout_id) is not None:
        return "known"
    if gateway is None:
        from ruihe_saas.payments.stripe_gateway import StripeGateway

        gateway = StripeGateway()
    info = gateway.retrieve_payout(payout_id, account)
    if info.status != PayoutStatus.PAID.value:
        return f"refused: not paid ({info.status})"
    try:
        _row, created = record_payout(
            info, gateway.payout_transactions(payout_id, account), source=source
        )
    except PayoutRefused as refused:
        log.info("payout %s refused: %s", payout_id, refused.message)
        return f"refused: {refused.message}"
    return "recorded" if created else "known"


def record_payout_failure(payout_id: str, day: date) -> str:
    """A payout the gateway reported paid and the bank then returned (Stripe: ``failed``,
    possibly days after ``paid``): once, reverse its entry (``ledger.postings.
    post_gateway_payout_failure``, dated ``day`` or the next open month) and mark the
    record failed on ``day``. Returns ``reversed``; ``known`` when already failed;
    ``unknown`` when it was never recorded (nothing was booked, nothing to undo — and a
    failed payout is never recorded later). Flushes; the caller commits."""
    from ruihe_saas.ledger.postings import post_gateway_payout_failure

    row = db.session.scalar(
        select(GatewayPayout).where(GatewayPayout.payout_id == payout_id).with_for_update()
    )
    if row is None:
        return "unknown"
    if row.status == PayoutStatus.FAILED:
        return "known"
    try:
        with db.session.begin_nested():
            entry = post_gateway_payout_failure(row.journal_entry_id, day, payout_id)
            row.status = PayoutStatus.FAILED
            row.failed_on = day
            row.reversal_entry_id = entry.id
            db.session.flush()
    except IntegrityError:
        # reversed meanwhile by another transaction (webhook and reconciliation)
        db.session.refresh(row)
        if row.status == PayoutStatus.FAILED:
            return "known"
        raise
    log.info("payout %s failed: entry reversed by %s", payout_id, entry.number)
    return "reversed"


# --- reading -------------------------------------------------------------------------------


def _require_whole_tenant() -> None:
    if current_estate_scope() is not None:
        raise NotFound(_l("Not found."))


def list_payouts(page: int = 1, per_page: int = 20) -> Page:
    """The tenant's payouts, newest arrival first."""
    _require_whole_tenant()
    statement = select(GatewayPayout).order_by(
        GatewayPayout.arrival_date.desc(), GatewayPayout.id.desc()
    )
    return paginate(statement, page, per_page)


def entry_numbers(payouts: list[GatewayPayout]) -> dict[uuid.UUID, str]:
    """The journal entry number of each payout's entry and of its reversal."""
    ids = {p.journal_entry_id for p in payouts} | {
        p.reversal_entry_id for p in payouts if p.reversal_entry_id is not None
    }
    if not ids:
        return {}
    rows = db.session.execute(
        select(JournalEntry.id, JournalEntry.number).where(JournalEntry.id.in_(ids))
    )
    return dict(rows.tuples().all())
