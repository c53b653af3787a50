"""``podium data …`` in-process, over HTTP to a real ``podium server`` (PODIUM_URL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from podium.cli.main import app
from tests.conftest import LiveServer

pytestmark = pytest.mark.slow


def _invoke(server: LiveServer, *args: str) -> Any:
    return CliRunner().invoke(app, ["data", *args], env={"PODIUM_URL": server.url})


def _podium(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    # A subprocess, so the real entry point maps errors to exit codes.
    return subprocess.run(
        [sys.executable, "-m", "podium.cli.main", "data", *args],
        env={**os.environ, "PODIUM_URL": server.url},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _run(server: LiveServer, *args: str) -> str:
    result = _invoke(server, *args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def test_import_list_show_diff_export(live_server: LiveServer, tmp_path: Path) -> None:
    first = tmp_path / "qa.jsonl"
    first.write_text('{"input": "2+2?", "expected": "4"}\n{"input": "sky?", "expected": "blue"}\n')
    second = tmp_path / "qa.csv"
    second.write_text("input,expected\n2+2?,four\nnew question,x\n")

    out = _run(live_server, "import", "qa", str(first), "-p", "team", "-m", "first")
    assert out.startswith("imported qa v1: 2 rows (sha256 ")
    version = json.loads(_run(live_server, "import", "qa", str(second), "-p", "team", "--json"))
    assert (version["version"], version["row_count"]) == (2, 2)
    assert version["steps"] == [{"name": "import", "params": {"format": "csv"}}]

    listed = json.loads(_run(live_server, "list", "-p", "team", "--json"))
    assert [(d["name"], d["latest_version"]) for d in listed] == [("qa", 2)]
    assert "qa" in _run(live_server, "list", "-p", "team")

    versions = json.loads(_run(live_server, "show", "qa", "-p", "team", "--json"))
    assert [v["version"] for v in versions] == [2, 1]
    shown = json.loads(
        _run(live_server, "show", "qa", "-v", "1", "-n", "1", "-p", "team", "--json")
    )
    assert [r["input"] for r in shown["rows"]] == ["2+2?"]
    assert "first" in _run(live_server, "show", "qa", "-p", "team")

    diff = json.loads(_run(live_server, "diff", "qa", "1", "2", "-p", "team", "--json"))
    assert (diff["added"], diff["removed"], diff["changed"]) == (1, 1, 1)
    assert "+1 added, -1 removed, ~1 changed, 0 unchanged" in _run(
        live_server, "diff", "qa", "1", "2", "-p", "team"
    )

    target = tmp_path / "out.jsonl"
    _run(live_server, "export", "qa", "-v", "1", "-o", str(target), "-p", "team")
    assert [json.loads(line)["input"] for line in target.read_text().splitlines()] == [
        "2+2?",
        "sky?",
    ]
    as_csv = _run(live_server, "export", "qa", "-f", "csv", "-p", "team")
    assert as_csv.splitlines()[0] == "input,expected,metadata"

    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text("steps:\n  - name: normalise\n  - name: exact_dedup\n")
    out = _run(
        live_server,
        "clean",
        "qa",
        "--pipeline",
        str(pipeline),
        "-s",
        "filter:min_chars=5",
        "-p",
        "team",
    )
    assert "pipeline on qa: v2 → v3" in out
    assert "created qa v3: 1 rows" in out
    cleaned = json.loads(_run(live_server, "show", "qa", "-v", "3", "-p", "team", "--json"))
    assert [s["name"] for s in cleaned["steps"]] == ["normalise", "exact_dedup", "filter"]
    assert cleaned["steps"][2]["params"]["min_chars"] == 5
    assert cleaned["parents"] == [2]


def test_user_mistakes_exit_2_with_one_line(live_server: LiveServer, tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"input": "a"}\n{"input": \n')
    result = _podium(live_server, "import", "qa", str(broken))
    assert result.returncode == 2
    assert result.stderr.startswith("error: line 2: not valid JSON (Expecting value at column 11)")
    odd = tmp_path / "rows.txt"
    odd.write_text("x")
    result = _podium(live_server, "import", "qa", str(odd))
    assert result.returncode == 2
    assert "pass --format" in result.stderr
    result = _podium(live_server, "clean", "qa", "-s", "near_dedup:threshold")
    assert result.returncode == 2
    assert "key=value" in result.stderr
    result = _podium(live_server, "show", "missing")
    assert result.returncode == 2
    assert "does not exist" in result.stderr
