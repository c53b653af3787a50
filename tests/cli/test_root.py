"""The ``podium`` root command: version, db upgrade, server safety, error lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from podium import __version__
from podium.settings import Settings
from podium.store.migrate import head_revision


def _podium(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PODIUM_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "podium.cli.main", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )


def test_version() -> None:
    result = _podium("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"podium {__version__}"


def test_db_upgrade_reports_the_revision(settings: Settings) -> None:
    env = {"PODIUM_HOME": str(settings.home), "PODIUM_DATABASE_URL": settings.database_url or ""}
    result = _podium("db", "upgrade", "--json", env=env)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert body["to"] == head_revision()


def test_bad_database_url_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = _podium("db", "upgrade", env={"PODIUM_DATABASE_URL": "mysql://x@y/z"})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "valid schemes" in lines[0]


def test_server_refuses_to_bind_beyond_loopback(tmp_path: Path) -> None:
    result = _podium("server", "--host", "0.0.0.0", env={"PODIUM_HOME": str(tmp_path)})
    assert result.returncode == 2
    assert "without authentication" in result.stderr and "podium users create" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_command_is_a_usage_error() -> None:
    result = _podium("frobnicate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
