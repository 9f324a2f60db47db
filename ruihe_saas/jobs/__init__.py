"""Background jobs: named queues, one ``enqueue``, dispatch after commit.

``enqueue(func, *ids, tenant_id=…)`` records a ``JobRecord`` in the caller's transaction;
``commit_and_dispatch()`` (the request pipeline, CLI commands) commits and then hands the job
to RQ when ``REDIS_URL`` is set, or runs it in-process otherwise. Jobs take ids only and run
inside ``tenant_context`` and the estate scope of whoever asked (``runner.execute``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date

from flask import current_app
from rq import Retry
from sqlalchemy import event
from sqlalchemy.orm import Session

from ruihe_saas.extensions import db
from ruihe_saas.jobs.models import JobRecord, JobStatus
from ruihe_saas.tenancy.context import (
    current_actor_user_id,
    current_estate_scope,
    require_tenant_id,
)

PENDING_KEY = "ruihe_pending_jobs"


@dataclass(frozen=True)
class QueueSpec:
    timeout: int  # seconds before the worker kills the job
    retries: tuple[int, ...] = field(default_factory=tuple)  # wait before each retry

    def retry(self) -> Retry | None:
        return Retry(max=len(self.retries), interval=list(self.retries)) if self.retries else None


# One list of queues, highest priority first; the worker listens to all of them in order.
QUEUES: dict[str, QueueSpec] = {
    "payments": QueueSpec(timeout=300, retries=(10, 60, 300)),
    "default": QueueSpec(timeout=600, retries=(30, 300)),
    "billing": QueueSpec(timeout=3600),  # reruns are idempotent; not retried blindly
    "reports": QueueSpec(timeout=1800, retries=(60,)),
}
QUEUE_NAMES = list(QUEUES)


def _job_arg(value) -> str | int:
    if isinstance(value, bool) or not isinstance(value, str | int | uuid.UUID | date):
        raise TypeError(f"jobs take ids and plain values only, not {type(value).__name__}")
    return value if isinstance(value, int) else str(value)


def job_name(func) -> str:
    return f"{func.__module__}:{func.__qualname__}"


def enqueue(func, *ids, tenant_id: uuid.UUID | None = None, queue: str = "default") -> JobRecord:
    """Record a job for ``func(*ids)``; it is dispatched once the transaction commits."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")
    tenant_id = tenant_id or require_tenant_id()
    scope = current_estate_scope()
    record = JobRecord(
        tenant_id=tenant_id,
        name=job_name(func),
        queue=queue,
        args=[_job_arg(value) for value in ids],
        status=JobStatus.QUEUED,
        created_by=current_actor_user_id(),
        estate_scope=None if scope is None else sorted(str(e) for e in scope),
    )
    db.session.add(record)
    db.session.flush()
    db.session.info.setdefault(PENDING_KEY, []).append((record.id, tenant_id, queue))
    return record


@event.listens_for(Session, "after_soft_rollback")
def _forget_pending_jobs(session, previous_transaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop(PENDING_KEY, None)


def commit_and_dispatch() -> None:
    """Commit the unit of work, then dispatch the jobs it enqueued."""
    pending = db.session.info.pop(PENDING_KEY, [])
    db.session.commit()
    for job_id, tenant_id, queue in pending:
        dispatch(job_id, tenant_id, queue)


def dispatch(job_id: uuid.UUID, tenant_id: uuid.UUID, queue: str) -> None:
    from ruihe_saas.jobs import runner

    if current_app.config.get("RUIHE_JOBS_INLINE", True):
        runner.execute(str(job_id), str(tenant_id), inline=True)
        return
    spec = QUEUES[queue]
    rq_queue(queue).enqueue_call(
        "ruihe_saas.jobs.runner.execute",
        args=(str(job_id), str(tenant_id)),
        job_id=str(job_id),
        timeout=spec.timeout,
        retry=spec.retry(),
        result_ttl=86400,
        failure_ttl=7 * 86400,
    )


def redis_connection():
    from redis import Redis

    app = current_app._get_current_object()
    connection = app.extensions.get("ruihe_redis")
    if connection is None:
        connection = Redis.from_url(app.config["REDIS_URL"])
        app.extensions["ruihe_redis"] = connection
    return connection


def rq_queue(name: str):
    from rq import Queue

    return Queue(name, connection=redis_connection())


def report_progress(done: int, total: int) -> None:
    """Progress of the running job: in ``job.meta`` under RQ (read live by the jobs API)."""
    from rq import get_current_job

    job = get_current_job()
    if job is not None:
        job.meta["progress"] = {"done": done, "total": total}
        job.save_meta()
    from ruihe_saas.jobs.runner import current_record

    record = current_record()
    if record is not None:
        record.progress_done, record.progress_total = done, total
