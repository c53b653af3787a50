"""``podium data …`` in-process, over HTTP to a real ``podium server`` (PODIUM_URL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from podium.cli.main import app
from tests.conftest import LiveServer
from tests.tracing.support import genai_attrs, new_span_id, new_trace_id, request, span

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


def test_clean_jobs_language_expression_and_import_traces(
    live_server: LiveServer, tmp_path: Path
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(
        json.dumps({"input": "The river report comes out next week, said the committee."})
        + "\n"
        + json.dumps({"input": "Der Bericht über die Flüsse erscheint nächste Woche."})
        + "\n"
        + json.dumps({"input": "The spam offer of the week is here for you now.", "src": "spam"})
        + "\n"
    )
    _run(live_server, "import", "qa", str(rows), "-p", "team")
    out = _run(
        live_server,
        "clean",
        "qa",
        "-s",
        "language:keep=[en, fr],field=lang",
        "-s",
        "filter:expression=metadata.src != 'spam' and len(input) > 10",
        "-p",
        "team",
    )
    assert "pipeline on qa: v1 → v2" in out
    assert "created qa v2: 1 rows" in out
    shown = json.loads(_run(live_server, "show", "qa", "-v", "2", "-p", "team", "--json"))
    assert shown["rows"][0]["metadata"] == {"lang": "en"}
    assert shown["steps"][1]["params"] == {
        "min_chars": 0,
        "max_chars": 10**12,
        "min_words": 0,
        "max_words": 10**12,
        "max_repetition": 1.0,
        "repetition_ngram": 3,
        "expression": "metadata.src != 'spam' and len(input) > 10",
    }

    started = json.loads(
        _run(live_server, "clean", "qa", "-s", "normalise", "--no-wait", "-p", "team", "--json")
    )
    assert (started["dataset"], started["source_version"]) == ("qa", 2)
    job: dict[str, Any] = {}
    for _ in range(300):
        job = json.loads(_run(live_server, "job", started["id"], "--json"))
        if job["state"] != "running":
            break
        time.sleep(0.1)
    assert (job["state"], job["version"]["version"]) == ("succeeded", 3)
    assert "succeeded (100%)" in _run(live_server, "job", started["id"])

    trace = new_trace_id()
    body = request(
        span(
            trace,
            new_span_id(),
            attrs=genai_attrs(
                "gpt-4o", **{"gen_ai.prompt": "What is 2+2?", "gen_ai.completion": "4"}
            ),
        )
    ).SerializeToString()
    reply = httpx.post(
        live_server.url + "/otlp/v1/traces",
        content=body,
        headers={"Content-Type": "application/x-protobuf", "X-Podium-Project": "team"},
    )
    assert reply.status_code == 200
    out = _run(live_server, "import-traces", "--name", "prod", "--model", "gpt-4o", "-p", "team")
    assert out.strip() == "imported prod v1: 1 rows from traces"
    shown = json.loads(_run(live_server, "show", "prod", "-v", "1", "-p", "team", "--json"))
    assert (shown["rows"][0]["input"], shown["rows"][0]["expected"]) == ("What is 2+2?", "4")
    assert shown["rows"][0]["metadata"]["trace_id"] == trace.hex()
    result = _podium(
        live_server, "import-traces", "--name", "prod", "--model", "nope", "-p", "team"
    )
    assert result.returncode == 2
    assert "no trace of project 'team' matches" in result.stderr
