"""Runs one job: inside the app context and the job's tenant context, updating its record.

RQ calls ``execute(job_id, tenant_id)``; the function and its arguments are read from the
tenant's ``JobRecord``, so the queue carries ids only. A finished job is never run again
(a redelivered job is a no-op). Failures are recorded and re-raised so RQ retries them.
"""

from __future__ import annotations

import logging
import os
import traceback
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

from flask import current_app, has_app_context
from werkzeug.utils import import_string

from ruihe_saas.extensions import db
from ruihe_saas.jobs.models import JobRecord, JobStatus
from ruihe_saas.tenancy.context import estate_scope, tenant_context

log = logging.getLogger("ruihe_saas.jobs")

_current_record: ContextVar[JobRecord | None] = ContextVar("ruihe_job_record", default=None)
_standalone_app = None


def current_record() -> JobRecord | None:
    return _current_record.get()


@contextmanager
def _app_context():
    """``flask worker`` provides the app context; plain ``rq worker`` gets one here."""
    global _standalone_app
    if has_app_context():
        yield
        return
    if _standalone_app is None:
        from ruihe_saas.app import create_app

        _standalone_app = create_app()
    with _standalone_app.app_context():
        yield


def _forget_inherited_connections() -> None:
    """RQ forks a work horse per job: never reuse the parent's pooled connections."""
    app = current_app._get_current_object()
    if app.extensions.get("ruihe_pid") != os.getpid():
        db.engine.dispose(close=False)
        app.extensions["ruihe_pid"] = os.getpid()


def execute(job_id: str, tenant_id: str, inline: bool = False):
    with _app_context():
        _forget_inherited_connections()
        with tenant_context(tenant_id) as tid, estate_scope(_scope_of(uuid.UUID(job_id), tid)):
            return _run(uuid.UUID(job_id), tid, inline)


def _scope_of(job_id: uuid.UUID, tenant_id: uuid.UUID):
    """The estate scope the job was asked for in (None: every estate)."""
    record = db.session.get(JobRecord, (tenant_id, job_id))
    return None if record is None or record.estate_scope is None else record.estate_scope


def _run(job_id: uuid.UUID, tenant_id: uuid.UUID, inline: bool):
    record = db.session.get(JobRecord, (tenant_id, job_id))
    if record is None:
        raise LookupError(f"job {job_id} has no record in tenant {tenant_id}")
    if record.status == JobStatus.FINISHED:
        return record.result
    record.status = JobStatus.STARTED
    record.started_at = datetime.now(UTC)
    record.attempts += 1
    record.error = None
    db.session.commit()

    token = _current_record.set(record)
    try:
        result = import_string(record.name.replace(":", "."))(*record.args)
        record.status = JobStatus.FINISHED
        record.result = result
        record.ended_at = datetime.now(UTC)
        db.session.commit()
        return result
    except Exception as error:
        db.session.rollback()
        log.exception("job %s (%s) failed", job_id, record.name)
        failed = db.session.get(JobRecord, (tenant_id, job_id))
        failed.status = JobStatus.FAILED
        failed.error = "".join(traceback.format_exception_only(error)).strip()[:2000]
        failed.ended_at = datetime.now(UTC)
        db.session.commit()
        if not inline:
            raise
        return None
    finally:
        _current_record.reset(token)
