"""The database engine and the SQLite/PostgreSQL seam.

Everything dialect-specific lives here so that every part's ``sql.py`` is written once for both:
SQLite gets WAL, a busy timeout and ``BEGIN IMMEDIATE`` for writes (so concurrent writers queue
on the lock instead of failing on a lock upgrade); PostgreSQL gets a pre-pinged pool. ``upsert``
hands out the dialect's ``INSERT … ON CONFLICT`` construct.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, event, make_url
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError, DataError, NoSuchModuleError, OperationalError

from podium.errors import InvalidInput, MissingExtra, ServiceUnavailable

_SQLITE_BUSY_TIMEOUT_MS = 60_000
_BEGIN_OPTION = "podium_sqlite_begin"


@dataclass(frozen=True)
class Database:
    """An engine plus the few facts about its dialect that queries need."""

    engine: Engine

    @property
    def is_sqlite(self) -> bool:
        """True when the backend is SQLite."""
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A connection in a read transaction (a consistent snapshot)."""
        with _translate_outage(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection in a write transaction, committed when the block exits cleanly."""
        with _translate_outage(), self.engine.connect() as conn:
            if self.is_sqlite:
                conn.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
            with conn.begin():
                yield conn

    def upsert(self, table: Table) -> Any:
        """Return the dialect's ``insert(table)`` that supports ``on_conflict_do_*``."""
        if self.is_sqlite:
            return sqlite.insert(table)
        return postgresql.insert(table)

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


@contextmanager
def _translate_outage() -> Iterator[None]:
    try:
        yield
    except OperationalError as exc:
        # Lock timeouts and lost connections are outages, not user mistakes.
        raise ServiceUnavailable(f"database unavailable: {exc.orig}") from exc
    except DataError as exc:
        # Values the database cannot hold (NUL characters on PostgreSQL, integers past 64 bits)
        # come from user input that slipped past validation: a clear 422, not a 500.
        raise InvalidInput(
            "a value cannot be stored: it contains a NUL character or is out of range"
        ) from exc
    except OverflowError as exc:
        raise InvalidInput("a number is out of range: integers must fit in 64 bits") from exc


def open_database(url: str) -> Database:
    """Create the engine for ``url`` (``sqlite:///…`` or ``postgresql+psycopg://…``).

    Raises ``InvalidInput`` for an unsupported URL and ``MissingExtra`` when the driver for it
    is not installed.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise InvalidInput(
            f"PODIUM_DATABASE_URL is not a database URL: {url!r}; use sqlite:///path/podium.db "
            "or postgresql+psycopg://user@host:5432/db",
            field="database_url",
        ) from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return Database(_sqlite_engine(url, parsed.database))
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        try:
            engine = create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=20)
        except (ModuleNotFoundError, NoSuchModuleError) as exc:
            raise MissingExtra.for_feature("PostgreSQL storage", "postgres") from exc
        return Database(engine)
    raise InvalidInput(
        f"unsupported database backend {backend!r} in PODIUM_DATABASE_URL; "
        "valid schemes: sqlite:///, postgresql+psycopg://",
        field="database_url",
    )


def _sqlite_engine(url: str, database: str | None) -> Engine:
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so BEGIN is ours to emit.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        _set_wal(cursor)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _set_wal(cursor: Any) -> None:
    # Switching to WAL needs a moment of exclusive access; several processes opening a fresh
    # database at once can collide here, so retry briefly.
    for attempt in range(50):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except Exception:
            if attempt == 49:
                raise
            time.sleep(0.05)
