"""``podium eval …`` in embedded mode over the test's database: runs, CI gates that pass and
fail (exit code, table, JUnit XML), the production baseline, listing and comparing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from podium.cli.main import app
from podium.errors import InvalidInput
from podium.evals.gate import check_gates, parse_gate


def write_suite(tmp_path: Path, target: str, name: str = "qa-gate") -> Path:
    path = tmp_path / f"{target}.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": name,
                "dataset": "qa@1",
                "targets": [{"name": target, "python": f"tests.evals.conftest:{target}"}],
                "scorers": ["exact_match", "f1"],
            }
        )
    )
    return path


def invoke(env: dict[str, str], *args: str) -> Any:
    return CliRunner().invoke(app, ["eval", *args], env={**env, "COLUMNS": "200"})


def test_gates_pass_fail_with_junit_and_a_production_baseline(
    cli_env: dict[str, str], qa_dataset: int, tmp_path: Path
) -> None:
    good = write_suite(tmp_path, "answer")
    junit = tmp_path / "good.xml"
    passed = invoke(
        cli_env,
        "run",
        str(good),
        "--gate",
        "f1 >= 0.80",
        "--gate",
        "exact_match >= 0.5",
        "--junit",
        str(junit),
    )
    assert passed.exit_code == 0, passed.output
    assert "Gates" in passed.stdout and "FAIL" not in passed.stdout
    suites = ET.parse(junit).getroot()
    (suite,) = suites
    assert (suite.get("name"), suite.get("tests"), suite.get("failures")) == (
        "qa-gate:answer",
        "2",
        "0",
    )
    assert [c.get("name") for c in suite] == ["f1 >= 0.8", "exact_match >= 0.5"]

    listed = json.loads(invoke(cli_env, "list", "--json").stdout)
    labelled = invoke(cli_env, "label", listed[0]["id"], "production")
    assert labelled.exit_code == 0, labelled.output

    # The weak target gets 3 of 6 wrong: it fails the F1 gate.
    weak = write_suite(tmp_path, "weak_answer")
    junit = tmp_path / "weak.xml"
    failed = invoke(
        cli_env,
        "run",
        str(weak),
        "--gate",
        "f1 >= 0.80",
        "--baseline",
        "production",
        "--junit",
        str(junit),
    )
    assert failed.exit_code == 1, failed.output
    # The table's width follows the terminal (cells may fold): the JUnit file has the details.
    assert "FAIL" in failed.stdout
    (suite,) = ET.parse(junit).getroot()
    cases = {c.get("name"): c for c in suite}
    assert set(cases) == {"f1 >= 0.8", "exact_match vs baseline", "f1 vs baseline"}
    failure = cases["f1 >= 0.8"].find("failure")
    assert failure is not None
    assert failure.get("message") == "f1 = 0.5 (fails f1 >= 0.8)"
    # Six items are too few for a verdict: the baseline check passes, the gate alone fails.
    assert cases["exact_match vs baseline"].find("failure") is None

    experiments = json.loads(invoke(cli_env, "list", "--json").stdout)
    assert [e["target"] for e in experiments] == ["weak_answer", "answer"]
    compared = invoke(cli_env, "compare", experiments[1]["id"], experiments[0]["id"])
    assert compared.exit_code == 0, compared.output
    assert "6 paired items" in compared.stdout
    as_json = json.loads(
        invoke(cli_env, "compare", experiments[1]["id"], experiments[0]["id"], "--json").stdout
    )
    assert as_json["scorers"][0]["delta"] == pytest.approx(-0.5)
    shown = invoke(cli_env, "show", experiments[0]["id"])
    assert "qa-gate · weak_answer · dataset qa v1" in shown.stdout
    items = json.loads(invoke(cli_env, "items", experiments[0]["id"], "--json").stdout)
    assert [i["output"] for i in items][3:] == ["Marlowe", "5", "Saturn"]


def test_a_significantly_worse_candidate_fails_the_baseline_gate(
    cli_env: dict[str, str], services: Any, tmp_path: Path
) -> None:
    import io

    rows = "".join(json.dumps({"input": f"q{i}", "expected": "yes"}) + "\n" for i in range(40))
    services.data.import_rows("default", "many", io.BytesIO(rows.encode()))
    for target in ("always_yes", "always_no"):
        path = tmp_path / f"{target}.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "name": "many",
                    "dataset": "many",
                    "targets": [{"name": "model", "python": f"tests.evals.test_cli:{target}"}],
                    "scorers": ["exact_match"],
                }
            )
        )
    first = invoke(cli_env, "run", str(tmp_path / "always_yes.yaml"), "--json")
    assert first.exit_code == 0, first.output
    experiment = json.loads(first.stdout)["experiments"][0]
    invoke(cli_env, "label", experiment["id"], "production")
    junit = tmp_path / "worse.xml"
    worse = invoke(
        cli_env,
        "run",
        str(tmp_path / "always_no.yaml"),
        "--baseline",
        "production",
        "--junit",
        str(junit),
    )
    assert worse.exit_code == 1
    assert "FAIL" in worse.stdout
    (suite,) = ET.parse(junit).getroot()
    (case,) = suite
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message", "").startswith(
        "significantly worse than the baseline: exact_match: delta -1 (95% CI -1 .. -1), worse"
    )


def always_yes(question: str) -> str:
    return "yes"


def always_no(question: str) -> str:
    return "no"


def test_cli_mistakes_exit_2_with_one_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    # Through the real entry point: one line on stderr and exit code 2.
    missing = subprocess.run(
        [sys.executable, "-m", "podium.cli.main", "eval", "run", str(tmp_path / "nope.yaml")],
        env={**os.environ, **cli_env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"error: suite file '{tmp_path / 'nope.yaml'}' does not exist"
    with pytest.raises(
        InvalidInput, match=re.escape('write it as METRIC OP NUMBER, e.g. "f1 >= 0.80"')
    ):
        parse_gate("f1 is high")
    (result,) = check_gates([parse_gate("bleu >= 0.1")], {"f1": 0.9})
    assert (result.passed, result.message) == (False, "no metric 'bleu'; the experiment has: f1")
