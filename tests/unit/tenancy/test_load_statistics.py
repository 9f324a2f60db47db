"""A long definition load refreshes the planner's statistics as its tables grow: on
PostgreSQL, ANALYZE as the schema owner (the app role may not) after the 1st, 2nd, 4th …
committed step, so the session's cached plans — foreign-key checks' too — are remade with
the tables' real sizes instead of staying those made on empty tables."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from ruihe_saas import plans
from ruihe_saas.plans import GrowingTables, refresh_statistics


def test_steps_refresh_after_powers_of_two(monkeypatch):
    calls = []
    monkeypatch.setattr(plans, "refresh_statistics", lambda: calls.append(True))
    growing = GrowingTables()
    refreshed_at = []
    for step in range(1, 21):
        before = len(calls)
        growing.step()
        if len(calls) > before:
            refreshed_at.append(step)
    assert refreshed_at == [1, 2, 4, 8, 16]


@pytest.mark.postgres
def test_refresh_analyses_the_loaded_tables_as_the_owner(db):
    def analysed() -> int:
        return db.session.scalar(
            text("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'bills'")
        )

    before = analysed()
    refresh_statistics(("bills",))
    db.session.commit()
    # the statistics collector reports asynchronously: ask for a fresh snapshot
    db.session.execute(text("SELECT pg_stat_clear_snapshot()"))
    assert analysed() == before + 1


def test_every_loaded_table_exists(app, db):
    """ANALYZE names them all (PostgreSQL: one unknown table fails the statement); SQLite:
    nothing to do, no error."""
    refresh_statistics()
