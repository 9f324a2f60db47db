"""Column types shared by every feature."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator):
    """A timezone-aware timestamp, always UTC in Python.

    PostgreSQL stores ``timestamptz``; SQLite keeps no offset, so values read back without
    one are marked UTC (everything written is UTC: ``now()`` defaults and ``datetime.now(UTC)``).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


# A JSON document column: JSONB on PostgreSQL, JSON elsewhere.
JSON_DOCUMENT = JSON().with_variant(JSONB(), "postgresql")
