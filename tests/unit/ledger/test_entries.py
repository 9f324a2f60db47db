"""Manual entries: expenses and income per entity, improvement spending charged to the
fund, general entries, reading within the estate scope, reversal."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ruihe_saas.errors import Conflict, NotFound, ValidationFailed
from ruihe_saas.extensions import db as database
from ruihe_saas.handover.services import local_today
from ruihe_saas.ledger import closing, entries, reports, services
from ruihe_saas.ledger.models import EntrySource, JournalEntry
from ruihe_saas.tenancy import tenant_context
from ruihe_saas.tenancy.context import estate_scope
from tests.estate_factories import estate_with_households
from tests.factories import member

D = Decimal
JULY = (date(2024, 7, 1), date(2024, 7, 31))


@pytest.fixture
def site(db):
    owner = member()
    north = estate_with_households(owner.tenant_id, "N", buildings=1, rooms=1)
    south = estate_with_households(owner.tenant_id, "S", buildings=1, rooms=1)
    with tenant_context(owner.tenant_id):
        services.ensure_chart()
        north.remuneration_percent = D("0")
        database.session.flush()
    return owner.tenant_id, north, south


def role(name):
    return services.account_for(name).id


def count() -> int:
    return database.session.scalar(select(func.count()).select_from(JournalEntry))


def test_expense_and_income(site):
    tenant_id, north, _ = site
    with tenant_context(tenant_id):
        expense = entries.record_expense(
            estate_id=north.id, account_id=role("greening"), amount="800.50",
            entry_date=date(2024, 7, 5), reference="LH-07", memo="7月绿化养护",
        )  # fmt: skip
        income = entries.record_income(
            estate_id=None, account_id=role("canteen_income"), amount=D("1200"),
            entry_date="2024-07-06", reference="ST-07", pay_from="cash",
        )  # fmt: skip
        assert (expense.source, expense.reference, expense.memo) == (
            EntrySource.MANUAL,
            "LH-07",
            "7月绿化养护",
        )
        lines = services.lines_of(income)
        assert {(line.estate_id, line.debit, line.credit) for line in lines} == {
            (None, D("1200.00"), D("0")),
            (None, D("0"), D("1200.00")),
        }
        statement = reports.income_statement(*JULY)
        assert statement.total_expenses() == D("800.50")
        assert statement.total_income() == D("1200.00")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": "0"}, "amount"),
        ({"amount": "1.234"}, "amount"),
        ({"amount": "Infinity"}, "amount"),
        ({"amount": True}, "amount"),
        ({"amount": "1e20"}, "amount"),
        ({"entry_date": "2024-7-1"}, "entry_date"),
        ({"entry_date": date(1999, 12, 31)}, "entry_date"),
        ({"entry_date": "tomorrow"}, "entry_date"),
        ({"reference": "  "}, "reference"),
        ({"memo": "m" * 301}, "memo"),
        ({"pay_from": "stripe_clearing"}, "pay_from"),
        ({"estate_id": "x"}, "estate_id"),
        ({"estate_id": uuid.uuid4()}, "estate_id"),
        ({"account_id": "wages-income"}, "account_id"),
        ({"account_id": None}, "account_id"),
    ],
)
def test_bad_expenses_store_nothing(site, change, field):
    tenant_id, north, _ = site
    with tenant_context(tenant_id):
        values = {
            "estate_id": north.id, "account_id": role("wages"), "amount": "10",
            "entry_date": date(2024, 7, 5), "reference": "R", "memo": "", "pay_from": "bank",
        }  # fmt: skip
        values.update(change)
        if values["account_id"] == "wages-income":
            values["account_id"] = role("property_income")
        if values["entry_date"] == "tomorrow":
            values["entry_date"] = local_today() + timedelta(days=1)
        before = count()
        with pytest.raises(ValidationFailed) as error:
            entries.record_expense(**values)
        assert field in error.value.fields
        assert count() == before


def test_improvement_spending_is_charged_to_the_fund(site):
    tenant_id, north, south = site
    with tenant_context(tenant_id):
        entries.record_income(
            estate_id=north.id, account_id=role("property_income"), amount="1000",
            entry_date=date(2024, 7, 5), reference="SF-07",
        )  # fmt: skip
        closing.close_period(north.id, "2024-07", today=date(2024, 8, 5))
        assert entries.fund_balance(north.id) == D("1000.00")
        spend = dict(amount="400", entry_date=date(2024, 8, 10), reference="GZ-1",
                     memo="62个电动车充电口")  # fmt: skip
        entry = entries.record_improvement_spending(estate_id=north.id, **spend)
        assert entry.memo == "62个电动车充电口"
        assert entries.fund_balance(north.id) == D("600.00")
        with pytest.raises(ValidationFailed) as too_much:
            entries.record_improvement_spending(estate_id=north.id, **dict(spend, amount="600.01"))
        assert "amount" in too_much.value.fields
        with pytest.raises(ValidationFailed) as no_fund:
            entries.record_improvement_spending(estate_id=south.id, **spend)
        assert "amount" in no_fund.value.fields
        for missing in ({"estate_id": None}, {"estate_id": "collective"}):
            with pytest.raises(ValidationFailed) as error:
                entries.record_improvement_spending(**missing, **spend)
            assert "estate_id" in error.value.fields
        with pytest.raises(ValidationFailed) as unnamed:
            entries.record_improvement_spending(estate_id=north.id, **dict(spend, memo=""))
        assert "memo" in unnamed.value.fields
        fund = reports.improvement_fund(north.id, date(2024, 7, 1), date(2024, 8, 31))
        assert (fund.total_in, fund.total_out) == (D("1000.00"), D("400.00"))


def test_a_general_entry_refuses_automatic_accounts(site):
    tenant_id, north, _ = site
    with tenant_context(tenant_id):
        entry = entries.post_manual(
            entry_date=date(2024, 7, 9), estate_id=north.id, reference="PZ-1", memo="调整",
            lines=[{"account_id": str(role("repairs")), "debit": "50", "memo": "门禁"},
                   {"account_id": role("cash"), "credit": D("50")}],
        )  # fmt: skip
        assert len(services.lines_of(entry)) == 2
        for automatic in ("receivable", "prepaid", "stripe_clearing", "inter_entity"):
            with pytest.raises(ValidationFailed) as error:
                entries.post_manual(
                    entry_date=date(2024, 7, 9), estate_id=north.id, reference="PZ-2",
                    lines=[{"account_id": role("repairs"), "debit": "5"},
                           {"account_id": role(automatic), "credit": "5"}],
                )  # fmt: skip
            assert "lines.1.account_id" in error.value.fields
        with pytest.raises(ValidationFailed) as too_many:
            entries.post_manual(
                entry_date=date(2024, 7, 9), estate_id=north.id, reference="PZ-3",
                lines=[{"account_id": role("repairs"), "debit": "1"}] * 51,
            )  # fmt: skip
        assert "lines" in too_many.value.fields
        with pytest.raises(ValidationFailed) as not_a_line:
            entries.post_manual(entry_date=date(2024, 7, 9), estate_id=None, reference="P",
                                lines=["a", "b"])  # fmt: skip
        assert "lines.0" in not_a_line.value.fields


def test_estate_scope_hides_other_entities(site):
    tenant_id, north, south = site
    with tenant_context(tenant_id):
        mine = entries.record_expense(
            estate_id=north.id, account_id=role("energy"), amount="10",
            entry_date=date(2024, 7, 5), reference="N",
        )  # fmt: skip
        theirs = entries.record_expense(
            estate_id=south.id, account_id=role("energy"), amount="20",
            entry_date=date(2024, 7, 5), reference="S",
        )  # fmt: skip
        collective = entries.record_income(
            estate_id=None, account_id=role("canteen_income"), amount="30",
            entry_date=date(2024, 7, 5), reference="C",
        )  # fmt: skip
        with estate_scope(frozenset({north.id})):
            assert [e.id for e in entries.list_entries().items] == [mine.id]
            assert entries.get_entry(mine.id).debits == D("10.00")
            for hidden in (theirs.id, collective.id):
                with pytest.raises(NotFound):
                    entries.get_entry(hidden)
            assert reports.income_statement(*JULY).entities == [north.id]
        assert entries.list_entries(estate_id=entries.COLLECTIVE).total == 1
        assert entries.list_entries(reference="S").total == 1


def test_reverse_a_manual_entry_once(site):
    tenant_id, north, _ = site
    with tenant_context(tenant_id):
        entry = entries.record_expense(
            estate_id=north.id, account_id=role("energy"), amount="10",
            entry_date=date(2024, 7, 5), reference="E",
        )  # fmt: skip
        with pytest.raises(ValidationFailed):
            entries.reverse(entry.id, "  ")
        reversal = entries.reverse(entry.id, "重复", "2024-07-06")
        assert (reversal.reverses_id, reversal.entry_date) == (entry.id, date(2024, 7, 6))
        assert entries.get_entry(entry.id).reversed_by == reversal.id
        with pytest.raises(Conflict):
            entries.reverse(entry.id, "again")
        with pytest.raises(NotFound):
            entries.reverse(uuid.uuid4(), "x")
