"""Migrations: applied from empty on both databases, idempotent, and matching the tables."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

import podium.access.sql
import podium.registry.sql
import podium.tracking.sql  # noqa: F401  (registers the tables on the metadata)
from podium.store.engine import open_database
from podium.store.metadata import metadata
from podium.store.migrate import current_revision, head_revision, upgrade


def test_upgrade_creates_every_table_and_is_idempotent(database_url: str) -> None:
    db = open_database(database_url)
    try:
        upgrade(db)
        upgrade(db)  # second run is a no-op
        assert current_revision(db) == head_revision()
        tables = set(inspect(db.engine).get_table_names())
        assert set(metadata.tables) <= tables
    finally:
        db.dispose()


def test_migrations_match_the_declared_tables(database_url: str) -> None:
    """Every table change in a part's sql.py must come with a migration."""
    db = open_database(database_url)
    try:
        upgrade(db)
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(context, metadata)
        assert diff == []
    finally:
        db.dispose()


def _upgrade_in_process(url: str) -> None:
    db = open_database(url)
    upgrade(db)
    db.dispose()


def test_concurrent_first_start_on_sqlite(tmp_path: Path) -> None:
    """Several processes opening a fresh SQLite database at once all see it migrated."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_upgrade_in_process, args=(url,)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    db = open_database(url)
    assert current_revision(db) == head_revision()
    db.dispose()
