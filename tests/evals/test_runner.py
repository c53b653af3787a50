"""Running suites end to end through the SDK client over the real app, on both databases:
Python and OpenAI-compatible targets, prompt targets, retries, timeouts, judge caching,
resumption and the experiment stored as a tracking run."""

from __future__ import annotations

import time
from typing import Any

import pytest

from podium.client import Client
from podium.errors import InvalidInput
from podium.evals.runner import run_suite
from podium.evals.suite import parse_suite
from podium.server.app import Services
from tests.evals.conftest import QA, FakeOpenAI


def suite(**overrides: Any) -> Any:
    doc: dict[str, Any] = {
        "name": "qa-smoke",
        "dataset": "qa",
        "targets": [{"name": "good", "python": "tests.evals.conftest:answer"}],
        "scorers": ["exact_match", "f1"],
        "backoff": 0.01,
    }
    doc.update(overrides)
    return parse_suite(doc)


def test_python_and_url_targets_become_experiments(
    services: Services, client: Client, qa_dataset: int, fake_openai: FakeOpenAI
) -> None:
    targets = [
        {"name": "good", "python": "tests.evals.conftest:answer"},
        {
            "name": "weak-model",
            "url": fake_openai.url,
            "model": "weak",
            "price": {"input": 1.0, "output": 2.0},
        },
    ]
    scorers = [
        "exact_match",
        "f1",
        "latency",
        "cost",
        {"name": "shouts", "function": "tests.evals.conftest:shouts"},
    ]
    outcomes = run_suite(suite(targets=targets, scorers=scorers, concurrency=3), client)
    assert [(o.target, o.ran, o.skipped, o.resumed) for o in outcomes] == [
        ("good", 6, 0, False),
        ("weak-model", 6, 0, False),
    ]
    good, weak = (o.experiment for o in outcomes)
    assert good["metrics"]["exact_match"] == 1.0
    assert weak["metrics"]["exact_match"] == pytest.approx(3 / 6)
    assert weak["metrics"]["f1"] == pytest.approx(3 / 6)
    # 10 prompt + 2 completion tokens at $1 / $2 per 1k tokens
    assert weak["metrics"]["cost"] == pytest.approx((10 * 1.0 + 2 * 2.0) / 1000)
    assert weak["metrics"]["error_rate"] == 0.0
    assert good["scorers"] == {
        "exact_match": True,
        "f1": True,
        "latency": False,
        "cost": False,
        "shouts": True,
    }
    assert (weak["dataset"], weak["dataset_version"], weak["status"]) == ("qa", 1, "finished")

    # The experiment is a tracking run with params and the aggregate metrics.
    run = services.tracking.get_run(weak["id"])
    assert run.experiment == "eval-qa-smoke"
    assert run.status.value == "FINISHED"
    assert run.params["dataset_version"] == "1"
    assert run.params["target"] == "weak-model"
    assert run.metrics["exact_match"].value == pytest.approx(0.5)

    items = list(client.paginate(f"/evals/experiments/{weak['id']}/items"))
    assert [i["input"] for i in items] == [q for q, _ in QA]
    assert items[3]["output"] == "Marlowe"
    assert items[3]["scores"]["exact_match"] == 0.0
    assert items[0]["details"]["shouts"] == {"length": 5}


def test_prompt_target_renders_the_labelled_version(
    services: Services, client: Client, qa_dataset: int, fake_openai: FakeOpenAI
) -> None:
    services.prompts.create_prompt(
        "default",
        "qa",
        template="Answer briefly: {{ input }}",
        variables=[{"name": "input", "type": "string"}],
        labels=["production"],
    )
    target = {
        "name": "prompted",
        "prompt": {"name": "qa", "label": "production"},
        "url": fake_openai.url,
        "model": "good",
    }
    (outcome,) = run_suite(suite(targets=[target]), client)
    experiment = outcome.experiment
    assert (experiment["prompt"], experiment["prompt_version"]) == ("qa", 1)
    assert experiment["metrics"]["exact_match"] == 1.0
    assert services.tracking.get_run(experiment["id"]).params["prompt_version"] == "1"


def test_retries_with_backoff_and_timeouts_are_recorded(
    client: Client, qa_dataset: int, fake_openai: FakeOpenAI
) -> None:
    fake_openai.flaky_failures = 2  # two 503s, then answers: retries absorb them
    targets = [{"name": "flaky", "url": fake_openai.url, "model": "flaky"}]
    (outcome,) = run_suite(suite(targets=targets, retries=2, concurrency=1), client)
    assert outcome.experiment["metrics"]["exact_match"] == 1.0
    assert outcome.experiment["summary"]["errors"] == 0

    targets = [{"name": "slow", "url": fake_openai.url, "model": "slow"}]
    (outcome,) = run_suite(suite(targets=targets, timeout=0.1, retries=0, concurrency=6), client)
    assert outcome.experiment["metrics"]["error_rate"] == 1.0
    # A failed item scores 0, so errors never look good.
    assert outcome.experiment["metrics"]["exact_match"] == 0.0
    items = list(client.paginate(f"/evals/experiments/{outcome.experiment['id']}/items"))
    assert items[0]["error"].startswith("ServiceUnavailable: ")
    assert "did not answer in time" in items[0]["error"]

    # A Python callable cannot be interrupted: the runner stops waiting for it.
    targets = [{"name": "sleepy", "python": "tests.evals.test_runner:sleepy_answer"}]
    (outcome,) = run_suite(suite(targets=targets, timeout=0.05, retries=0, concurrency=6), client)
    items = list(client.paginate(f"/evals/experiments/{outcome.experiment['id']}/items"))
    assert {i["error"] for i in items} == {"TimeoutError: the target took longer than 0.05s"}


def sleepy_answer(question: str) -> str:
    time.sleep(0.6)
    return "late"


calls: list[str] = []


def crashing_answer(question: str) -> str:
    """Answers four questions, then dies as a killed process would."""
    calls.append(question)
    if len(calls) > 4:
        raise KeyboardInterrupt
    return dict(QA)[question]


def counting_answer(question: str) -> str:
    calls.append(question)
    return dict(QA)[question]


def test_a_killed_run_resumes_and_skips_finished_items(
    client: Client, qa_dataset: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tests.evals.test_runner as me

    monkeypatch.setattr("podium.evals.runner.BATCH_SIZE", 1)
    calls.clear()
    first = suite(
        targets=[{"name": "t", "python": "tests.evals.test_runner:crashing_answer"}], concurrency=1
    )
    with pytest.raises(KeyboardInterrupt):
        run_suite(first, client)
    (experiment,) = client.get("/evals/experiments")["items"]
    assert (experiment["status"], experiment["item_count"]) == ("running", 4)

    # Same suite and target definition (the hash covers the reference, not the code).
    monkeypatch.setattr(me, "crashing_answer", counting_answer)
    calls.clear()
    (outcome,) = run_suite(first, client)
    assert (outcome.resumed, outcome.skipped, outcome.ran) == (True, 4, 2)
    assert calls == [QA[4][0], QA[5][0]]
    assert outcome.experiment["id"] == experiment["id"]
    assert outcome.experiment["metrics"]["exact_match"] == 1.0

    # Finished: the next run is a new experiment.
    (again,) = run_suite(first, client)
    assert (again.resumed, again.ran) == (False, 6)
    assert again.experiment["id"] != experiment["id"]


def test_judge_scores_with_a_rubric_and_caches_its_calls(
    client: Client, qa_dataset: int, fake_openai: FakeOpenAI
) -> None:
    judge = {
        "name": "judge",
        "url": fake_openai.url,
        "model": "judge",
        "rubric": "Is the response correct?",
    }
    targets = [{"name": "weak", "python": "tests.evals.conftest:weak_answer"}]
    before = fake_openai.calls.get("judge", 0)
    (outcome,) = run_suite(suite(targets=targets, scorers=[judge]), client)
    assert outcome.experiment["metrics"]["judge"] == pytest.approx(3 / 6)  # 5 -> 1.0, 1 -> 0.0
    assert fake_openai.calls["judge"] - before == 6
    (again,) = run_suite(suite(targets=targets, scorers=[judge]), client)
    assert again.experiment["metrics"]["judge"] == pytest.approx(3 / 6)
    assert fake_openai.calls["judge"] - before == 6  # every answer came from the DB cache


def test_suites_that_cannot_run_say_why(client: Client, qa_dataset: int) -> None:
    with pytest.raises(InvalidInput, match="executor 'dask' is not available; use one of"):
        run_suite(suite(), client, executor="dask")
    with pytest.raises(InvalidInput, match="unknown scorer 'nope'"):
        run_suite(suite(scorers=["nope"]), client)
    with pytest.raises(InvalidInput, match=r"cannot load 'tests\.evals\.conftest:no_such_target'"):
        run_suite(suite(targets=[{"python": "tests.evals.conftest:no_such_target"}]), client)


def test_the_python_api_takes_callables_directly(client: Client, qa_dataset: int) -> None:
    from podium.evals import DatasetRef, ScorerSpec, Suite, TargetSpec
    from tests.evals.conftest import answer

    suite = Suite(
        "python-api",
        DatasetRef("qa", 1),
        [TargetSpec("direct", function=answer)],
        [ScorerSpec("exact_match"), ScorerSpec("digits", {"pattern": r"^\d+$"}, kind="regex")],
    )
    (outcome,) = run_suite(suite, client)
    assert outcome.experiment["target"] == "direct"
    assert outcome.experiment["metrics"]["exact_match"] == 1.0
    assert outcome.experiment["metrics"]["digits"] == pytest.approx(2 / 6)  # "8" and "4"
