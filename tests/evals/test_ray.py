"""The Ray executor against a real local Ray instance (2 CPUs, started once per session): the
same results as the local executor, progress, resumption of an unfinished experiment, clear
errors for what Ray workers cannot do, and ``MissingExtra`` without ray installed."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from podium.cli.main import app
from podium.client import Client
from podium.errors import InvalidInput, MissingExtra
from podium.evals.ray_executor import RayExecutor, batch_size
from podium.evals.runner import build_items, build_scorers, run_suite
from podium.evals.suite import parse_suite
from podium.evals.targets import build_target
from podium.gateway.models import RouteSpec
from tests.evals.conftest import GOOD, QA, FakeOpenAI
from tests.gateway.conftest import serving
from tests.support.requirements import missing

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def ray_instance() -> Iterator[Any]:
    """A local Ray instance shared by these tests; workers can import ``tests.*``."""
    try:
        import ray
    except ImportError:
        missing("ray is not installed: pip install 'podium[ray]'")
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}},
    )
    yield ray
    ray.shutdown()


PROBES = {"typos": {"rate": 0.5, "seed": 3}}


def suite(fake_openai: FakeOpenAI, name: str = "qa-ray", **overrides: Any) -> Any:
    doc: dict[str, Any] = {
        "name": name,
        "dataset": "qa",
        "targets": [
            {"name": "good", "python": "tests.evals.conftest:answer"},
            {"name": "weak-model", "url": fake_openai.url, "model": "weak"},
        ],
        "scorers": [
            "exact_match",
            "f1",
            {"name": "shouts", "function": "tests.evals.conftest:shouts"},
            {"name": "judge", "url": fake_openai.url, "model": "judge", "rubric": "Correct?"},
        ],
        "probes": PROBES,
        "concurrency": 2,
        "backoff": 0.01,
    }
    doc.update(overrides)
    return parse_suite(doc)


def stored_items(client: Client, experiment_id: str) -> dict[str, tuple[Any, ...]]:
    """key -> (variant, output, error, scores) of an experiment's items."""
    items = client.paginate(f"/evals/experiments/{experiment_id}/items", project="default")
    return {i["key"]: (i["variant"], i["output"], i["error"], i["scores"]) for i in items}


def test_batches_amortise_tasks_but_stay_small() -> None:
    assert batch_size(0, 2) == 1
    assert batch_size(12, 2) == 2  # 6 tasks of 2 on 2 CPUs
    assert batch_size(1000, 2) == 64  # capped: results come back at least every 64 items
    assert batch_size(100, 0) == 25  # an empty cluster still gets batches


def test_ray_gives_the_same_results_as_local(
    ray_instance: Any, client: Client, qa_dataset: int, fake_openai: FakeOpenAI
) -> None:
    local = run_suite(suite(fake_openai, "qa-local"), client)
    n = len(build_items([{"input": q, "expected": a} for q, a in QA], PROBES))
    assert n > len(QA)  # originals and their typo variants
    seen: list[tuple[str, int, int]] = []
    remote = run_suite(
        suite(fake_openai, "qa-ray"),
        client,
        executor="ray",
        progress=lambda t, done, total: seen.append((t, done, total)),
    )
    assert [(o.target, o.ran, o.skipped, o.resumed) for o in remote] == [
        ("good", n, 0, False),
        ("weak-model", n, 0, False),
    ]
    for before, after in zip(local, remote, strict=True):
        assert after.experiment["status"] == "finished"
        assert after.experiment["item_count"] == n
        assert after.experiment["metrics"] == before.experiment["metrics"]
        assert stored_items(client, after.experiment["id"]) == stored_items(
            client, before.experiment["id"]
        )
    weak = remote[1].experiment["metrics"]
    assert (weak["exact_match"], weak["judge"], weak["error_rate"]) == (0.5, 0.5, 0.0)
    # The bar starts at 0 and advances to the total, batch by batch, for each target.
    for name in ("good", "weak-model"):
        counts = [done for t, done, total in seen if t == name]
        assert counts[0] == 0 and counts[-1] == n
        assert counts == sorted(counts) and len(counts) > 2


def test_ray_resumes_an_unfinished_experiment(
    ray_instance: Any, client: Client, qa_dataset: int, fake_openai: FakeOpenAI
) -> None:
    spec = suite(fake_openai, targets=[{"name": "good", "python": "tests.evals.conftest:answer"}])
    # An interrupted run: the experiment is open and holds the first 3 items' results.
    items = list(build_items([{"input": q, "expected": a} for q, a in QA], spec.probes))
    scorers = build_scorers(spec)
    target = build_target(spec.targets[0])
    started = client.post(
        "/evals/experiments",
        {
            "project": "default",
            "suite": spec.name,
            "target": "good",
            "target_hash": target.hash,
            "dataset": "qa",
            "dataset_version": qa_dataset,
            "scorers": {s.name: s.higher_is_better for s in scorers},
            "params": {"items": str(len(items)), "probes": "typos"},
        },
    )
    done = [
        {
            "key": item["key"],
            "position": item["position"],
            "variant": item["variant"],
            "group": item["group"],
            "input": item["input"],
            "expected": item["expected"],
            "output": "stored earlier",
            "error": None,
            "latency_ms": 1.0,
            "cost": 0.0,
            "scores": {"exact_match": 0.0, "f1": 0.0, "shouts": 0.0, "judge": 0.0},
            "details": {},
        }
        for item in items[:3]
    ]
    experiment_id = started["experiment"]["id"]
    client.post(
        f"/evals/experiments/{experiment_id}/items", {"items": done}, params={"project": "default"}
    )

    (outcome,) = run_suite(spec, client, executor="ray")
    assert (outcome.resumed, outcome.ran, outcome.skipped) == (True, len(items) - 3, 3)
    assert outcome.experiment["id"] == experiment_id
    stored = stored_items(client, experiment_id)
    assert len(stored) == len(items)
    assert [stored[i["key"]][1] for i in items[:3]] == ["stored earlier"] * 3
    ran = [i for i in items[3:] if i["variant"] == "original"]
    assert [stored[i["key"]][1] for i in ran] == [GOOD[i["input"]] for i in ran]


def test_ray_refuses_prompt_targets_without_a_server(
    ray_instance: Any, client: Client, qa_dataset: int, fake_openai: FakeOpenAI, services: Any
) -> None:
    services.prompts.create_prompt(
        "default",
        "qa",
        template="Q: {{ input }}",
        variables=[{"name": "input", "type": "string"}],
        labels=["production"],
    )
    targets = [{"name": "p", "prompt": {"name": "qa"}, "url": fake_openai.url, "model": "good"}]
    with pytest.raises(InvalidInput, match="PODIUM_URL") as caught:
        run_suite(suite(fake_openai, targets=targets), client, executor="ray")
    assert caught.value.field == "executor"


def test_ray_workers_reach_the_server_for_routes_and_the_judge_cache(
    ray_instance: Any, services: Any, qa_dataset: int, fake_openai: FakeOpenAI
) -> None:
    spec = RouteSpec.model_validate(
        {"deployments": [{"name": "d", "model": "weak", "base_url": fake_openai.url}]}
    )
    services.gateway.service.put_route("default", "chat", spec, actor="test")
    judge = {"name": "judge", "url": fake_openai.url, "model": "judge", "rubric": "Correct?"}
    ray_suite = suite(fake_openai, "qa-ray-server", targets=[{"route": "chat"}], scorers=[judge])
    with serving(services) as running, Client(running.url) as client:
        before = fake_openai.calls.get("judge", 0)
        (first,) = run_suite(ray_suite, client, executor="ray")
        asked = fake_openai.calls["judge"] - before
        (second,) = run_suite(ray_suite, client, executor="ray")
    n = first.experiment["item_count"]
    assert (first.target, first.ran, first.experiment["metrics"]["error_rate"]) == ("chat", n, 0)
    assert first.experiment["metrics"]["judge"] == second.experiment["metrics"]["judge"]
    assert asked == n  # one judge call per item ...
    assert fake_openai.calls["judge"] - before == n  # ... and none on the re-run: cached


def test_the_cli_runs_on_ray(
    ray_instance: Any, cli_env: dict[str, str], qa_dataset: int, tmp_path: Path
) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text(
        "name: qa-cli-ray\ndataset: qa\n"
        "targets: [{name: good, python: 'tests.evals.conftest:answer'}]\n"
        "scorers: [exact_match]\n"
    )
    result = CliRunner().invoke(
        app, ["eval", "run", str(path), "--executor", "ray", "--json"], env=cli_env
    )
    assert result.exit_code == 0, result.output
    assert '"exact_match": 1.0' in result.output


def test_without_ray_the_executor_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` sees when not installed
    with pytest.raises(MissingExtra, match=r"pip install 'podium\[ray\]'"):
        RayExecutor()
