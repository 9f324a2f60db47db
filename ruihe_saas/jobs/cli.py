"""``flask worker``: an RQ worker with the Flask app context (jobs need the app and its DB)."""

from __future__ import annotations

import os

import click
from flask import current_app
from flask.cli import with_appcontext

from ruihe_saas.jobs import QUEUE_NAMES, redis_connection


@click.command("worker")
@click.option("--burst", is_flag=True, help="Drain the queues, then exit.")
@click.option(
    "--queue",
    "queues",
    multiple=True,
    type=click.Choice(QUEUE_NAMES),
    help="Listen to these queues only (default: all, in priority order).",
)
@with_appcontext
def worker_command(burst: bool, queues: tuple[str, ...]) -> None:
    """Run an RQ worker for Ruihe's queues."""
    from rq import Queue, Worker

    if not current_app.config.get("REDIS_URL"):
        raise click.ClickException("REDIS_URL is not set: jobs run in-process, no worker needed.")
    connection = redis_connection()
    current_app.extensions["ruihe_pid"] = os.getpid()
    names = list(queues) or QUEUE_NAMES
    worker = Worker([Queue(name, connection=connection) for name in names], connection=connection)
    worker.work(burst=burst, with_scheduler=not burst)
