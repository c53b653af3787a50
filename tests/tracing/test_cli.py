"""``podium traces list/show/export`` against a real ``podium server`` (PODIUM_URL)."""

from __future__ import annotations

import json

import httpx
import pytest
from typer.testing import CliRunner

from podium.cli.main import app
from podium.errors import NotFound
from tests.conftest import LiveServer
from tests.tracing.support import PROTOBUF, genai_attrs, new_span_id, new_trace_id, request, span

pytestmark = pytest.mark.slow


def _run(server: LiveServer, *args: str) -> str:
    result = CliRunner().invoke(
        app, ["traces", *args], env={"PODIUM_URL": server.url, "COLUMNS": "250"}
    )
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def test_list_show_export(live_server: LiveServer) -> None:
    first, second = new_trace_id(), new_trace_id()
    root = new_span_id()
    body = request(
        span(first, root, name="agent", duration_ms=300),
        span(first, new_span_id(), name="llm", parent=root, attrs=genai_attrs("gpt-4o")),
        span(
            second, new_span_id(), name="lone", start_ms=1000, attrs=genai_attrs("o3"), error=True
        ),
    ).SerializeToString()
    reply = httpx.post(
        live_server.url + "/otlp/v1/traces",
        content=body,
        headers={**PROTOBUF, "X-Podium-Project": "cli"},
        timeout=30,
    )
    assert reply.status_code == 200

    listed = json.loads(_run(live_server, "list", "-p", "cli", "--json"))
    assert [t["trace_id"] for t in listed] == [second.hex(), first.hex()]
    assert [
        t["trace_id"]
        for t in json.loads(_run(live_server, "list", "-p", "cli", "--error", "--json"))
    ] == [second.hex()]
    table = _run(live_server, "list", "-p", "cli", "--model", "gpt-4o")
    # Rich may wrap the long id in a narrow terminal: check the cells that do not wrap.
    assert "traces in cli" in table
    assert "gpt-4o" in table
    assert "error" not in table  # the failed o3 trace is filtered out

    shown = json.loads(_run(live_server, "show", first.hex(), "-p", "cli", "--json"))
    assert [c["name"] for c in shown["spans"][0]["children"]] == ["llm"]
    tree = _run(live_server, "show", first.hex(), "-p", "cli")
    assert "agent" in tree
    assert "  llm [gpt-4o]" in tree
    assert "1000/500 tokens" in tree

    lines = _run(live_server, "export", "-p", "cli").splitlines()
    exported = [json.loads(line) for line in lines]
    assert [t["trace_id"] for t in exported] == [second.hex(), first.hex()]
    assert exported[1]["spans"][0]["name"] == "agent"
    summaries = [
        json.loads(x) for x in _run(live_server, "export", "-p", "cli", "--summary").splitlines()
    ]
    assert "spans" not in summaries[0]

    # ``podium`` turns this error into one line and exit code 2 (podium.cli.output.run_cli).
    missing = CliRunner().invoke(
        app, ["traces", "show", "ab" * 16, "-p", "cli"], env={"PODIUM_URL": live_server.url}
    )
    assert isinstance(missing.exception, NotFound)
    assert "not found in project 'cli'" in str(missing.exception)
