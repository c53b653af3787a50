"""``podium models …`` against a real ``podium server`` process (PODIUM_URL), on both databases."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from typer.testing import CliRunner

from podium.cli.main import app
from podium.client import Client
from tests.conftest import LiveServer

pytestmark = pytest.mark.slow


def _run(server: LiveServer, *args: str) -> str:
    result = CliRunner().invoke(app, ["models", *args], env={"PODIUM_URL": server.url})
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def _json(server: LiveServer, *args: str) -> Any:
    return json.loads(_run(server, *args, "--json"))


def test_list_show_promote_rollback_history(live_server: LiveServer) -> None:
    created = _json(live_server, "create", "chat", "--description", "the chat model")
    assert (created["project"], created["name"], created["latest_version"]) == (
        "default",
        "chat",
        0,
    )
    assert "registered probe in project lab" in _run(live_server, "create", "probe", "-p", "lab")
    with Client(live_server.url) as client:
        for n in (1, 2, 3):
            client.post("/models/chat/versions", {"framework": "gguf", "description": f"v{n}"})

    assert [m["name"] for m in _json(live_server, "list")] == ["chat"]
    assert [m["name"] for m in _json(live_server, "list", "--project", "lab")] == ["probe"]
    assert "chat" in _run(live_server, "list")

    assert "production -> v1" in _run(live_server, "promote", "chat", "1", "--alias", "production")
    promoted = _json(live_server, "promote", "chat", "2", "--alias", "production", "--reason", "ok")
    assert (promoted["alias"], promoted["version"]) == ("production", 2)
    assert "production -> v3" in _run(live_server, "promote", "chat", "3", "--alias", "production")

    shown = _json(live_server, "show", "chat")
    assert shown["model"]["aliases"] == {"production": 3}
    assert [v["version"] for v in shown["versions"]] == [3, 2, 1]
    assert shown["versions"][0]["aliases"] == ["production"]
    table = _run(live_server, "show", "chat")
    assert "the chat model" in table
    assert "v3" in table and "production" in table

    back = _json(live_server, "rollback", "chat", "--alias", "production", "--reason", "slow")
    assert back["version"] == 2
    assert "rolled back to v1" in _run(live_server, "rollback", "chat", "--alias", "production")

    history = _json(live_server, "history", "chat", "--alias", "production")
    assert [(e["from_version"], e["to_version"], e["reason"]) for e in history] == [
        (2, 1, "rollback: back to v1"),
        (3, 2, "rollback: slow"),
        (2, 3, ""),
        (1, 2, "ok"),
        (None, 1, ""),
    ]
    assert "rollback: slow" in _run(live_server, "history", "chat")


def _podium(server: LiveServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PODIUM_URL": server.url}
    return subprocess.run(
        [sys.executable, "-m", "podium.cli.main", "models", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_errors_exit_2_with_one_line_that_names_the_fix(live_server: LiveServer) -> None:
    unknown = _podium(live_server, "show", "nope")
    assert unknown.returncode == 2
    assert unknown.stdout == ""
    lines = unknown.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "model 'nope' does not exist in project 'default'" in lines[0]

    with Client(live_server.url) as client:
        client.post("/models", {"name": "m"})
        client.post("/models/m/versions", {})
    nothing = _podium(live_server, "rollback", "m", "--alias", "production")
    assert nothing.returncode == 2
    assert "never been set" in nothing.stderr
    assert len(nothing.stderr.strip().splitlines()) == 1
