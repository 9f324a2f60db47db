"""Reconciliation: apply the gateway events the webhook missed, and book the payouts.

``reconcile(since)``: for the platform's own Stripe account and every tenant's connected
account (tenants with enabled gateway settings in connect mode), the events of the handled
types created since ``since`` are listed from Stripe and applied like webhooks
(``source="reconcile"``). Events already applied are duplicates and change nothing, so
running it often, or over an overlapping window, is harmless. Each event is its own unit of
work (committed on its own), so one failing event does not undo the others. Payout events
are left to ``reconcile_payouts``, which lists the payouts themselves.

``reconcile_payouts(since)``: for each account whose payouts a tenant owns
(``online.payouts.payout_accounts``), the paid payouts that arrived since ``since``'s date
are listed, and each one not yet recorded is recorded and posted — split over the estates
whose payments it settles, from its balance transactions — in the tenant's context
(``online.payouts.record_payout``), one commit per payout. A payout the
ledger cannot book (another currency, impossible amounts) is skipped and logged; nothing is
written for it. A recorded payout now listed ``failed`` (the bank returned it) has its entry
reversed once (``online.payouts.record_payout_failure``).

``reconcile_all(since)`` runs both (``flask payments reconcile``, the daily job).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import select

from ruihe_saas.errors import DomainError
from ruihe_saas.extensions import db
from ruihe_saas.online.events import (
    DUPLICATE,
    HANDLED_TYPES,
    IGNORED,
    PAYOUT_TYPES,
    UNKNOWN_TENANT,
    apply_event,
)
from ruihe_saas.payments.gateway import GatewayError
from ruihe_saas.payments.models import GatewayMode, GatewaySettings
from ruihe_saas.tenancy.context import tenant_context
from ruihe_saas.tenancy.models import Tenant

log = logging.getLogger(__name__)

# the events listed: payouts are listed as payouts (``reconcile_payouts``)
EVENT_TYPES = [t for t in HANDLED_TYPES if t not in PAYOUT_TYPES]


def _default_gateway():
    """The deployment's Stripe gateway, or None when ``STRIPE_SECRET_KEY`` is not set."""
    if not current_app.config.get("STRIPE_SECRET_KEY"):
        log.info("reconcile: STRIPE_SECRET_KEY is not set, nothing to do")
        return None
    from ruihe_saas.payments.stripe_gateway import StripeGateway

    return StripeGateway()


def connected_accounts() -> list[str]:
    """The Stripe Connect accounts of tenants with enabled gateway settings."""
    accounts: set[str] = set()
    for tenant_id in list(db.session.scalars(select(Tenant.id))):
        with tenant_context(tenant_id):
            for settings in db.session.scalars(
                select(GatewaySettings).where(GatewaySettings.enabled.is_(True))
            ):
                if settings.mode == GatewayMode.CONNECT and settings.connected_account_id:
                    accounts.add(settings.connected_account_id)
    return sorted(accounts)


def reconcile(since: datetime, gateway=None) -> dict:
    """Apply the events since ``since``; returns the counts
    ``{seen, applied, duplicates, ignored, errors}``."""
    from ruihe_saas.jobs import commit_and_dispatch

    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    counts = {"seen": 0, "applied": 0, "duplicates": 0, "ignored": 0, "errors": 0}
    gateway = gateway or _default_gateway()
    if gateway is None:
        return counts
    for account in [None, *connected_accounts()]:
        try:
            events = list(gateway.events_since(since, EVENT_TYPES, connected_account=account))
        except GatewayError as error:
            log.warning("reconcile: listing events of %s failed: %s", account or "platform", error)
            counts["errors"] += 1
            continue
        for event in events:
            if not isinstance(event, dict) or event.get("type") not in EVENT_TYPES:
                continue
            if account and not event.get("account"):
                event["account"] = account
            counts["seen"] += 1
            try:
                outcome = apply_event(event, source="reconcile")
                commit_and_dispatch()
            except Exception:
                db.session.rollback()
                log.exception("reconcile: event %s failed", event.get("id"))
                counts["errors"] += 1
                continue
            if outcome == DUPLICATE:
                counts["duplicates"] += 1
            elif outcome in (IGNORED, UNKNOWN_TENANT):
                counts["ignored"] += 1
            else:
                counts["applied"] += 1
    log.info("reconcile since %s: %s", since.isoformat(), counts)
    return counts


def reconcile_payouts(since: datetime, gateway=None) -> dict:
    """Record and post the paid payouts that arrived since ``since``'s date, and reverse the
    recorded ones the bank has since returned (listed ``failed``); returns the counts
    ``{seen, recorded, known, reversed, skipped, errors}`` (payouts still on their way are
    not counted)."""
    from ruihe_saas.jobs import commit_and_dispatch
    from ruihe_saas.ledger.postings import local_date
    from ruihe_saas.online.payouts import (
        PayoutRefused,
        find_payout,
        payout_accounts,
        record_payout,
        record_payout_failure,
    )

    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    counts = {"seen": 0, "recorded": 0, "known": 0, "reversed": 0, "skipped": 0, "errors": 0}
    gateway = gateway or _default_gateway()
    if gateway is None:
        return counts
    for account, tenant_id in payout_accounts():
        try:
            payouts = list(gateway.list_payouts(since, connected_account=account, status=None))
        except GatewayError as error:
            log.warning("reconcile: listing payouts of %s failed: %s", account or "platform", error)
            counts["errors"] += 1
            continue
        for info in payouts:
            if info.status not in ("paid", "failed"):
                continue  # pending, in transit, canceled: nothing reached the bank
            if info.status == "failed" and not _recorded(tenant_id, info.payout_id):
                continue  # failed before it was booked: nothing to undo
            counts["seen"] += 1
            try:
                with tenant_context(tenant_id):
                    if info.status == "failed":
                        outcome = record_payout_failure(
                            info.payout_id, local_date(datetime.now(UTC))
                        )
                    elif find_payout(info.payout_id) is not None:
                        outcome = "known"
                    else:
                        transactions = gateway.payout_transactions(
                            info.payout_id, connected_account=account
                        )
                        _row, created = record_payout(info, transactions, source="reconcile")
                        outcome = "recorded" if created else "known"
                    commit_and_dispatch()
            except PayoutRefused as refused:
                db.session.rollback()
                log.warning("reconcile: payout %s skipped: %s", info.payout_id, refused.message)
                counts["skipped"] += 1
                continue
            except (GatewayError, DomainError) as error:
                db.session.rollback()
                log.warning("reconcile: payout %s failed: %s", info.payout_id, error)
                counts["errors"] += 1
                continue
            except Exception:
                db.session.rollback()
                log.exception("reconcile: payout %s failed", info.payout_id)
                counts["errors"] += 1
                continue
            counts["known" if outcome == "unknown" else outcome] += 1
    log.info("reconcile payouts since %s: %s", since.isoformat(), counts)
    return counts


def _recorded(tenant_id, payout_id: str) -> bool:
    from ruihe_saas.online.payouts import find_payout

    with tenant_context(tenant_id):
        return find_payout(payout_id) is not None


def reconcile_all(since: datetime, gateway=None) -> dict:
    """Events, then payouts: the event counts with the payout counts under ``payouts``."""
    gateway = gateway or _default_gateway()
    return {**reconcile(since, gateway), "payouts": reconcile_payouts(since, gateway)}
