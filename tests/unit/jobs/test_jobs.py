"""Jobs: recorded in the caller's transaction, dispatched after commit, run in the tenant."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest

from ruihe_saas.app import PROJECT_ROOT
from ruihe_saas.auth.models import Role
from ruihe_saas.jobs import QUEUES, commit_and_dispatch, enqueue
from ruihe_saas.jobs.models import JobRecord, JobStatus
from ruihe_saas.jobs.services import get_job
from ruihe_saas.tenancy import TenantNotSet, tenant_context
from tests import jobs_probe
from tests.factories import member


@pytest.fixture(autouse=True)
def _inline_jobs_and_no_calls(app, monkeypatch):
    """In-process jobs (as without REDIS_URL); the RQ tests switch to Redis themselves."""
    monkeypatch.setitem(app.config, "RUIHE_JOBS_INLINE", True)
    jobs_probe.CALLS.clear()


def test_enqueue_needs_a_tenant(db):
    with pytest.raises(TenantNotSet):
        enqueue(jobs_probe.counts_calls, "x")


def test_jobs_take_ids_and_plain_values_only(db):
    owner = member(Role.OWNER)
    with tenant_context(owner.tenant_id), pytest.raises(TypeError):
        enqueue(jobs_probe.counts_calls, {"not": "an id"})


def test_inline_job_runs_after_commit_in_its_tenant(db, app):
    owner = member(Role.OWNER)
    with tenant_context(owner.tenant_id):
        record = enqueue(jobs_probe.counts_calls, "first")
        assert jobs_probe.CALLS == []  # nothing runs before the commit
        commit_and_dispatch()
        assert jobs_probe.CALLS == ["first"]
        finished = get_job(record.id)
    assert finished.status == JobStatus.FINISHED
    assert finished.result == {"marker": "first"}
    assert finished.attempts == 1


def test_rolled_back_work_dispatches_no_job(db):
    owner = member(Role.OWNER)
    with tenant_context(owner.tenant_id):
        enqueue(jobs_probe.counts_calls, "never")
        db.session.rollback()
        commit_and_dispatch()
    assert jobs_probe.CALLS == []


def test_failed_job_is_recorded(db):
    owner = member(Role.OWNER)
    with tenant_context(owner.tenant_id):
        record = enqueue(jobs_probe.always_fails)
        commit_and_dispatch()
        failed = get_job(record.id)
    assert failed.status == JobStatus.FAILED
    assert "probe failure" in failed.error


def test_a_finished_job_is_not_run_again(db):
    from ruihe_saas.jobs.runner import execute

    owner = member(Role.OWNER)
    with tenant_context(owner.tenant_id):
        record = enqueue(jobs_probe.counts_calls, "once")
        commit_and_dispatch()
    execute(str(record.id), str(owner.tenant_id))  # a redelivery
    assert jobs_probe.CALLS == ["once"]


def test_a_job_of_another_tenant_cannot_be_read(db):
    owner = member(Role.OWNER)
    other = member(Role.OWNER)
    with tenant_context(owner.tenant_id):
        record = enqueue(jobs_probe.counts_calls, "mine")
    from ruihe_saas.errors import NotFound

    with tenant_context(other.tenant_id), pytest.raises(NotFound):
        get_job(record.id)


@pytest.mark.redis
def test_dispatch_to_rq_uses_the_queue_settings(db, app, monkeypatch):
    from rq.job import Job

    from ruihe_saas.jobs import redis_connection, rq_queue

    monkeypatch.setitem(app.config, "RUIHE_JOBS_INLINE", False)
    monkeypatch.setitem(app.config, "REDIS_URL", os.environ["REDIS_URL"])
    owner = member(Role.OWNER)
    with tenant_context(owner.tenant_id):
        record = enqueue(jobs_probe.counts_calls, "queued", queue="payments")
        commit_and_dispatch()
    try:
        job = Job.fetch(str(record.id), connection=redis_connection())
        assert job.args == (str(record.id), str(owner.tenant_id))  # ids only
        assert job.timeout == QUEUES["payments"].timeout
        assert job.retries_left == len(QUEUES["payments"].retries)
        assert job.origin == "payments"
        assert jobs_probe.CALLS == []  # a worker runs it, not the request
    finally:
        rq_queue("payments").empty()


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.committed
def test_real_worker_runs_a_job_seeing_only_its_tenant_under_rls(db, app, monkeypatch):
    """A real `flask worker --burst` process (fork per job) runs raw SQL under RLS."""
    from ruihe_saas.jobs import rq_queue

    monkeypatch.setitem(app.config, "RUIHE_JOBS_INLINE", False)
    monkeypatch.setitem(app.config, "REDIS_URL", os.environ["REDIS_URL"])
    for name in QUEUES:
        rq_queue(name).empty()
    a = member(Role.OWNER)
    b = member(Role.OWNER)
    member(Role.VIEWER, tenant=b.tenant)
    tenant_a, tenant_b = a.tenant_id, b.tenant_id
    db.session.commit()
    with tenant_context(tenant_a):
        record = enqueue(jobs_probe.raw_membership_tenants, queue="reports")
        job_id = record.id
        commit_and_dispatch()

    env = {**os.environ, "FLASK_APP": "wsgi", "RUIHE_JOBS_INLINE": ""}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "worker", "--burst"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    db.session.expire_all()
    with tenant_context(tenant_a):
        done = db.session.get(JobRecord, (tenant_a, job_id))
        assert done.status == JobStatus.FINISHED, done.error
        assert done.result == {"tenants": [str(tenant_a)]}
        assert str(tenant_b) not in str(done.result)
    with tenant_context(tenant_b):
        assert db.session.get(JobRecord, (tenant_b, job_id)) is None


def test_unknown_queue_is_refused(db):
    owner = member(Role.OWNER)
    with tenant_context(owner.tenant_id), pytest.raises(ValueError):
        enqueue(jobs_probe.counts_calls, "x", queue="nope")


def test_job_record_ids_are_time_ordered_uuid7(db):
    owner = member(Role.OWNER)
    with tenant_context(owner.tenant_id):
        first = enqueue(jobs_probe.counts_calls, "1")
        second = enqueue(jobs_probe.counts_calls, "2")
    assert isinstance(first.id, uuid.UUID) and first.id.version == 7
    assert first.id < second.id
