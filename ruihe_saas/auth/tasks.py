"""Background jobs of the accounts feature."""

from __future__ import annotations

from sqlalchemy import func, select

from ruihe_saas.auth.models import Membership
from ruihe_saas.extensions import db
from ruihe_saas.jobs import report_progress


def member_roster_report() -> dict:
    """Members per role in the job's tenant."""
    rows = db.session.execute(
        select(Membership.role, func.count()).group_by(Membership.role).order_by(Membership.role)
    ).all()
    report_progress(len(rows), len(rows))
    by_role = {role.value: count for role, count in rows}
    return {"by_role": by_role, "total": sum(by_role.values())}
