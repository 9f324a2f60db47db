"""Fresh planner statistics as tables grow within one long session (PostgreSQL).

A database session keeps the plans it has made: psycopg's prepared statements, PL/pgSQL
statements and the foreign-key checks' queries. Made while a table was nearly empty (a new
database, a new tenant's first billing run or load), they stay as they were when it has
grown and may pick a poor index: the check of a journal line's entry then reads every entry
of the same date, once per line — quadratic — until the table is analysed (autovacuum may be
late, or off). ``GrowingTables.step()`` after each committed step of a long job ANALYZEs the
bulk-filled tables after the 1st, 2nd, 4th, 8th … step; an ANALYZE also invalidates the
session's cached plans, which are then remade with real statistics.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from ruihe_saas.extensions import db

# The tables a load fills in bulk (billing runs, payment history, books).
LOADED_TABLES = (
    "households", "meter_readings", "bills", "bill_lines", "payments", "payment_allocations",
    "receipts", "journal_entries", "journal_lines", "account_month_totals", "period_closes",
    "audit_events",
)  # fmt: skip


def refresh_statistics(tables: tuple[str, ...] = LOADED_TABLES) -> None:
    """``ANALYZE`` what a load has committed so far (PostgreSQL; as the schema owner,
    ``DATABASE_OWNER_URL``, since only an owner may). A long load in one session otherwise
    keeps the query plans it made while the tables were empty — the foreign-key checks'
    too — and slows quadratically (an index on ``tenant_id`` alone scanned for each row)
    until autovacuum analyses the tables; it may be late, or off. Call it after a commit:
    the owner's connection sees only committed rows. Elsewhere it does nothing."""
    if db.engine.dialect.name != "postgresql":
        return
    engine = create_engine(current_app.config["DATABASE_OWNER_URL"], poolclass=NullPool)
    try:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text(f"ANALYZE {', '.join(tables)}"))
    finally:
        engine.dispose()


class GrowingTables:
    """For a long load that commits step by step: ``step()`` after each commit refreshes
    the statistics after the 1st, 2nd, 4th, 8th … step (a few ANALYZEs, as the tables grow)."""

    def __init__(self) -> None:
        self.steps = 0

    def step(self) -> None:
        self.steps += 1
        if self.steps & (self.steps - 1) == 0:
            refresh_statistics()
