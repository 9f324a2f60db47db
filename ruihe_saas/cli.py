"""Command-line interface: ``flask tenants …``, ``flask users …``, ``flask members …``,
``flask worker``. Commands commit once at the end, like a request."""

from __future__ import annotations

from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from ruihe_saas.auth.models import Role
from ruihe_saas.errors import DomainError


def _run(action):
    """Run a unit of work: commit and dispatch its jobs, or report a domain error."""
    from ruihe_saas.extensions import db
    from ruihe_saas.jobs import commit_and_dispatch

    try:
        result = action()
    except DomainError as error:
        db.session.rollback()
        detail = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in error.fields.items())
        raise click.ClickException(f"{error.message} {detail}".strip()) from error
    except BaseException:
        db.session.rollback()
        raise
    commit_and_dispatch()
    return result


tenants_cli = AppGroup("tenants", help="Create and load tenants.")
users_cli = AppGroup("users", help="Manage user accounts.")
members_cli = AppGroup("members", help="Manage tenant memberships.")


@tenants_cli.command("create")
@click.argument("slug")
@click.argument("name")
def tenants_create(slug: str, name: str) -> None:
    """Create a tenant (a property company)."""
    from ruihe_saas.tenancy.services import create_tenant

    tenant = _run(lambda: create_tenant(slug, name))
    click.echo(f"created tenant {tenant.slug} ({tenant.id})")


@tenants_cli.command("load")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
def tenants_load(path: Path) -> None:
    """Load (create or update) a declarative tenant definition, e.g. tenants/ruihe."""
    from ruihe_saas.tenancy.definitions import load_definition

    report = _run(lambda: load_definition(path))
    for line in report.lines:
        click.echo(line)
    for email, password, role in report.logins:
        click.echo(f"  demo login  {email} / {password}  ({role}, {report.tenant.slug})")


@tenants_cli.command("list")
def tenants_list() -> None:
    from sqlalchemy import select

    from ruihe_saas.extensions import db
    from ruihe_saas.tenancy.models import Tenant

    for tenant in db.session.scalars(select(Tenant).order_by(Tenant.slug)):
        click.echo(f"{tenant.slug}\t{tenant.status.value}\t{tenant.name}")


@users_cli.command("create")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--name", default="")
@click.option("--platform-admin", is_flag=True)
def users_create(email: str, password: str, name: str, platform_admin: bool) -> None:
    """Create a user account."""
    from ruihe_saas.auth.services import create_user

    user = _run(lambda: create_user(email, password, name=name, is_platform_admin=platform_admin))
    click.echo(f"created user {user.email}{' (platform admin)' if platform_admin else ''}")


@members_cli.command("add")
@click.argument("slug")
@click.argument("email")
@click.argument("role", type=click.Choice([role.value for role in Role]))
@click.option(
    "--estate",
    "estate_codes",
    multiple=True,
    metavar="CODE",
    help="An estate the member works on (estate admins and cashiers); repeat for several.",
)
def members_add(slug: str, email: str, role: str, estate_codes: tuple[str, ...]) -> None:
    """Give a user a role in a tenant."""
    from ruihe_saas.auth.services import add_member
    from ruihe_saas.errors import ValidationFailed
    from ruihe_saas.estates.services import find_estate_by_code
    from ruihe_saas.tenancy.context import tenant_context
    from ruihe_saas.tenancy.services import get_tenant

    def action():
        with tenant_context(get_tenant(slug).id):
            estates = [find_estate_by_code(code) for code in estate_codes]
            unknown = [
                code for code, estate in zip(estate_codes, estates, strict=True) if not estate
            ]
            if unknown:
                raise ValidationFailed(f"Unknown estate code(s): {', '.join(unknown)}")
            return add_member(email, role, [estate.id for estate in estates])

    _run(action)
    scope = f" (estates: {', '.join(estate_codes)})" if estate_codes else ""
    click.echo(f"{email} is now {role} of {slug}{scope}")


def register_cli(app: Flask) -> None:
    from ruihe_saas.jobs.cli import worker_command
    from ruihe_saas.ledger.cli import ledger_cli
    from ruihe_saas.online.cli import payments_cli

    app.cli.add_command(tenants_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(members_cli)
    app.cli.add_command(worker_command)
    app.cli.add_command(payments_cli)
    app.cli.add_command(ledger_cli)
