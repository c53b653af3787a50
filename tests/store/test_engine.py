"""The SQLite/PostgreSQL seam: pragmas, URL errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from podium.errors import InvalidInput
from podium.store.engine import open_database


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'x.db'}")
    with db.read() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 60000
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
    db.dispose()


def test_sqlite_creates_the_home_folder(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'a' / 'b' / 'podium.db'}")
    with db.write() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    assert (tmp_path / "a" / "b" / "podium.db").exists()
    db.dispose()


def test_unknown_backend_names_the_valid_schemes() -> None:
    with pytest.raises(InvalidInput, match=r"valid schemes: sqlite:///, postgresql\+psycopg://"):
        open_database("mysql://u@h/db")


def test_garbage_url_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="not a database URL"):
        open_database("::::")


def test_write_rolls_back_on_error(database_url: str) -> None:
    db = open_database(database_url)
    with db.write() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    with pytest.raises(RuntimeError), db.write() as conn:
        conn.execute(text("INSERT INTO t VALUES (1)"))
        raise RuntimeError("boom")
    with db.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 0
    db.dispose()
