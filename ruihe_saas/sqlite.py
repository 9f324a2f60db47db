"""SQLite, the embedded first-run database, made to behave like a real one.

pysqlite starts transactions lazily and its SAVEPOINT handling is broken by default; with
these hooks SQLAlchemy emits BEGIN itself (so savepoints and rollbacks are real) and foreign
keys are enforced (composite tenant keys included).
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.engine import Engine


def make_sqlite_transactional(engine: Engine) -> None:
    if engine.dialect.name != "sqlite" or getattr(engine, "_ruihe_sqlite", False):
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, connection_record):
        dbapi_connection.isolation_level = None  # no implicit transactions
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN")

    engine._ruihe_sqlite = True
