"""The ``[[ledger]]`` section on a small definition: monthly expenses and income recorded
through the ledger services, improvement projects charged to the fund, every month closed
(the surplus moved by the estate's charging model), once; bad entries refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from ruihe_saas.auth.models import User
from ruihe_saas.errors import ValidationFailed
from ruihe_saas.ledger import closing, entries
from ruihe_saas.ledger.checks import run_checks
from ruihe_saas.ledger.models import EntrySource, JournalEntry, JournalLine, PeriodClose
from ruihe_saas.ledger.reports import improvement_fund
from ruihe_saas.ledger.services import account_for
from ruihe_saas.tenancy import tenant_context
from ruihe_saas.tenancy.context import acting_as
from ruihe_saas.tenancy.services import find_tenant
from tests.unit.payments.test_payment_definitions import (  # noqa: F401 (an autouse fixture)
    SMALL,
    definition_billing,
    load,
    write,
)

FINANCE = """[[users]]
email = "finance@xinyuan.test"
name = "财务"
password = "xinyuan-finance-1"
role = "finance"
"""

LEDGER = """[[ledger]]
estate = "A"
by = "finance@xinyuan.test"
from = "2024-01"
until = "2024-03"
seed = "a-books"
variation = 0.1
expenses = { wages = 300, cleaning = { partial_caretaking = 60, full_takeover = 90 } }
income = { public_revenue = 40 }
memos = { public_revenue = "电梯广告位收入" }
[[ledger.projects]]
month = "2024-03"
name = "凉亭修缮"
amount = 150
[[ledger]]
by = "finance@xinyuan.test"
from = "2024-01"
until = "2024-03"
expenses = { wages = 20 }
"""

BODY = SMALL.replace("[[estates]]", FINANCE + "[[estates]]") + LEDGER
MONTHS = ("2024-01", "2024-02", "2024-03")


def manual_entries(db) -> list[tuple[str, str, Decimal]]:
    """(reference, entry date, total debit) of every manual entry."""
    rows = db.session.execute(
        select(JournalEntry.reference, JournalEntry.entry_date, func.sum(JournalLine.debit))
        .join(JournalLine, JournalLine.entry_id == JournalEntry.id)
        .where(JournalEntry.source == EntrySource.MANUAL)
        .group_by(JournalEntry.reference, JournalEntry.entry_date)
        .order_by(JournalEntry.reference)
    ).all()
    return [(reference, str(day), Decimal(total)) for reference, day, total in rows]


def test_the_books_are_recorded_the_months_closed_and_the_surplus_reinvested(runner, db, tmp_path):
    output = load(runner, write(tmp_path, BODY))
    tenant = find_tenant("xinyuan")
    finance = db.session.scalar(select(User.id).where(User.email == "finance@xinyuan.test"))
    with tenant_context(tenant.id):
        estate_id = db.session.scalar(
            select(JournalLine.estate_id).where(JournalLine.estate_id.is_not(None)).limit(1)
        )
        recorded = {reference: (day, total) for reference, day, total in manual_entries(db)}
        # 3 months × (wages, cleaning, advertising) for A, wages for the collective, 1 project
        assert len(recorded) == 3 * 3 + 3 + 1
        for month in MONTHS:
            day, wages = recorded[f"DEMO-A-{month}-wages"]
            assert day == f"{month}-15"
            assert Decimal("270") <= wages <= Decimal("330") and wages != Decimal("300")
            cleaning = recorded[f"DEMO-A-{month}-cleaning"][1]
            assert Decimal("54") <= cleaning <= Decimal("66")  # the caretaking stage's amount
            assert recorded[f"DEMO-A-{month}-public_revenue"][0] == f"{month}-25"
            memo = db.session.scalar(
                select(JournalEntry.memo).where(
                    JournalEntry.reference == f"DEMO-A-{month}-public_revenue"
                )
            )
            assert memo == "电梯广告位收入"
            assert recorded[f"DEMO-COLLECTIVE-{month}-wages"][1] == Decimal("20")  # no variation
        assert recorded["DEMO-A-2024-03-P1"] == ("2024-03-28", Decimal("150.00"))

        closes = db.session.scalars(select(PeriodClose).order_by(PeriodClose.period)).all()
        assert sorted((c.period, c.estate_id is None) for c in closes) == sorted(
            [(m, False) for m in MONTHS] + [(m, True) for m in MONTHS]
        )
        assert all(c.closed_by == finance for c in closes)
        # each estate close moved the month's surplus: 10 % remuneration is 0 here (the
        # estate's default), all the rest to the improvement fund
        moved = Decimal(0)
        for month in MONTHS:
            result = closing.period_result(estate_id, month)
            assert result.expenses > 0 and result.service_income > result.expenses
            assert result.public_revenue >= recorded[f"DEMO-A-{month}-public_revenue"][1]
            moved += result.surplus
        fund = improvement_fund(
            estate_id, closing.month_span("2024-01")[0], closing.month_span("2024-03")[1]
        )
        assert fund.total_in == moved
        assert fund.total_out == Decimal("150.00")
        assert entries.fund_balance(estate_id) == moved - Decimal("150.00")
        assert (
            "ledger A: 6 expenses entries, 3 income entries, 1 projects, 3 months closed" in output
        )
        assert "ledger COLLECTIVE: 3 expenses entries, 3 months closed" in output
        assert run_checks() == []  # the books still agree with the bills and payments

        # a closed month refuses a posting dated in it
        with acting_as(finance), pytest.raises(ValidationFailed) as refused:
            entries.record_expense(
                estate_id=estate_id,
                account_id=account_for("wages").id,
                amount="1",
                entry_date="2024-02-10",
                reference="LATE-1",
            )
        assert set(refused.value.fields) == {"entry_date"}  # the period is closed
        db.session.rollback()


def test_a_reload_records_nothing_and_leaves_a_reopened_month_open(runner, db, tmp_path):
    load(runner, write(tmp_path, BODY))
    tenant = find_tenant("xinyuan")
    finance = db.session.scalar(select(User.id).where(User.email == "finance@xinyuan.test"))
    with tenant_context(tenant.id):
        first = manual_entries(db)
        estate_id = db.session.scalar(
            select(PeriodClose.estate_id).where(PeriodClose.estate_id.is_not(None)).limit(1)
        )
        with acting_as(finance):
            closing.reopen_period(None, "2024-03", "补记食堂单据")
        db.session.commit()
    again = load(runner, write(tmp_path, BODY))
    assert "ledger A: kept" in again and "ledger COLLECTIVE: kept" in again
    with tenant_context(tenant.id):
        assert manual_entries(db) == first
        assert closing.standing_close(None, "2024-03") is None  # not closed behind finance's back
        assert closing.standing_close(estate_id, "2024-03") is not None


def test_a_later_load_adds_the_months_ended_since(runner, db, tmp_path):
    load(runner, write(tmp_path, BODY))
    longer = BODY.replace('until = "2024-03"', 'until = "2024-05"')
    output = load(runner, write(tmp_path, longer))
    assert "ledger A: 4 expenses entries, 2 income entries, 2 months closed" in output
    with tenant_context(find_tenant("xinyuan").id):
        periods = db.session.scalars(
            select(PeriodClose.period).where(PeriodClose.estate_id.is_not(None))
        ).all()
        assert sorted(periods) == ["2024-01", "2024-02", "2024-03", "2024-04", "2024-05"]


def test_a_project_the_fund_cannot_pay_stops_the_load_with_the_balance(runner, db, tmp_path):
    body = BODY.replace("amount = 150", "amount = 900000")
    result = runner.invoke(args=["tenants", "load", str(write(tmp_path, body))])
    assert result.exit_code != 0
    assert (
        "project '凉亭修缮' (2024-03) needs 900000 元; the improvement fund holds" in result.output
    )
    with tenant_context(find_tenant("xinyuan").id):
        # the months before were committed; March, with the project, was not
        periods = db.session.scalars(select(PeriodClose.period)).all()
        assert sorted(set(periods)) == ["2024-01", "2024-02"]
        assert "DEMO-A-2024-03-P1" not in {row[0] for row in manual_entries(db)}


def test_with_definition_billing_off_the_entries_are_checked_and_nothing_recorded(
    runner, db, tmp_path, app, monkeypatch
):
    monkeypatch.setitem(app.config, "RUIHE_DEFINITION_BILLING", False)
    output = load(runner, write(tmp_path, BODY))
    assert "ledger A: RUIHE_DEFINITION_BILLING is off" in output
    with tenant_context(find_tenant("xinyuan").id):
        assert manual_entries(db) == []
        assert db.session.scalar(select(func.count()).select_from(PeriodClose)) == 0


def books(old: str, new: str) -> str:
    before, ledger = BODY.split("[[ledger]]", 1)
    assert old in ledger
    return before + "[[ledger]]" + ledger.replace(old, new, 1)


BAD = [
    (books('estate = "A"', 'estate = "Z"'), "ledger[1]: unknown estate 'Z'"),
    (books('by = "finance', 'by = "nobody'), "by nobody@xinyuan.test is not a user"),
    (books('by = "finance', 'by = "cashier'), "is a cashier: not allowed to close periods"),
    (books('by = "finance', 'by = "viewer'), "is a viewer: not allowed to close periods"),
    (books('from = "2024-01"', 'from = "2024-13"'), "ledger[1] (A).from: "),
    (books('until = "2024-03"', 'until = "2023-12"'), "until 2023-12 is before from 2024-01"),
    (books("wages = 300", "salaries = 300"), "expenses.salaries: not a expense account role"),
    (books("wages = 300", "wages = -3"), "expenses.wages: must be an amount above 0"),
    (books("wages = 300", 'wages = "300"'), "expenses.wages: must be an amount above 0"),
    (books("wages = 300", "wages = 300.001"), "expenses.wages: at most 2 decimals"),
    (books("wages = 300", "property_income = 300"), "not a expense account role"),
    (books("public_revenue = 40", "wages = 40"), "income.wages: not a income account role"),
    (books("full_takeover = 90", "prospective = 90"), "unknown stage prospective"),
    (books("variation = 0.1", "variation = 0.9"), "variation must be a share between 0 and 0.5"),
    (books("variation = 0.1", "close = 1"), "close must be true or false"),
    (books("variation = 0.1", "varation = 0.1"), "unknown keys varation"),
    (books('public_revenue = "电梯', 'greening = "电梯'), "memos: greening has no expenses"),
    (books('= "电梯广告位收入"', "= 3"), "memos must be a table of texts"),
    (books('month = "2024-03"', 'month = "2023-03"'), "is before the books start (2024-01)"),
    (books('name = "凉亭修缮"', 'name = ""'), "name the project"),
    (books("amount = 150", "amount = 0"), "projects[1].amount: must be an amount above 0"),
    (books("amount = 150", "cost = 150"), "projects[1]: unknown keys cost"),
    (
        BODY + '[[ledger.projects]]\nmonth = "2024-02"\nname = "x"\namount = 1\n',
        "projects are charged to an estate's improvement fund",
    ),
    (
        BODY + '[[ledger]]\nestate = "A"\nby = "finance@xinyuan.test"\nfrom = "2024-01"\n',
        "two entries describe the same entity",
    ),
]


@pytest.mark.parametrize(("body", "message"), BAD)
def test_bad_entries_are_refused_and_nothing_is_saved(
    runner, db, tmp_path, app, monkeypatch, body, message
):
    """Checked with the definition (billing off: the whole load is one transaction)."""
    monkeypatch.setitem(app.config, "RUIHE_DEFINITION_BILLING", False)
    result = runner.invoke(args=["tenants", "load", str(write(tmp_path, body))])
    assert result.exit_code != 0
    assert message in result.output, result.output
    assert find_tenant("xinyuan") is None
