"""The ledger's rules held by PostgreSQL itself, whatever SQL the app role sends."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from ruihe_saas.extensions import db as database
from ruihe_saas.ids import new_id
from ruihe_saas.ledger import services
from ruihe_saas.ledger.models import EntrySource, PeriodClose
from ruihe_saas.ledger.services import Posting
from ruihe_saas.tenancy import tenant_context
from tests.factories import member

pytestmark = pytest.mark.postgres
D = Decimal


@pytest.fixture
def tenant_id(db):
    owner = member()
    with tenant_context(owner.tenant_id):
        services.ensure_chart()
    return owner.tenant_id


def refused(statement_or_callable, match: str) -> None:
    """Run it in a savepoint and fire the deferred checks: PostgreSQL must refuse."""
    with pytest.raises(DBAPIError, match=match), database.session.begin_nested():
        if callable(statement_or_callable):
            statement_or_callable()
        else:
            database.session.execute(text(statement_or_callable))
        database.session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))


def raw_entry(tenant_id, lines: list[tuple[str, str, str]], day=date(2024, 7, 1)):
    """Insert an entry and lines with plain SQL, as the app role: [(role, debit, credit)]."""
    entry_id = new_id()
    database.session.execute(
        text(
            "INSERT INTO journal_entries (tenant_id, id, number, entry_date, memo, source,"
            " reference) VALUES (:t, :id, :n, :d, '', 'manual', '')"
        ),
        {"t": tenant_id, "id": entry_id, "n": f"R-{entry_id.hex[-20:]}", "d": day},
    )
    for role, debit, credit in lines:
        database.session.execute(
            text(
                "INSERT INTO journal_lines (tenant_id, id, entry_id, entry_date, account_id,"
                " debit, credit, memo) SELECT :t, :id, :e, :d, a.id, :dr, :cr, ''"
                " FROM accounts a WHERE a.role = :role"
            ),
            {"t": tenant_id, "id": new_id(), "e": entry_id, "d": day, "dr": debit, "cr": credit,
             "role": role},
        )  # fmt: skip
    return entry_id


def test_an_unbalanced_or_one_line_entry_is_refused(tenant_id):
    with tenant_context(tenant_id):
        refused(lambda: raw_entry(tenant_id, [("cash", "10", "0"), ("bank", "0", "9")]), "balance")
        refused(lambda: raw_entry(tenant_id, [("cash", "10", "0")]), "at least two")
        refused(lambda: raw_entry(tenant_id, []), "at least two")
        entry_id = raw_entry(tenant_id, [("cash", "10", "0"), ("bank", "0", "10")])
        database.session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))  # balanced: accepted
        assert entry_id


def test_a_line_has_one_positive_side(tenant_id):
    with tenant_context(tenant_id):
        refused(lambda: raw_entry(tenant_id, [("cash", "5", "5"), ("bank", "0", "0")]), "one_side")


def test_the_app_role_cannot_change_or_remove_posted_rows(tenant_id):
    with tenant_context(tenant_id):
        services.post_entry(
            date(2024, 7, 1),
            [Posting(role="cash", debit=D("10")), Posting(role="bank", credit=D("10"))],
            source=EntrySource.MANUAL,
        )
        for table in ("journal_entries", "journal_lines"):
            refused(f"UPDATE {table} SET entry_date = entry_date", "permission denied|append-only")
            refused(f"DELETE FROM {table}", "permission denied|append-only")
            refused(f"TRUNCATE {table} CASCADE", "permission denied|append-only")


def test_a_second_reversal_is_refused(tenant_id):
    with tenant_context(tenant_id):
        entry = services.post_entry(
            date(2024, 7, 1),
            [Posting(role="cash", debit=D("10")), Posting(role="bank", credit=D("10"))],
            source=EntrySource.MANUAL,
        )
        services.reverse_entry(entry.id, "first")
        second = raw_entry(tenant_id, [("bank", "10", "0"), ("cash", "0", "10")])

        def reverse_again():
            database.session.execute(
                text("UPDATE journal_entries SET reverses_id = :r WHERE id = :id"),
                {"r": entry.id, "id": second},
            )

        refused(reverse_again, "append-only|permission denied")
        refused(
            lambda: database.session.execute(
                text(
                    "INSERT INTO journal_entries (tenant_id, id, number, entry_date, memo,"
                    " source, reference, reverses_id) VALUES (:t, :id, 'R2', :d, '', 'reversal',"
                    " '', :r)"
                ),
                {"t": tenant_id, "id": new_id(), "d": date(2024, 7, 1), "r": entry.id},
            ),
            "uq_journal_entries_tenant_id_reverses_id",
        )


def test_no_line_dated_into_a_closed_period(tenant_id):
    with tenant_context(tenant_id):
        database.session.add(PeriodClose(estate_id=None, period="2024-07"))
        database.session.flush()
        refused(lambda: raw_entry(tenant_id, [("cash", "1", "0"), ("bank", "0", "1")]), "closed")
        raw_entry(tenant_id, [("cash", "1", "0"), ("bank", "0", "1")], day=date(2024, 8, 1))
        database.session.execute(text("SET CONSTRAINTS ALL IMMEDIATE"))
