"""``podium runs`` driven through the root command, against a live server and in-process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from podium.cli.main import app
from podium.errors import InvalidFilter, InvalidInput, NotFound
from podium.tracking.models import MetricPoint
from podium.tracking.schemas import RunStatus

runner = CliRunner()


def seed(tracking):
    a = tracking.create_run(
        experiment="sweep", name="alpha", params={"lr": "0.1", "opt": "adam"}, start_time=1_000
    )
    b = tracking.create_run(
        experiment="sweep", name="beta", params={"lr": "0.2", "opt": "adam"}, start_time=2_000
    )
    tracking.log_metrics(a.id, [MetricPoint("loss", 0.25, 3, 5_000)])
    tracking.log_metrics(b.id, [MetricPoint("loss", 0.75, 3, 5_000)])
    tracking.set_tags(a.id, {"note": "[bold]not markup[/bold]"})
    tracking.update_run(a.id, status=RunStatus.FINISHED, end_time=1_000 + 65_000)
    return a, b


def invoke(env, *args):
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


@pytest.mark.slow
def test_runs_commands_against_a_live_server(live_server, tracking):
    a, b = seed(tracking)
    env = {"PODIUM_URL": live_server.url}

    listed = json.loads(invoke(env, "runs", "list", "--json"))
    assert [r["name"] for r in listed] == ["beta", "alpha"]
    filtered = json.loads(
        invoke(env, "runs", "list", "-f", "metrics.loss < 0.5", "-o", "start_time", "--json")
    )
    assert [r["id"] for r in filtered] == [a.id]
    ordered = json.loads(
        invoke(env, "runs", "list", "-e", "sweep", "--order-by", "metrics.loss DESC", "--json")
    )
    assert [r["name"] for r in ordered] == ["beta", "alpha"]

    table = invoke(env, "runs", "list", "--order-by", "metrics.loss")
    assert a.id[:8] in table and b.id[:8] in table
    assert "alpha" in table and "FINISHED" in table and "1m 05s" in table
    assert "0.25" in table and "loss" in table

    shown = json.loads(invoke(env, "runs", "show", a.id, "--json"))
    assert shown["params"] == {"lr": "0.1", "opt": "adam"}
    table = invoke(env, "runs", "show", a.id[:8])  # a prefix works too
    assert a.id in table
    assert "[bold]not markup[/bold]" in table  # user text is printed as typed
    assert "0.25" in table

    compared = json.loads(invoke(env, "runs", "compare", a.id, b.id, "--json"))
    assert compared["differing_params"] == ["lr"]
    table = invoke(env, "runs", "compare", a.id, b.id)
    assert "lr" in table and "0.2" in table and "0.75" in table

    # Errors: one line on stderr and exit code 2, through the real entry point.
    result = subprocess.run(
        [sys.executable, "-m", "podium.cli.main", "runs", "show", "nope"],
        capture_output=True,
        text=True,
        env={**os.environ, "PODIUM_URL": live_server.url},
        timeout=120,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert "run 'nope' does not exist" in lines[0]
    assert result.stdout == ""


def test_runs_commands_in_process(settings, tracking):
    """Without PODIUM_URL the CLI runs the same API in-process over the local store."""
    a, b = seed(tracking)
    env = {
        "PODIUM_URL": "",
        "PODIUM_HOME": str(settings.home),
        "PODIUM_DATABASE_URL": settings.resolved_database_url,
    }
    listed = json.loads(invoke(env, "runs", "list", "-f", "params.lr = '0.2'", "--json"))
    assert [r["id"] for r in listed] == [b.id]
    # CliRunner calls the Typer app, so errors surface as exceptions (main() maps them to exit 2).
    result = runner.invoke(app, ["runs", "list", "-f", "metrics.loss <"], env=env)
    assert isinstance(result.exception, InvalidFilter)
    assert result.exception.message.startswith("invalid filter at position 15:")
    result = runner.invoke(app, ["runs", "compare", a.id], env=env)
    assert isinstance(result.exception, InvalidInput)
    assert result.exception.field == "run_ids"
    result = runner.invoke(app, ["runs", "show", "ffff"], env=env)
    assert isinstance(result.exception, NotFound)
    assert "no run id starts with 'ffff'" in result.exception.message
