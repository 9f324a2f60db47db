"""GET /api/v1/t/<slug>/jobs/<id>, fed by a job the members API starts."""

from __future__ import annotations

import os

import pytest

from ruihe_saas.auth.models import Role
from ruihe_saas.auth.services import issue_token
from ruihe_saas.jobs import enqueue, redis_connection, rq_queue
from ruihe_saas.tenancy import tenant_context
from tests import jobs_probe
from tests.conftest import bearer
from tests.factories import member


def test_roster_report_runs_and_reports_its_result(client, db, app, monkeypatch):
    monkeypatch.setitem(app.config, "RUIHE_JOBS_INLINE", True)
    owner = member(Role.OWNER)
    member(Role.CASHIER, tenant=owner.tenant)
    member(Role.CASHIER, tenant=owner.tenant)
    member(Role.OWNER)  # another tenant's members are not counted
    headers = bearer(issue_token(owner.user, days=1))
    slug = owner.tenant.slug
    accepted = client.post(f"/api/v1/t/{slug}/members/roster-report", headers=headers)
    assert accepted.status_code == 202
    assert accepted.json["job_id"] == accepted.json["id"]
    job = client.get(f"/api/v1/t/{slug}/jobs/{accepted.json['job_id']}", headers=headers)
    assert job.status_code == 200
    assert job.json["status"] == "finished"
    assert job.json["result"] == {"by_role": {"cashier": 2, "owner": 1}, "total": 3}
    assert job.json["progress"] == {"done": 2, "total": 2}


@pytest.mark.redis
def test_a_queued_job_reports_live_progress_from_rq(client, db, app, monkeypatch):
    monkeypatch.setitem(app.config, "RUIHE_JOBS_INLINE", False)
    monkeypatch.setitem(app.config, "REDIS_URL", os.environ["REDIS_URL"])
    owner = member(Role.FINANCE)
    with tenant_context(owner.tenant_id):
        record = enqueue(jobs_probe.counts_calls, "later", queue="reports")
    from ruihe_saas.jobs import commit_and_dispatch

    commit_and_dispatch()
    try:
        from rq.job import Job

        job = Job.fetch(str(record.id), connection=redis_connection())
        job.meta["progress"] = {"done": 3, "total": 7}
        job.save_meta()
        headers = bearer(issue_token(owner.user, days=1))
        body = client.get(f"/api/v1/t/{owner.tenant.slug}/jobs/{record.id}", headers=headers).json
        assert body["status"] == "queued"
        assert body["progress"] == {"done": 3, "total": 7}
    finally:
        rq_queue("reports").empty()


def test_viewers_cannot_read_jobs(client, db):
    viewer = member(Role.VIEWER)
    with tenant_context(viewer.tenant_id):
        record = enqueue(jobs_probe.counts_calls, "x")
    headers = bearer(issue_token(viewer.user, days=1))
    response = client.get(f"/api/v1/t/{viewer.tenant.slug}/jobs/{record.id}", headers=headers)
    assert response.status_code == 403
