"""Reconciliation: apply the gateway events the webhook missed.

For the platform's own Stripe account and every tenant's connected account (tenants with
enabled gateway settings in connect mode), the events of the handled types created since
``since`` are listed from Stripe and applied like webhooks (``source="reconcile"``). Events
already applied are duplicates and change nothing, so running it often, or over an
overlapping window, is harmless. Each event is its own unit of work (committed on its own),
so one failing event does not undo the others.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import select

from ruihe_saas.extensions import db
from ruihe_saas.online.events import DUPLICATE, HANDLED_TYPES, IGNORED, UNKNOWN_TENANT, apply_event
from ruihe_saas.payments.gateway import GatewayError
from ruihe_saas.payments.models import GatewayMode, GatewaySettings
from ruihe_saas.tenancy.context import tenant_context
from ruihe_saas.tenancy.models import Tenant

log = logging.getLogger(__name__)


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
    if gateway is None:
        if not current_app.config.get("STRIPE_SECRET_KEY"):
            log.info("reconcile: STRIPE_SECRET_KEY is not set, nothing to do")
            return counts
        from ruihe_saas.payments.stripe_gateway import StripeGateway

        gateway = StripeGateway()
    for account in [None, *connected_accounts()]:
        try:
            events = list(gateway.events_since(since, HANDLED_TYPES, connected_account=account))
        except GatewayError as error:
            log.warning("reconcile: listing events of %s failed: %s", account or "platform", error)
            counts["errors"] += 1
            continue
        for event in events:
            if not isinstance(event, dict) or event.get("type") not in HANDLED_TYPES:
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
