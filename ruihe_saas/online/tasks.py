"""Online payment jobs (RQ): reconciliation with Stripe, syncing a charge's refunds and
recording a payout.

``daily_reconcile`` is run once a day by the RQ cron scheduler (``flask payments cron``,
see ``online.cli``): the missed events, then the payouts (``online.reconcile.reconcile_all``);
it is platform-wide (every tenant), so it is a plain RQ job rather than a tenant's
``JobRecord``. ``sync_charge_refunds`` is a tenant job (``jobs.enqueue``, queue ``payments``)
for ``charge.refunded`` events whose refunds are not all in the event; ``sync_payout`` one
for ``payout.paid`` events (the payout's balance transactions — what it settles, with the
fees — come from Stripe).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

RECONCILE_DAYS = 3  # the daily run looks this far back: missed events are re-listed
DAILY_CRON = "0 19 * * *"  # 19:00 UTC = 03:00 Asia/Shanghai


def reconcile_job(since_iso: str | None = None) -> dict:
    """Reconcile events and payouts since ``since_iso`` (default: ``RECONCILE_DAYS`` ago)."""
    from ruihe_saas.jobs.runner import _app_context, _forget_inherited_connections
    from ruihe_saas.online.reconcile import reconcile_all

    since = (
        datetime.fromisoformat(since_iso)
        if since_iso
        else datetime.now(UTC) - timedelta(days=RECONCILE_DAYS)
    )
    with _app_context():
        _forget_inherited_connections()
        return reconcile_all(since)


def daily_reconcile() -> dict:
    return reconcile_job(None)


def cron_scheduler(connection):
    """The RQ cron scheduler with the daily reconciliation registered (``flask payments
    cron`` starts it; ``flask worker`` runs the jobs it enqueues on queue ``payments``)."""
    from rq.cron import CronScheduler

    from ruihe_saas.jobs import QUEUES

    scheduler = CronScheduler(connection=connection)
    scheduler.register(
        daily_reconcile,
        "payments",
        cron=DAILY_CRON,
        job_timeout=QUEUES["payments"].timeout,
        name="ruihe-daily-reconcile",
    )
    return scheduler


def sync_charge_refunds(charge_id: str, payment_id: str, account: str = "") -> dict:
    """List the charge's refunds from Stripe and record/settle each (runs in the tenant)."""
    from ruihe_saas.errors import NotFound
    from ruihe_saas.online.events import apply_refunds
    from ruihe_saas.payments.models import Payment
    from ruihe_saas.payments.stripe_gateway import StripeGateway
    from ruihe_saas.tenancy.lookup import get_owned

    payment = get_owned(Payment, payment_id)
    if payment is None:
        raise NotFound("payment not found")
    refunds = StripeGateway().list_refunds(charge_id, account or None)
    return {"refunds": len(refunds), "changed": apply_refunds(payment, refunds)}


def sync_payout(payout_id: str, account: str = "") -> dict:
    """Ask Stripe for a paid payout and its balance transactions, and record and post it
    (runs in the tenant that owns ``account``; "" is the platform's account)."""
    from ruihe_saas.online.payouts import sync_payout as record

    return {"payout_id": payout_id, "outcome": record(payout_id, account or None)}
