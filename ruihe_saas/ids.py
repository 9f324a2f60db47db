"""Application-generated identifiers.

Primary keys are time-ordered UUIDv7 generated here, never by the database: SQLite cannot
autoincrement a composite key and a distributed (Citus) database has no global sequence.
"""

from __future__ import annotations

import uuid

import uuid6


def new_id() -> uuid.UUID:
    return uuid.UUID(bytes=uuid6.uuid7().bytes)
