"""Reports on a small hand-computed fixture: two estates and the collective economy."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
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


# --- whole months from the monthly totals, edge days from the lines -------------------------


@pytest.fixture
def month_edges(books):
    """More postings on the days where ranges are cut: month ends and starts, mid-month."""
    tenant_id, north, south = books
    with tenant_context(tenant_id):
        for day, estate, amount in [
            (date(2024, 6, 30), north.id, "11"),
            (date(2024, 7, 1), south.id, "13"),
            (date(2024, 7, 31), None, "17"),
            (date(2024, 8, 1), north.id, "19"),
            (date(2024, 9, 15), south.id, "23"),
            (date(2025, 1, 1), north.id, "29"),
        ]:
            services.post_entry(
                day,
                [
                    Posting(role="bank", estate_id=estate, debit=D(amount)),
                    Posting(role="property_income", estate_id=estate, credit=D(amount)),
                ],
                source=EntrySource.MANUAL,
            )
            services.post_entry(
                day,
                [
                    Posting(role="greening", estate_id=estate, debit=D(amount) / 2),
                    Posting(role="bank", estate_id=estate, credit=D(amount) / 2),
                ],
                source=EntrySource.MANUAL,
            )
        services.post_entry(  # a second inter-entity pair, on an edge day
            date(2024, 8, 1),
            [
                Posting(role="repairs", estate_id=south.id, debit=D("7")),
                Posting(role="inter_entity", estate_id=south.id, credit=D("7")),
                Posting(role="inter_entity", estate_id=None, debit=D("7")),
                Posting(role="other_income", estate_id=None, credit=D("7")),
            ],
            source=EntrySource.MANUAL,
            pair_id=uuid.uuid4(),
        )
        database.session.flush()
    return books


def _line_sums(start, end, estate_id=ALL):
    """The reference: every line summed, (account, entity) → (debits, credits, paired part
    signed debit-positive), straight from journal_lines and journal_entries."""
    from sqlalchemy import case, func, select

    from ruihe_saas.ledger.models import JournalEntry, JournalLine

    paired = JournalEntry.pair_id.is_not(None)
    query = (
        select(
            JournalLine.account_id,
            JournalLine.estate_id,
            func.sum(JournalLine.debit),
            func.sum(JournalLine.credit),
            func.sum(case((paired, JournalLine.debit - JournalLine.credit), else_=0)),
        )
        .join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        .group_by(JournalLine.account_id, JournalLine.estate_id)
    )
    if start is not None:
        query = query.where(JournalLine.entry_date >= start)
    query = query.where(JournalLine.entry_date <= end)
    if estate_id is not ALL:
        query = query.where(JournalLine.estate_id.is_(estate_id) if estate_id is None
                            else JournalLine.estate_id == estate_id)  # fmt: skip
    return {
        (a, e): tuple(D(v or 0).quantize(D("0.01")) for v in sums)
        for a, e, *sums in database.session.execute(query)
    }


RANGES = [
    (date(2024, 7, 1), date(2024, 7, 31)),  # one whole month
    (date(2024, 7, 2), date(2024, 7, 30)),  # inside one month: lines only
    (date(2024, 7, 10), date(2024, 8, 2)),  # two partial months
    (date(2024, 6, 15), date(2024, 9, 30)),  # partial, two whole, whole
    (date(2024, 7, 1), date(2024, 8, 1)),  # a whole month and one day
    (date(2024, 6, 30), date(2024, 8, 31)),  # one day and two whole months
    (date(2024, 8, 1), date(2024, 8, 1)),  # a single day
    (date(2024, 1, 1), date(2024, 12, 31)),  # the year (the 2025 line outside)
]


@pytest.mark.parametrize(("start", "end"), RANGES, ids=lambda d: d.isoformat())
def test_reports_over_any_range_equal_the_lines_summed(month_edges, start, end):
    tenant_id, north, _ = month_edges
    with tenant_context(tenant_id):
        accounts = {a.id: a for a in reports._accounts().values()}
        for entity in (ALL, north.id, None):
            expected = _line_sums(start, end, entity)
            statement = reports.income_statement(start, end, estate_id=entity)
            got, got_eliminated = {}, {}
            for line in (*statement.income, *statement.expenses):
                got_eliminated[line.account.id] = line.elimination
                for e, amount in line.by_entity.items():
                    got[(line.account.id, e)] = amount
            want, eliminated = {}, {}
            for (account_id, e), (debit, credit, paired) in expected.items():
                kind = accounts[account_id].type
                if kind not in ("income", "expense"):
                    continue
                sign = -1 if kind == "income" else 1  # income credit-positive
                want[(account_id, e)] = sign * (debit - credit)
                if entity is ALL:  # only the consolidated statement eliminates
                    eliminated[account_id] = eliminated.get(account_id, D("0")) + sign * paired
            assert got == want
            assert {a: v for a, v in got_eliminated.items() if v} == {
                a: v for a, v in eliminated.items() if v
            }

            trial = reports.trial_balance(start, end, estate_id=entity)
            before = {}
            for (account_id, _), (debit, credit, _) in _line_sums(
                None, start - timedelta(days=1), entity
            ).items():
                before[account_id] = before.get(account_id, D("0")) + debit - credit
            moved = {}
            for (account_id, _), (debit, credit, _) in expected.items():
                d, c = moved.get(account_id, (D("0"), D("0")))
                moved[account_id] = (d + debit, c + credit)
            assert {
                row.account.id: (row.opening, row.debits, row.credits) for row in trial.rows
            } == {
                a: (before.get(a, D("0")), *moved.get(a, (D("0"), D("0"))))
                for a in before.keys() | moved.keys()
            }

            sheet = reports.balance_sheet(end, estate_id=entity)
            assert sheet.total_assets == sheet.total_liabilities_and_equity


def test_the_monthly_totals_are_the_lines_summed_by_the_database(month_edges):
    """What the triggers keep (migration 0008) against a GROUP BY over the lines."""
    from sqlalchemy import case, func, select

    from ruihe_saas.ledger.models import AccountMonthTotal, JournalEntry, JournalLine

    tenant_id, _, _ = month_edges
    with tenant_context(tenant_id):
        database.session.flush()
        totals = {
            (t.estate_id, t.account_id, t.month): (
                t.debit,
                t.credit,
                t.paired_debit,
                t.paired_credit,
            )
            for t in database.session.scalars(select(AccountMonthTotal))
        }
        paired = JournalEntry.pair_id.is_not(None)
        lines = database.session.execute(
            select(
                JournalLine.estate_id,
                JournalLine.account_id,
                JournalLine.entry_date,
                JournalLine.debit,
                JournalLine.credit,
                case((paired, 1), else_=0),
            ).join(JournalEntry, JournalEntry.id == JournalLine.entry_id)
        ).all()
        expected: dict = {}
        for estate_id, account_id, day, debit, credit, in_pair in lines:
            key = (estate_id, account_id, day.replace(day=1))
            d, c, pd, pc = expected.get(key, (D("0"),) * 4)
            expected[key] = (d + debit, c + credit, pd + debit * in_pair, pc + credit * in_pair)
        assert len(lines) > 30
        assert {k: tuple(D(v).quantize(D("0.01")) for v in vs) for k, vs in totals.items()} == {
            k: tuple(v.quantize(D("0.01")) for v in vs) for k, vs in expected.items()
        }
        assert {k[2] for k in totals} >= {date(2024, 6, 1), date(2025, 1, 1)}
        assert database.session.scalar(select(func.count()).select_from(AccountMonthTotal)) == len(
            expected
        )


def test_an_estate_admin_sees_the_totals_of_their_estates_only(month_edges):
    from ruihe_saas.tenancy.context import estate_scope

    tenant_id, north, south = month_edges
    with tenant_context(tenant_id), estate_scope(frozenset({north.id})):
        statement = reports.income_statement(date(2024, 1, 1), date(2024, 12, 31))
        assert statement.entities == [north.id]
        trial = reports.trial_balance(date(2024, 7, 1), date(2024, 7, 31))
        assert trial.debits == trial.credits == D("1650")  # North's July, as above


@pytest.mark.postgres
def test_the_app_role_cannot_write_the_monthly_totals(month_edges):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    tenant_id, _, _ = month_edges
    with tenant_context(tenant_id):
        for statement in (
            "UPDATE account_month_totals SET debit = debit + 1",
            "DELETE FROM account_month_totals",
            "INSERT INTO account_month_totals SELECT * FROM account_month_totals LIMIT 1",
            "TRUNCATE account_month_totals",
        ):
            with (
                pytest.raises(DBAPIError, match="permission denied"),
                database.session.begin_nested(),
            ):
                database.session.execute(text(statement))
