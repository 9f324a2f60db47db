"""Reports on a small hand-computed fixture: two estates and the collective economy."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest

from ruihe_saas.extensions import db as database
from ruihe_saas.ledger import closing, reports, services
from ruihe_saas.ledger.models import EntrySource
from ruihe_saas.ledger.reports import ALL
from ruihe_saas.ledger.services import Posting
from ruihe_saas.tenancy import tenant_context
from tests.estate_factories import estate_with_households
from tests.factories import member

D = Decimal
JULY = (date(2024, 7, 1), date(2024, 7, 31))


@pytest.fixture
def books(db):
    owner = member()
    north = estate_with_households(owner.tenant_id, "N", buildings=1, rooms=1)
    south = estate_with_households(owner.tenant_id, "S", buildings=1, rooms=1)
    with tenant_context(owner.tenant_id):
        services.ensure_chart()
        for estate in (north, south):
            estate.remuneration_percent = D("0")
        database.session.flush()

        def post(pairs, day=date(2024, 7, 10), pair=None):
            services.post_entry(
                day,
                [Posting(role=r, estate_id=e, debit=D(d), credit=D(c)) for r, e, d, c in pairs],
                source=EntrySource.MANUAL,
                pair_id=pair,
            )

        post([("bank", north.id, "1000", "0"), ("property_income", north.id, "0", "1000")])
        post([("bank", north.id, "200", "0"), ("public_revenue", north.id, "0", "200")])
        post([("wages", north.id, "400", "0"), ("bank", north.id, "0", "400")])
        post([("bank", south.id, "500", "0"), ("caretaking_income", south.id, "0", "500")])
        post([("cleaning", south.id, "100", "0"), ("bank", south.id, "0", "100")])
        post([("bank", None, "300", "0"), ("canteen_income", None, "0", "300")])
        # the collective charges North a 50 management fee: inter-entity, eliminated
        post(
            [
                ("repairs", north.id, "50", "0"),
                ("inter_entity", north.id, "0", "50"),
                ("inter_entity", None, "50", "0"),
                ("other_income", None, "0", "50"),
            ],
            pair=uuid.uuid4(),
        )
        post([("bank", north.id, "999", "0"), ("property_income", north.id, "0", "999")],
             day=date(2024, 8, 2))  # fmt: skip
    return owner.tenant_id, north, south


def test_the_consolidated_income_statement_eliminates_inter_entity_lines(books):
    tenant_id, north, south = books
    with tenant_context(tenant_id):
        statement = reports.income_statement(*JULY)
        assert statement.entities == sorted([north.id, south.id], key=str) + [None]
        # income: 1000 + 200 + 500 + 300 + 50 (eliminated) ; expenses: 400 + 100 + 50 (elim.)
        assert statement.total_income() == D("2000")
        assert statement.total_expenses() == D("500")
        assert statement.net_income() == D("1500")
        assert statement.eliminations == D("0")  # 50 income and 50 expense cancel
        assert (statement.net_income(north.id), statement.net_income(south.id)) == (
            D("750"),  # 1000 + 200 − 400 − 50
            D("400"),
        )
        assert statement.net_income(None) == D("350")
        entity_sum = sum(statement.net_income(e) for e in statement.entities)
        assert entity_sum - statement.eliminations == statement.net_income()
        other = next(line for line in statement.income if line.account.role == "other_income")
        assert (other.by_entity[None], other.elimination, other.total) == (D("50"), D("50"), 0)


def test_one_estate_alone(books):
    tenant_id, north, _ = books
    with tenant_context(tenant_id):
        statement = reports.income_statement(*JULY, estate_id=north.id)
        assert statement.entities == [north.id]
        assert (statement.total_income(), statement.total_expenses()) == (D("1200"), D("450"))


def test_the_trial_balance_balances(books):
    tenant_id, north, _ = books
    with tenant_context(tenant_id):
        trial = reports.trial_balance(date(2024, 8, 1), date(2024, 8, 31))
        assert trial.debits == trial.credits == D("999")
        bank = next(row for row in trial.rows if row.account.role == "bank")
        assert (bank.opening, bank.debits, bank.closing) == (D("1500"), D("999"), D("2499"))
        assert trial.closing == 0
        north_only = reports.trial_balance(*JULY, estate_id=north.id)
        assert north_only.debits == north_only.credits == D("1650")


def test_the_balance_sheet_balances_and_drops_inter_entity_balances(books):
    tenant_id, north, _ = books
    with tenant_context(tenant_id):
        sheet = reports.balance_sheet(date(2024, 7, 31))
        assert sheet.total_assets == D("1500") == sheet.total_liabilities_and_equity
        assert all(account.role != "inter_entity" for account in sheet.assets)
        north_sheet = reports.balance_sheet(date(2024, 7, 31), estate_id=north.id)
        assert north_sheet.total_assets == north_sheet.total_liabilities_and_equity


def test_improvement_fund_and_public_revenue_statements(books):
    tenant_id, north, _ = books
    with tenant_context(tenant_id):
        closing.close_period(north.id, "2024-07", today=date(2024, 9, 1))
        services.post_entry(
            date(2024, 8, 20),
            [
                Posting(
                    role="improvement_fund", estate_id=north.id, debit=D("300"), memo="新建凉亭"
                ),
                Posting(role="bank", estate_id=north.id, credit=D("300")),
            ],
            source=EntrySource.MANUAL,
        )
        fund = reports.improvement_fund(north.id, date(2024, 7, 1), date(2024, 8, 31))
        # July surplus: service income 1000 − expenses 450 = 550, all to the fund
        assert (fund.opening, fund.total_in, fund.total_out, fund.closing) == (
            D("0"),
            D("550"),
            D("300"),
            D("250"),
        )
        assert [m.memo for m in fund.movements][-1] == "新建凉亭"
        public = reports.public_revenue(north.id, *JULY)
        assert (public.total_in, public.closing) == (D("200"), D("200"))
        assert dict(public.by_month) == {"2024-07": [D("200"), D("0")]}
        assert reports.income_statement(*JULY, estate_id=ALL).net_income() == D("1500")
