"""Gateway payouts: what the gateway (Stripe) paid out of its balance into the company's
bank, and the fees it kept on the payments and refunds that payout settles.

- ``record_payout(info, fees_fen, source=…)``, in the tenant's context: checks the payout
  (paid, in CNY, an amount > 0, fees ≥ 0 — else ``PayoutRefused``, nothing written), then in
  a savepoint posts its entry (``ledger.postings.post_gateway_payout``: Dr 银行存款 amount,
  Dr 支付手续费 fees / Cr Stripe 待清算 gross = amount + fees, on the collective economy,
  dated the arrival date) and adds the ``GatewayPayout`` row with the entry's id — in the
  caller's transaction. Once per payout: a recorded payout is returned as it is; a
  concurrent transaction recording the same payout meets the unique ``(tenant_id,
  payout_id)`` (and the entry's unique ``source_key``), and this one returns the winner's row.
- ``payout_accounts()``: whose payouts are whose. A connected account's payouts belong to the
  one tenant whose settings (connect mode) name it; the platform account's payouts to the one
  tenant using the platform's own keys (enabled, platform mode: a single-company
  deployment). An account claimed by several tenants, or a platform account with no or
  several such tenants, is left alone (logged): its payouts are nobody's to book.
- ``sync_payout(payout_id, account)``: the ``payout.paid`` webhook's job — asks the gateway
  for the payout and its fees and records it (the reconciliation does the same from the
  payouts list, ``online.reconcile.reconcile_payouts``).
- ``list_payouts(page, per_page)``: newest first, for owners and finance. Payouts belong to
  the collective economy, so an estate-scoped member gets 404, as for any data outside
  their estates.

``ledger.checks.stripe_clearing_difference`` compares the clearing account with online
payments − gateway refunds − Σ ``gross`` of these rows.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ruihe_saas.errors import NotFound, ValidationFailed
from ruihe_saas.extensions import db
from ruihe_saas.ledger.models import JournalEntry
from ruihe_saas.payments.gateway import PaymentGateway, PayoutInfo, from_minor_units
from ruihe_saas.payments.models import (
    GatewayMode,
    GatewayPayout,
    GatewaySettings,
    PayoutStatus,
)
from ruihe_saas.tenancy.context import current_estate_scope, tenant_context
from ruihe_saas.tenancy.models import Tenant
from ruihe_saas.web.pagination import Page, paginate

log = logging.getLogger(__name__)

PROVIDER = "stripe"
CURRENCY = "cny"  # the clearing account's currency: every checkout is in CNY
MAX_FEN = 99_999_999_999_999  # NUMERIC(14, 2)


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


def _check(info: PayoutInfo, fees_fen) -> None:
    problem = None
    if info.status != PayoutStatus.PAID.value:
        problem = _l("The payout is not paid.")
    elif info.currency != CURRENCY:
        problem = _l("The payout is not in CNY.")
    elif info.amount_fen <= 0:
        problem = _l("The payout amount is not positive.")
    elif not isinstance(fees_fen, int) or isinstance(fees_fen, bool) or fees_fen < 0:
        problem = _l("The payout's fees are negative.")
    elif info.amount_fen + fees_fen > MAX_FEN:
        problem = _l("The payout amount is too large.")
    if problem is not None:
        raise PayoutRefused(problem, fields={"payout": [problem]})


def record_payout(
    info: PayoutInfo, fees_fen: int, *, source: str = "reconcile"
) -> tuple[GatewayPayout, bool]:
    """Record and post a paid payout once; ``(row, True)`` when this call recorded it,
    ``(row, False)`` when it already was. Flushes; the caller commits."""
    from ruihe_saas.ledger.postings import post_gateway_payout

    _check(info, fees_fen)
    existing = find_payout(info.payout_id)
    if existing is not None:
        return existing, False
    amount, fees = from_minor_units(info.amount_fen), from_minor_units(fees_fen)
    try:
        with db.session.begin_nested():
            entry = post_gateway_payout(amount, fees, info.arrival_date, info.payout_id)
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
        "payout %s recorded: %s + fees %s (entry %s)", info.payout_id, amount, fees, entry.number
    )
    return row, True


def sync_payout(
    payout_id: str,
    account: str | None = None,
    *,
    gateway: PaymentGateway | None = None,
    source: str = "webhook",
) -> str:
    """Ask the gateway for a payout and its fees and record it (in the current tenant);
    returns the outcome: ``recorded``, ``known``, or ``refused: …`` (nothing written).
    ``GatewayError`` propagates, so a job retries."""
    if find_payout(payout_id) is not None:
        return "known"
    if gateway is None:
        from ruihe_saas.payments.stripe_gateway import StripeGateway

        gateway = StripeGateway()
    info = gateway.retrieve_payout(payout_id, account)
    if info.status != PayoutStatus.PAID.value:
        return f"refused: not paid ({info.status})"
    try:
        _row, created = record_payout(info, gateway.payout_fees(payout_id, account), source=source)
    except PayoutRefused as refused:
        log.info("payout %s refused: %s", payout_id, refused.message)
        return f"refused: {refused.message}"
    return "recorded" if created else "known"


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
    """The journal entry number of each payout's entry."""
    ids = {p.journal_entry_id for p in payouts}
    if not ids:
        return {}
    rows = db.session.execute(
        select(JournalEntry.id, JournalEntry.number).where(JournalEntry.id.in_(ids))
    )
    return dict(rows.tuples().all())
