"""A real RQ worker killed with SIGKILL in the middle of a billing run leaves whole chunks
(every bill with all its lines, nothing half-written), and a rerun completes the period
without duplicating anything."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ruihe_saas.auth.models import Role
from ruihe_saas.billing import runs
from ruihe_saas.billing.models import Bill, BillingRun, BillLine, RunStatus
from ruihe_saas.jobs import QUEUES, commit_and_dispatch, rq_queue
from ruihe_saas.tenancy import tenant_context
from tests.billing_factories import set_stages, simple_schedule
from tests.estate_factories import estate_with_households
from tests.factories import member

PROJECT_ROOT = Path(__file__).resolve().parents[3]
CHUNK = 10
HOUSEHOLDS = 3 * 40


def _counts(db, tenant_id):
    db.session.remove()
    with tenant_context(tenant_id):
        bills = db.session.scalar(select(func.count()).select_from(Bill))
        lines = db.session.scalar(select(func.count()).select_from(BillLine))
        return bills, lines


def _kill_worker_and_horse(worker: subprocess.Popen) -> None:
    """SIGKILL the worker and the work horse it forked (RQ puts the horse in its own
    session, so killing the worker's process group would miss it)."""
    children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children")
    pids = children.read_text().split() if children.exists() else []
    for pid in [*pids, str(worker.pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    worker.wait(timeout=10)


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.committed
def test_sigkill_mid_run_leaves_whole_chunks_and_a_rerun_completes(db, app, monkeypatch):
    monkeypatch.setitem(app.config, "RUIHE_JOBS_INLINE", False)
    monkeypatch.setitem(app.config, "REDIS_URL", os.environ["REDIS_URL"])
    for name in QUEUES:
        rq_queue(name).empty()
    owner = member(Role.OWNER)
    tenant_id = owner.tenant_id
    estate = estate_with_households(tenant_id, buildings=3, rooms=40)
    set_stages(estate, (date(2024, 1, 1), "full_takeover"))
    simple_schedule(estate)
    estate_id = estate.id
    db.session.commit()
    with tenant_context(tenant_id):
        first = runs.start_billing_run(estate_id, "2024-07", False)
        first_id = first.id
        commit_and_dispatch()

    env = {
        **os.environ,
        "FLASK_APP": "wsgi",
        "RUIHE_JOBS_INLINE": "",
        "RUIHE_BILLING_CHUNK": str(CHUNK),
        "RUIHE_BILLING_THROTTLE_MS": "400",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "worker", "--burst"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while _counts(db, tenant_id)[0] < 3 * CHUNK:
            assert worker.poll() is None, "the worker finished before it could be killed"
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.05)
        _kill_worker_and_horse(worker)
    finally:
        if worker.poll() is None:
            _kill_worker_and_horse(worker)
    rq_queue("billing").empty()

    bills, lines = _counts(db, tenant_id)
    assert 3 * CHUNK <= bills < HOUSEHOLDS
    assert bills % CHUNK == 0 and lines == 2 * bills  # whole chunks, whole bills
    with tenant_context(tenant_id):
        for bill in db.session.scalars(select(Bill)):
            total = db.session.scalar(
                select(func.sum(BillLine.amount)).where(BillLine.bill_id == bill.id)
            )
            assert bill.amount == total
        stuck = db.session.get(BillingRun, (tenant_id, first_id))
        assert stuck.status == RunStatus.RUNNING  # nobody told it: the worker just died

    # The next start sees the dead run (no heartbeat) and proceeds; it bills the rest.
    monkeypatch.setitem(app.config, "RUIHE_JOBS_INLINE", True)
    monkeypatch.setitem(app.config, "RUIHE_BILLING_STALE_SECONDS", 0)
    with tenant_context(tenant_id):
        again = runs.start_billing_run(estate_id, "2024-07", False)
        again_id = again.id
        commit_and_dispatch()
    db.session.remove()
    with tenant_context(tenant_id):
        rerun = runs.get_billing_run(again_id)
        assert rerun.status == RunStatus.SUCCEEDED
        assert rerun.bills_created == HOUSEHOLDS - bills
        assert runs.get_billing_run(first_id).status == RunStatus.FAILED
    assert _counts(db, tenant_id) == (HOUSEHOLDS, 2 * HOUSEHOLDS)
