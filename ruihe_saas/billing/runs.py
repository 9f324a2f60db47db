"""Billing runs: start one (a job on the ``billing`` queue), follow it, and the job itself.

- ``start_billing_run`` validates, refuses a second unfinished run of the same estate and
  period (409; a unique partial index backs the check against races), records the run and
  enqueues the job in the caller's transaction.
- ``execute_billing_run`` is the job: it prices the estate's households chunk by chunk
  through ``engine.run_estate_period`` — the same code path the benchmark times. A real run
  commits per chunk (see ``engine``: a killed worker leaves whole chunks, a rerun completes
  them without duplicates); a dry run writes nothing but the run's preview.
- A run whose worker died (no heartbeat for ``RUIHE_BILLING_STALE_SECONDS``) no longer
  blocks: the next start marks it failed and proceeds.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ruihe_saas.billing import engine
from ruihe_saas.billing.charges import fen_str
from ruihe_saas.billing.models import ACTIVE_RUN_STATUSES, BillingRun, RunStatus
from ruihe_saas.billing.periods import Period, PeriodError
from ruihe_saas.billing.plans import build_plan
from ruihe_saas.errors import Conflict, NotFound, ValidationFailed
from ruihe_saas.estates.models import Estate
from ruihe_saas.extensions import db
from ruihe_saas.jobs import QUEUES, enqueue, report_progress
from ruihe_saas.tenancy.context import current_actor_user_id
from ruihe_saas.tenancy.lookup import get_owned
from ruihe_saas.web.pagination import Page, paginate

DEFAULT_STALE_SECONDS = 300


def _now() -> datetime:
    return datetime.now(UTC)


def start_billing_run(estate_id: uuid.UUID, period: str, dry_run: bool) -> BillingRun:
    try:
        parsed = Period.parse(period)
    except PeriodError as error:
        raise ValidationFailed(str(error), fields={"period": [str(error)]}) from None
    estate = get_owned(Estate, estate_id)
    if estate is None:
        raise NotFound(_l("Estate not found."))
    _release_stale_run(estate.id, str(parsed))
    run = BillingRun(
        estate_id=estate.id,
        period=str(parsed),
        dry_run=bool(dry_run),
        status=RunStatus.QUEUED,
        requested_by=current_actor_user_id(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(run)
    except IntegrityError:
        raise _busy() from None
    from ruihe_saas.billing.tasks import execute_billing_run

    record = enqueue(execute_billing_run, run.id, queue="billing")
    run.job_id = record.id
    db.session.flush()
    return run


def _busy() -> Conflict:
    message = _l("A billing run of this estate and period is already queued or running.")
    return Conflict(message, fields={"period": [message]})


def _release_stale_run(estate_id: uuid.UUID, period: str) -> None:
    """Mark a run whose worker is gone as failed, or refuse (409) while one is alive."""
    active = db.session.scalars(
        select(BillingRun)
        .where(
            BillingRun.estate_id == estate_id,
            BillingRun.period == period,
            BillingRun.status.in_(ACTIVE_RUN_STATUSES),
        )
        .with_for_update()
    ).first()
    if active is None:
        return
    if not _is_stale(active):
        raise _busy()
    active.status = RunStatus.FAILED
    active.error = "worker lost: no progress since " + str(
        active.heartbeat_at or active.started_at or active.created_at
    )
    active.finished_at = _now()
    db.session.flush()


def _is_stale(run: BillingRun) -> bool:
    now = _now()
    if run.status == RunStatus.QUEUED:
        limit = timedelta(seconds=QUEUES["billing"].timeout)
        return run.created_at is not None and now - run.created_at > limit
    seconds = current_app.config.get("RUIHE_BILLING_STALE_SECONDS", DEFAULT_STALE_SECONDS)
    last = run.heartbeat_at or run.started_at or run.created_at
    return last is not None and now - last > timedelta(seconds=float(seconds))


def get_billing_run(run_id: uuid.UUID) -> BillingRun:
    run = get_owned(BillingRun, run_id)
    if run is None:
        raise NotFound(_l("Billing run not found."))
    return run


def list_billing_runs(estate_id: uuid.UUID | None, page: int = 1, per_page: int = 20) -> Page:
    statement = select(BillingRun).order_by(BillingRun.created_at.desc(), BillingRun.id.desc())
    if estate_id is not None:
        if get_owned(Estate, estate_id) is None:
            raise NotFound(_l("Estate not found."))
        statement = statement.where(BillingRun.estate_id == estate_id)
    return paginate(statement, page, per_page)


# --- the job ----------------------------------------------------------------------------


def execute_billing_run(run_id: uuid.UUID | str) -> dict:
    run_id = uuid.UUID(str(run_id))
    run = get_billing_run(run_id)
    if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
        return _summary(run)  # a redelivered job: nothing to do
    run.status = RunStatus.RUNNING
    run.started_at = run.started_at or _now()
    run.heartbeat_at = _now()
    db.session.commit()
    try:
        estate = db.session.get(Estate, (run.tenant_id, run.estate_id))
        plan = build_plan(estate, Period.parse(run.period))

        def on_chunk(done: int, total: int, tally: engine.RunTally) -> None:
            run.progress_done, run.progress_total = done, total
            run.heartbeat_at = _now()
            _record(run, tally)
            report_progress(done, total)

        tally = engine.run_estate_period(
            plan, dry_run=run.dry_run, run_id=run.id, on_chunk=on_chunk
        )
        _record(run, tally)
        if run.dry_run:
            run.preview = {"by_building": tally.by_building(), "bills": tally.preview}
        run.status = RunStatus.SUCCEEDED
        run.finished_at = _now()
        db.session.commit()
    except Exception as error:
        db.session.rollback()
        failed = get_billing_run(run_id)
        failed.status = RunStatus.FAILED
        failed.error = str(error)[:2000]
        failed.finished_at = _now()
        db.session.commit()
        raise
    return _summary(run)


def _record(run: BillingRun, tally: engine.RunTally) -> None:
    run.households_billed = tally.households
    run.bills_created = tally.bills_created
    run.lines_created = tally.lines_created
    run.total_amount = Decimal(fen_str(tally.amount_fen))
    run.totals = tally.totals()
    warnings = list(tally.warnings)
    if tally.warning_count > len(warnings):
        warnings.append(
            {
                "code": "more_warnings",
                "message": f"另有 {tally.warning_count - len(warnings)} 条警告未列出",
                "household_id": None,
            }
        )
    run.warnings = warnings


def _summary(run: BillingRun) -> dict:
    return {
        "billing_run_id": str(run.id),
        "status": run.status.value,
        "bills_created": run.bills_created,
        "lines_created": run.lines_created,
        "total_amount": str(run.total_amount),
    }
