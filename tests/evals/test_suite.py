"""Suite files: what parses, and the message for each mistake (the field it names)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from podium.errors import InvalidInput
from podium.evals.suite import DatasetRef, PromptRef, load_suite, parse_suite
from podium.evals.targets import build_target

SUITE = """
name: qa-smoke
dataset: qa@2
targets:
  - {name: small, url: "http://127.0.0.1:9/v1", model: m, params: {temperature: 0},
     price: {input: 0.5, output: 1.5}}
  - {name: prompted, prompt: {name: qa, label: staging}, url: "http://127.0.0.1:9/v1", model: m}
  - {python: "tests.evals.conftest:answer"}
scorers:
  - f1
  - {name: digits, scorer: regex, pattern: "\\\\d+"}
  - tests.evals.conftest:shouts
probes: {typos: {rate: 0.2}}
concurrency: 3
timeout: 5
"""


def test_a_suite_file_parses(tmp_path: Path) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text(SUITE)
    suite = load_suite(path)
    assert (suite.name, suite.dataset, suite.project) == (
        "qa-smoke",
        DatasetRef("qa", 2),
        "default",
    )
    assert [t.name for t in suite.targets] == ["small", "prompted", "tests.evals.conftest:answer"]
    assert suite.targets[1].prompt == PromptRef("qa", "staging", None)
    assert suite.targets[0].price == {"input": 0.5, "output": 1.5}
    assert [(s.name, s.kind) for s in suite.scorers] == [
        ("f1", None),
        ("digits", "regex"),
        ("shouts", None),
    ]
    built = [s.build() for s in suite.scorers]
    assert [b.name for b in built] == ["f1", "digits", "shouts"]
    assert built[1]("order 42", None, {}).value == 1.0
    assert (suite.concurrency, suite.timeout, suite.retries) == (3, 5.0, 2)
    # The target hash follows the definition: same spec, same hash; another model, another.
    small = build_target(suite.targets[0])
    assert small.hash == build_target(suite.targets[0]).hash
    other = parse_suite({**_base(), "targets": [{"url": "http://x/v1", "model": "other"}]})
    assert build_target(other.targets[0]).hash != small.hash
    small.close()


def _base() -> dict[str, Any]:
    return {"name": "s", "dataset": "qa", "targets": [{"python": "m:f"}], "scorers": ["f1"]}


@pytest.mark.parametrize(
    ("change", "message", "field"),
    [
        ({"name": ""}, "the suite needs a 'name'", "name"),
        ({"targets": []}, "the suite needs a list of 'targets'", "targets"),
        ({"scorers": "f1"}, "the suite needs a list of 'scorers'", "scorers"),
        ({"dataset": "qa@two"}, "write name@VERSION", "dataset"),
        ({"dataset": {"name": "qa", "version": 0}}, "positive integer", "dataset.version"),
        ({"targets": [{"model": "m"}]}, "give 'python: module:function', 'route'", "targets.0"),
        ({"targets": [{"python": "m:f", "url": "u"}]}, "not both", "targets.0"),
        ({"targets": [{"python": "m:f", "modle": "x"}]}, "unknown key 'modle'", "targets.0"),
        ({"scorers": ["f1", "f1"]}, "two scorers share a name", "scorers"),
        ({"scorers": [{"pattern": "x"}]}, "needs a 'name'", "scorers.0"),
        ({"concurrency": 0}, "concurrency must be at least 1", "concurrency"),
        ({"timeout": "soon"}, "timeout must be a non-negative number", "timeout"),
        ({"retry": 3}, "unknown key 'retry' in suite", "suite"),
    ],
)
def test_mistakes_name_the_field(change: dict[str, Any], message: str, field: str) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        parse_suite({**_base(), **change})
    assert caught.value.field == field


def test_files_that_are_not_suites(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(InvalidInput, match="not valid YAML"):
        load_suite(bad)
    bad.write_text("- a list")
    with pytest.raises(InvalidInput, match="suite must be a mapping"):
        load_suite(bad)
