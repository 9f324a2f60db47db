"""Two transitions of one estate at the same moment: the row lock lets one through."""

from __future__ import annotations

import threading
from datetime import date

import pytest

from ruihe_saas.auth.models import Role
from ruihe_saas.errors import Conflict
from ruihe_saas.estates.models import HandoverStage
from ruihe_saas.estates.services import get_estate
from ruihe_saas.extensions import db as database
from ruihe_saas.handover import services
from ruihe_saas.handover.models import HandoverTransition
from ruihe_saas.tenancy import tenant_context
from tests.factories import member
from tests.unit.handover.builders import agreement, make_estate


@pytest.mark.postgres
@pytest.mark.committed
def test_concurrent_transitions_of_one_estate_record_exactly_one(app, db):
    owner = member(Role.OWNER)
    estate = make_estate(owner.tenant_id, "RACE")
    tenant_id, estate_id = owner.tenant_id, estate.id
    db.session.commit()

    start = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt() -> None:
        with app.app_context(), tenant_context(tenant_id):
            try:
                target = get_estate(estate_id)
                start.wait(timeout=10)
                services.record_transition(
                    target,
                    HandoverStage.PARTIAL_CARETAKING,
                    date(2023, 12, 1),
                    agreement=agreement(),
                )
                database.session.commit()
                outcomes.append("recorded")
            except Conflict:
                database.session.rollback()
                outcomes.append("conflict")
            finally:
                database.session.remove()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["conflict", "recorded"]
    with tenant_context(tenant_id):
        from sqlalchemy import func, select

        count = database.session.scalar(select(func.count()).select_from(HandoverTransition))
        assert count == 1
        assert get_estate(estate_id).stage == HandoverStage.PARTIAL_CARETAKING
