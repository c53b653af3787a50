"""Column types shared by every part's tables, identical on SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Integer
from sqlalchemy.dialects import postgresql

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid alias), so big ids map to it there.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# JSONB on PostgreSQL (indexable, compact); JSON text on SQLite.
Json = JSON().with_variant(postgresql.JSONB(), "postgresql")

# Times are stored as integer milliseconds since the Unix epoch (UTC): exact, sortable and the
# same on both databases. Models convert them to aware datetimes.
EpochMillis = BigInteger
