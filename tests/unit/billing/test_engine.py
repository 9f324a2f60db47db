"""The billing run end to end through the service (no HTTP): bills, lines, proration,
idempotent reruns, dry runs, 409 on a second unfinished run."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ruihe_saas.billing import runs
from ruihe_saas.billing.models import Bill, BillingRun, BillLine, RunStatus
from ruihe_saas.errors import Conflict, ValidationFailed
from ruihe_saas.extensions import db
from ruihe_saas.tenancy import tenant_context
from tests.billing_factories import set_stages, simple_schedule
from tests.estate_factories import estate_with_households
from tests.factories import TenantFactory


@pytest.fixture
def estate(db):
    tenant = TenantFactory()
    estate = estate_with_households(tenant.id, buildings=2, rooms=3)
    set_stages(estate, (date(2024, 1, 1), "full_takeover"))
    simple_schedule(estate)
    return estate


def run(estate, period: str, dry_run: bool = False) -> BillingRun:
    with tenant_context(estate.tenant_id):
        started = runs.start_billing_run(estate.id, period, dry_run)
        db.session.flush()
        runs.execute_billing_run(started.id)
        return runs.get_billing_run(started.id)


def lines_of(estate, period):
    with tenant_context(estate.tenant_id):
        return db.session.scalars(
            select(BillLine).where(BillLine.period == period).order_by(BillLine.fee_item_code)
        ).all()


def test_a_run_bills_every_household_once_with_one_line_per_item(estate):
    done = run(estate, "2024-07")
    assert done.status == RunStatus.SUCCEEDED
    assert (done.bills_created, done.lines_created) == (6, 12)
    lines = lines_of(estate, "2024-07")
    garbage = [line for line in lines if line.fee_item_code == "garbage"]
    assert {line.amount for line in garbage} == {Decimal("10.00")}
    area = next(line for line in lines if line.fee_item_code == "property_service")
    assert area.amount == (Decimal("0.60") * area.quantity).quantize(Decimal("0.01"))
    assert "31/31天" in area.formula
    assert done.totals["garbage"] == {"name": "垃圾清运费", "amount": "60.00", "lines": 6}


def test_a_rerun_adds_nothing(estate):
    run(estate, "2024-07")
    again = run(estate, "2024-07")
    assert (again.bills_created, again.lines_created) == (0, 0)
    with tenant_context(estate.tenant_id):
        assert db.session.scalar(select(func.count()).select_from(Bill)) == 6


def test_a_dry_run_stores_only_the_preview(estate):
    preview = run(estate, "2024-07", dry_run=True)
    assert preview.status == RunStatus.SUCCEEDED and preview.lines_created == 12
    assert len(preview.preview["bills"]) == 6
    assert lines_of(estate, "2024-07") == []


def test_takeover_mid_month_prorates(db):
    tenant = TenantFactory()
    estate = estate_with_households(tenant.id, buildings=1, rooms=1)
    set_stages(estate, (date(2024, 7, 11), "full_takeover"))
    simple_schedule(estate, stages="full_takeover")
    run(estate, "2024-07")
    garbage = next(x for x in lines_of(estate, "2024-07") if x.fee_item_code == "garbage")
    assert (garbage.days, garbage.period_days) == (21, 31)
    assert garbage.amount == Decimal("6.77")  # 10 × 21/31 = 6.774…


def test_bad_period_and_second_active_run(estate):
    with tenant_context(estate.tenant_id):
        with pytest.raises(ValidationFailed) as bad:
            runs.start_billing_run(estate.id, "2024-13", False)
        assert "period" in bad.value.fields
        runs.start_billing_run(estate.id, "2024-08", False)
        db.session.flush()
        with pytest.raises(Conflict):
            runs.start_billing_run(estate.id, "2024-08", True)


def test_a_run_applies_the_households_prepaid_credit(estate):
    from ruihe_saas.billing.models import BillStatus
    from ruihe_saas.estates.models import Household
    from ruihe_saas.payments.models import PaymentMethod
    from ruihe_saas.payments.services import prepaid_credit, record_payment

    with tenant_context(estate.tenant_id):
        household = db.session.scalars(select(Household).order_by(Household.room)).first()
        record_payment(household.id, Decimal("1000.00"), PaymentMethod.CASH)  # no bills yet
        db.session.flush()
    run(estate, "2024-07")
    with tenant_context(estate.tenant_id):
        paid = db.session.scalars(select(Bill).where(Bill.household_id == household.id)).one()
        others = db.session.scalars(select(Bill).where(Bill.household_id != household.id)).all()
        assert (paid.status, paid.paid, paid.outstanding) == (BillStatus.PAID, paid.amount, 0)
        assert prepaid_credit(household.id) == Decimal("1000.00") - paid.amount
        assert all(bill.status == BillStatus.OPEN for bill in others)
