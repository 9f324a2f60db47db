"""Job functions used by the tests (importable by a real worker process)."""

from __future__ import annotations

from sqlalchemy import text

from ruihe_saas.extensions import db
from ruihe_saas.jobs import report_progress


def raw_membership_tenants() -> dict:
    """Which tenants' rows a job can see with plain SQL (no ORM filter: RLS alone)."""
    rows = db.session.execute(text("SELECT DISTINCT tenant_id FROM memberships")).scalars().all()
    report_progress(1, 1)
    return {"tenants": sorted(str(row) for row in rows)}


def always_fails() -> None:
    raise ValueError("probe failure")


def counts_calls(marker: str) -> dict:
    from tests import jobs_probe

    jobs_probe.CALLS.append(marker)
    return {"marker": marker}


CALLS: list[str] = []


def count_households() -> dict:
    """Households the job can see (ORM: tenant and estate scope)."""
    from sqlalchemy import func, select

    from ruihe_saas.estates.models import Household

    return {"households": db.session.scalar(select(func.count()).select_from(Household))}
