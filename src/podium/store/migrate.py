"""Applies Alembic migrations, on start and by ``podium db upgrade``.

Migrations live in ``podium/store/migrations/versions`` as ordered, append-only scripts.
Several processes may open a fresh database at once (eight SDK processes in embedded mode),
so upgrades are serialised: a file lock beside a SQLite database, an advisory lock on PostgreSQL.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from podium.store.engine import Database

_MIGRATIONS = Path(__file__).with_name("migrations")
_PG_LOCK_KEY = 0x504F4449  # "PODI"


def alembic_config(connection: Connection | None = None) -> Config:
    """The Alembic configuration for Podium's migrations, bound to ``connection`` if given."""
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest migration this version of Podium ships."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(db: Database) -> str | None:
    """The migration the database is at (None for an empty database)."""
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the database up to ``revision``; a no-op when it is already there."""
    with _upgrade_lock(db), db.engine.begin() as conn:
        if revision == "head" and _at_head(conn):
            return
        command.upgrade(alembic_config(conn), revision)


def _at_head(conn: Connection) -> bool:
    return MigrationContext.configure(conn).get_current_revision() == head_revision()


@contextmanager
def _upgrade_lock(db: Database) -> Iterator[None]:
    url = db.engine.url
    if db.is_sqlite:
        database = url.database
        if not database or database == ":memory:":
            yield
            return
        lock_path = Path(database).with_suffix(".migrate.lock")
        with lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
        return
    with db.engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
            conn.commit()
