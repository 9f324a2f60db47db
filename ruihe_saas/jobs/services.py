"""Reading a job's state: the tenant's record, plus live progress from RQ while it runs."""

from __future__ import annotations

import uuid

from flask import current_app

from ruihe_saas.errors import NotFound
from ruihe_saas.jobs.models import JobRecord, JobStatus
from ruihe_saas.tenancy.lookup import get_owned


def get_job(job_id: uuid.UUID) -> JobRecord:
    record = get_owned(JobRecord, job_id)
    if record is None:
        raise NotFound("Job not found.")
    return record


def job_state(record: JobRecord) -> dict:
    state = {
        "id": record.id,
        "name": record.name.rpartition(":")[2],
        "queue": record.queue,
        "status": record.status.value,
        "attempts": record.attempts,
        "progress": {"done": record.progress_done, "total": record.progress_total},
        "result": record.result,
        "error": record.error,
        "enqueued_at": record.enqueued_at,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
    }
    if record.status in (JobStatus.QUEUED, JobStatus.STARTED) and not current_app.config.get(
        "RUIHE_JOBS_INLINE", True
    ):
        state.update(_live_state(record))
    return state


def _live_state(record: JobRecord) -> dict:
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    from ruihe_saas.jobs import redis_connection

    try:
        job = Job.fetch(str(record.id), connection=redis_connection())
    except NoSuchJobError:
        return {}
    live = {}
    progress = job.get_meta(refresh=True).get("progress")
    if isinstance(progress, dict):
        live["progress"] = {"done": progress.get("done", 0), "total": progress.get("total", 0)}
    return live
