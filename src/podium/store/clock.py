"""Wall-clock time as Podium stores it: integer milliseconds since the epoch, UTC."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def from_ms(value: int | None) -> datetime | None:
    """An aware UTC datetime for epoch milliseconds (None stays None)."""
    if value is None:
        return None
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def stored_time(value: int) -> datetime:
    """An aware UTC datetime for a NOT NULL epoch-milliseconds column."""
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def to_ms(value: datetime) -> int:
    """Epoch milliseconds for a datetime (naive datetimes are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return int(value.timestamp() * 1000)
