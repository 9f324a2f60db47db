"""Two requests start a billing run of the same estate and period at the same moment: one
run is recorded, the other request gets 409 (the partial unique index closes the race)."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from sqlalchemy import func, select

from ruihe_saas.billing import runs
from ruihe_saas.billing.models import BillingRun
from ruihe_saas.errors import Conflict
from ruihe_saas.tenancy import tenant_context
from tests.billing_factories import set_stages, simple_schedule
from tests.estate_factories import estate_with_households
from tests.factories import TenantFactory


@pytest.mark.postgres
@pytest.mark.committed
def test_concurrent_starts_of_one_period_record_one_run(app, db):
    tenant = TenantFactory()
    estate = estate_with_households(tenant.id, buildings=1, rooms=2)
    set_stages(estate, (date(2024, 1, 1), "full_takeover"))
    simple_schedule(estate)
    tenant_id, estate_id = tenant.id, estate.id
    db.session.commit()
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt() -> None:
        with app.app_context(), tenant_context(tenant_id):
            try:
                start.wait(timeout=10)
                runs.start_billing_run(estate_id, "2024-07", False)
                db.session.commit()  # no dispatch: only the recording races here
                outcomes.append("started")
            except Conflict:
                db.session.rollback()
                outcomes.append("conflict")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["conflict", "started"]
    with tenant_context(tenant_id):
        assert db.session.scalar(select(func.count()).select_from(BillingRun)) == 1
