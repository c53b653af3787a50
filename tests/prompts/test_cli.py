"""``podium prompts …`` as a subprocess against a real ``podium server`` (PODIUM_URL)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from podium.cli.main import app
from tests.conftest import LiveServer

pytestmark = pytest.mark.slow

CHAT = """\
name: helper
kind: chat
messages:
  - role: system
    content: |
      You answer for {{ company }}.
      Be brief.
  - type: placeholder
    name: history
  - role: user
    content: "{{ question }}"
variables:
  - {name: company, type: string, default: ACME}
  - {name: history, type: messages, required: false}
  - {name: question, type: string}
model_params: {model: gpt-4o-mini, temperature: 0.2}
tags: [support]
"""
TEXT = "name: greet\ntemplate: Hello {{ who }}!\nvariables:\n  - {name: who}\n"


def _podium(server: LiveServer | str, *args: str) -> subprocess.CompletedProcess[str]:
    url = server if isinstance(server, str) else server.url
    env = {**os.environ, "PODIUM_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "podium.cli.main", "prompts", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _run(server: LiveServer, *args: str) -> str:
    # In-process CLI (faster than a subprocess per command), still over HTTP to the server.
    result = CliRunner().invoke(app, ["prompts", *args], env={"PODIUM_URL": server.url})
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def _json(server: LiveServer, *args: str) -> Any:
    return json.loads(_run(server, *args, "--json"))


def test_push_pull_round_trip_label_diff_render(live_server: LiveServer, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "helper.yaml").write_text(CHAT)
    (src / "greet.yaml").write_text(TEXT)
    pushed = _json(live_server, "push", str(src), "-m", "initial", "--label", "production")
    assert [(r["prompt"], r["version"], r["status"]) for r in pushed] == [
        ("greet", 1, "created"),
        ("helper", 1, "created"),
    ]
    again = _json(live_server, "push", str(src))
    assert [r["status"] for r in again] == ["unchanged", "unchanged"]

    out = tmp_path / "out"
    pulled = _json(live_server, "pull", str(out), "--label", "production")
    assert {r["prompt"]: r["version"] for r in pulled} == {"greet": 1, "helper": 1}
    written = yaml.safe_load((out / "helper.yaml").read_text())
    original = yaml.safe_load(CHAT)
    assert written["version"] == 1
    assert written["messages"] == original["messages"]
    assert written["model_params"] == original["model_params"]
    assert "content: |" in (out / "helper.yaml").read_text()  # multi-line stays readable
    # Pulled files push back unchanged.
    assert [r["status"] for r in _json(live_server, "push", str(out))] == ["unchanged"] * 2

    (out / "greet.yaml").write_text(TEXT.replace("Hello", "Hi"))
    changed = _json(live_server, "push", str(out), "-m", "shorter")
    assert [(r["prompt"], r["status"]) for r in changed] == [
        ("greet", "created"),
        ("helper", "unchanged"),
    ]
    diff = _podium(live_server, "diff", "greet", "1", "2")  # one real subprocess, end to end
    assert diff.returncode == 0 and "-Hello {{ who }}!" in diff.stdout
    assert "+Hi {{ who }}!" in diff.stdout

    moved = _json(live_server, "label", "greet", "2", "production", "-r", "shorter")
    assert moved["version"] == 2
    assert _json(live_server, "rollback", "greet", "production")["version"] == 1
    history = _json(live_server, "history", "greet")
    assert [(e["from_version"], e["to_version"]) for e in history] == [(2, 1), (1, 2), (None, 1)]
    rendered = _json(live_server, "render", "helper", "--var", "question=why?")
    assert rendered["messages"] == [
        {"role": "system", "content": "You answer for ACME.\nBe brief.\n"},
        {"role": "user", "content": "why?"},
    ]
    assert "production=v1" in _run(live_server, "list")
    assert "You answer for {{ company }}." in _run(live_server, "show", "helper")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("name: [unclosed\n", "is not valid YAML at line 2, column 1: expected ',' or ']'"),
        ("- a list\n", "the file must be a mapping"),
        ("name: x\ntemplate: hi\ncolour: red\n", "field 'colour': unknown field"),
        ("template: hi\n", "field 'name': required"),
        ("name: x\nkind: chat\ntemplate: hi\n", "field 'messages': a chat prompt needs"),
        ("name: x\ntemplate: hi\ntags: oops\n", "field 'tags': must be a list of strings"),
    ],
)
def test_malformed_yaml_exits_2_with_one_line(tmp_path: Path, content: str, expected: str) -> None:
    # Every file is read before the first request, so no server is needed (none listens here).
    (tmp_path / "bad.yaml").write_text(content)
    done = _podium("http://127.0.0.1:9", "push", str(tmp_path))
    assert done.returncode == 2
    assert expected in done.stderr and str(tmp_path / "bad.yaml") in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_server_side_errors_exit_2(live_server: LiveServer, tmp_path: Path) -> None:
    (tmp_path / "p.yaml").write_text(
        "name: p\ntemplate: '{{ x.__class__ }}'\nvariables: [{name: x}]\n"
    )
    done = _podium(live_server, "push", str(tmp_path))
    assert done.returncode == 2 and "names starting with '_'" in done.stderr
    missing = _podium(live_server, "show", "ghost")
    assert missing.returncode == 2 and "there is no prompt 'ghost'" in missing.stderr
