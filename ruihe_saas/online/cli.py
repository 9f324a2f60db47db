"""``flask payments …``: online payment maintenance (reconciliation with the gateway).

- ``flask payments reconcile [--since 2024-07-01]``: apply the Stripe events the webhook
  missed and record and post the payouts paid since then (default: the last 3 days), print
  the counts; exit 1 on errors.
- ``flask payments cron``: the RQ cron scheduler (rq ≥ 2.5, ``rq.cron``) that enqueues the
  daily reconciliation (``online.tasks.daily_reconcile``, queue ``payments``, 03:00
  Asia/Shanghai); ``flask worker`` runs it. Run one of these processes per deployment.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

payments_cli = AppGroup("payments", help="Online payments: reconcile with the gateway.")


def _parse_since(value: str | None) -> datetime:
    from ruihe_saas.online.tasks import RECONCILE_DAYS

    if not value:
        return datetime.now(UTC) - timedelta(days=RECONCILE_DAYS)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use a date (2024-07-01) or an ISO date-time") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@payments_cli.command("reconcile")
@click.option(
    "--since",
    "since",
    help="Events created and payouts paid since this date (default: 3 days ago).",
)
def reconcile_command(since: str | None) -> None:
    """Apply Stripe events that the webhook missed; record and post Stripe payouts."""
    from ruihe_saas.online.reconcile import reconcile_all

    moment = _parse_since(since)
    counts = reconcile_all(moment)
    payouts = counts["payouts"]
    click.echo(
        f"since {moment.isoformat()}: seen {counts['seen']}, applied {counts['applied']}, "
        f"duplicates {counts['duplicates']}, ignored {counts['ignored']}, "
        f"errors {counts['errors']}"
    )
    click.echo(
        f"payouts: seen {payouts['seen']}, recorded {payouts['recorded']}, "
        f"known {payouts['known']}, reversed {payouts['reversed']}, "
        f"skipped {payouts['skipped']}, errors {payouts['errors']}"
    )
    if counts["errors"] or payouts["errors"]:
        raise SystemExit(1)


@payments_cli.command("cron")
@with_appcontext
def cron_command() -> None:
    """Run the scheduler that enqueues the daily reconciliation (needs REDIS_URL)."""
    from ruihe_saas.jobs import redis_connection
    from ruihe_saas.online.tasks import cron_scheduler

    if not current_app.config.get("REDIS_URL"):
        raise click.ClickException("REDIS_URL is not set: run `flask payments reconcile` instead.")
    cron_scheduler(redis_connection()).start()
