"""The monthly close: the surplus shared by the estate's charging model, the month locked."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ruihe_saas.errors import Conflict, ValidationFailed
from ruihe_saas.estates.models import ChargingModel
from ruihe_saas.extensions import db as database
from ruihe_saas.ledger import closing, services
from ruihe_saas.ledger.models import Account, EntrySource, JournalLine
from ruihe_saas.ledger.services import Posting
from ruihe_saas.tenancy import tenant_context
from tests.estate_factories import estate_with_households
from tests.factories import member

D = Decimal
TODAY = date(2024, 9, 15)


@pytest.fixture
def books(db):
    owner = member()
    estate = estate_with_households(owner.tenant_id, "CL", buildings=1, rooms=1)
    with tenant_context(owner.tenant_id):
        services.ensure_chart()
        estate.remuneration_percent = D("10")
        estate.surplus_to_fund_percent = D("100")
        database.session.flush()
    return owner.tenant_id, estate


def post(estate_id, debit_role, credit_role, amount, day=date(2024, 7, 10)):
    return services.post_entry(
        day,
        [
            Posting(role=debit_role, estate_id=estate_id, debit=D(amount)),
            Posting(role=credit_role, estate_id=estate_id, credit=D(amount)),
        ],
        source=EntrySource.MANUAL,
    )


def july(estate):
    post(estate.id, "bank", "property_income", "1000.00")  # service income
    post(estate.id, "bank", "public_revenue", "300.00")  # the owners': apart
    post(estate.id, "wages", "bank", "600.00")
    post(estate.id, "cleaning", "bank", "100.00")


def balance(role, estate_id):
    value = database.session.scalar(
        select(func.coalesce(func.sum(JournalLine.credit - JournalLine.debit), 0))
        .join(Account, Account.id == JournalLine.account_id)
        .where(
            Account.role == role,
            JournalLine.estate_id.is_(None)
            if estate_id is None
            else JournalLine.estate_id == estate_id,
        )
    )
    return D(value).quantize(D("0.01"))


def test_the_month_result_keeps_public_revenue_apart(books):
    tenant_id, estate = books
    with tenant_context(tenant_id):
        july(estate)
        post(estate.id, "bank", "property_income", "50.00", day=date(2024, 8, 1))  # not July
        result = closing.period_result(estate.id, "2024-07")
        assert (result.service_income, result.public_revenue, result.expenses) == (
            D("1000"),
            D("300"),
            D("700"),
        )
        assert result.surplus == D("300")


def test_remuneration_model_pays_the_company_and_funds_the_estate(books):
    tenant_id, estate = books
    with tenant_context(tenant_id):
        july(estate)
        close = closing.close_period(estate.id, "2024-07", today=TODAY)
        assert (close.income, close.expenses, close.surplus) == (D("1300"), D("700"), D("300"))
        # 10 % of 1000 = 100 to the company; all the rest (200) to the improvement fund
        assert balance("improvement_fund", estate.id) == D("200")
        assert balance("retained_earnings", None) == D("100")
        assert balance("inter_entity", estate.id) == D("100")  # owed to the collective …
        assert balance("inter_entity", None) == D("-100")  # … which the collective is owed
        assert balance("public_revenue", estate.id) == D("300")  # untouched


def test_a_share_of_the_rest_can_go_to_the_collective(books):
    tenant_id, estate = books
    with tenant_context(tenant_id):
        estate.surplus_to_fund_percent = D("75")
        july(estate)
        closing.close_period(estate.id, "2024-07", today=TODAY)
        assert balance("improvement_fund", estate.id) == D("150")
        assert balance("retained_earnings", None) == D("150")  # 100 remuneration + 50


def test_lump_sum_gives_the_company_the_surplus_or_the_loss(books):
    tenant_id, estate = books
    with tenant_context(tenant_id):
        estate.charging_model = ChargingModel.LUMP_SUM
        july(estate)
        post(estate.id, "repairs", "bank", "500.00")  # July is now a loss of 200
        closing.close_period(estate.id, "2024-07", today=TODAY)
        assert balance("improvement_fund", estate.id) == D("0")
        assert balance("retained_earnings", None) == D("-200")
        assert balance("retained_earnings", estate.id) == D("200")


def test_a_closed_month_takes_no_posting_until_reopened(books):
    tenant_id, estate = books
    with tenant_context(tenant_id):
        july(estate)
        closing.close_period(estate.id, "2024-07", today=TODAY)
        with pytest.raises(ValidationFailed):
            post(estate.id, "bank", "property_income", "1.00")
        with pytest.raises(Conflict):
            closing.close_period(estate.id, "2024-07", today=TODAY)
        assert closing.posting_date(estate.id, date(2024, 7, 20)) == date(2024, 8, 1)
        with pytest.raises(ValidationFailed) as raised:
            closing.reopen_period(estate.id, "2024-07", " ")
        assert "reason" in raised.value.fields
        reopened = closing.reopen_period(estate.id, "2024-07", "漏记一笔维修费")
        assert reopened.reopened_at is not None and reopened.reopen_reason == "漏记一笔维修费"
        assert balance("improvement_fund", estate.id) == D("0")  # the allocation reversed
        post(estate.id, "repairs", "bank", "100.00")
        again = closing.close_period(estate.id, "2024-07", today=TODAY)
        assert again.surplus == D("200")
        assert balance("improvement_fund", estate.id) == D("100")  # 200 − 100 remuneration


@pytest.mark.parametrize("period", ["2024-7", "July", "2024-13", ""])
def test_bad_periods_are_422(books, period):
    tenant_id, estate = books
    with tenant_context(tenant_id), pytest.raises(ValidationFailed) as raised:
        closing.close_period(estate.id, period, today=TODAY)
    assert "period" in raised.value.fields


def test_a_month_not_over_cannot_close(books):
    tenant_id, estate = books
    with tenant_context(tenant_id), pytest.raises(ValidationFailed):
        closing.close_period(estate.id, "2024-09", today=TODAY)


def test_the_collective_economy_closes_without_allocation(books):
    tenant_id, _ = books
    with tenant_context(tenant_id):
        post(None, "bank", "canteen_income", "80.00")
        close = closing.close_period(None, "2024-07", today=TODAY)
        assert (close.surplus, close.entry_id) == (D("80"), None)
