"""Resumption after a real kill: ``podium eval run`` is SIGKILLed mid-suite, and running the
suite again continues the same experiment, calling the target only for the missing items."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from podium.server.app import Services

ROOT = Path(__file__).resolve().parents[2]
ROWS = 12


def slow_answer(question: str) -> str:
    """Slow unless EVAL_TEST_FAST is set; answers "yes"."""
    if not os.environ.get("EVAL_TEST_FAST"):
        time.sleep(0.4)
    return "yes"


def test_a_killed_cli_run_resumes(
    services: Services, cli_env: dict[str, str], tmp_path: Path
) -> None:
    rows = "".join(json.dumps({"input": f"q{i}", "expected": "yes"}) + "\n" for i in range(ROWS))
    services.data.import_rows("default", "resume", io.BytesIO(rows.encode()))
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        yaml.safe_dump(
            {
                "name": "resume",
                "dataset": "resume",
                "targets": [{"name": "t", "python": "tests.evals.test_resume:slow_answer"}],
                "scorers": ["exact_match"],
                "concurrency": 1,
            }
        )
    )
    command = [sys.executable, "-m", "podium.cli.main", "eval", "run", str(suite), "--json"]
    env = {**os.environ, **cli_env}
    proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    stored = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and stored == 0:
        time.sleep(0.2)
        found = services.evals.list_experiments("default")
        stored = found[0].item_count if found else 0
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 0 < stored < ROWS
    (experiment,) = services.evals.list_experiments("default")
    assert experiment.status == "running"
    stored = experiment.item_count  # a batch may have landed just before the kill

    again = subprocess.run(
        command,
        env={**env, "EVAL_TEST_FAST": "1"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    result = json.loads(again.stdout)
    assert result["runs"] == [
        {"target": "t", "resumed": True, "ran": ROWS - stored, "rescored": 0, "skipped": stored}
    ]
    (finished,) = result["experiments"]
    assert finished["id"] == experiment.id
    assert (finished["status"], finished["item_count"]) == ("finished", ROWS)
    assert finished["metrics"]["exact_match"] == 1.0
