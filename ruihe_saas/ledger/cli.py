"""``flask ledger …``: ledger maintenance.

- ``flask ledger check [--tenant slug]``: reconcile each tenant's ledger with its bills,
  payments and refunds (``ledger.checks``); prints the differences and exits 1 when there
  are any.
"""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

ledger_cli = AppGroup("ledger", help="The collective-economy ledger: reconciliation checks.")


@ledger_cli.command("check")
@click.option("--tenant", "slug", help="Only this tenant (its slug).")
def check_command(slug: str | None) -> None:
    """Check every entry balances, the trial balance is zero, 应收/预收 per household match
    the bills and prepaid credit, and Stripe clearing matches what is not paid out."""
    from ruihe_saas.extensions import db
    from ruihe_saas.ledger.checks import run_checks
    from ruihe_saas.tenancy import tenant_context
    from ruihe_saas.tenancy.models import Tenant

    statement = select(Tenant.id, Tenant.slug).order_by(Tenant.slug)
    if slug:
        statement = statement.where(Tenant.slug == slug)
    tenants = db.session.execute(statement).all()
    if slug and not tenants:
        raise click.ClickException(f"no tenant {slug}")
    failed = 0
    for tenant_id, tenant_slug in tenants:
        with tenant_context(tenant_id):
            differences = run_checks()
        if differences:
            failed += 1
            click.echo(f"{tenant_slug}: {len(differences)} difference(s)")
            for difference in differences:
                click.echo(f"  {difference}")
        else:
            click.echo(f"{tenant_slug}: ok")
    if failed:
        raise SystemExit(1)
