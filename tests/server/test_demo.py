"""The demo seed: what it creates, and that seeding again changes nothing."""

from __future__ import annotations

import json
import re

import httpx

from podium.server.app import Services
from podium.server.demo import seed_demo
from podium.server.demo_ops import ALERT_NAME, TRACES, seed_eval_demo
from podium.store.clock import now_ms
from podium.tracing.drift import parse_window
from podium.tracing.models import TraceFilter
from podium.tracking.schemas import RunStatus


def test_seeding_twice_creates_the_demo_once(services: Services) -> None:
    seed_demo(services)
    seed_demo(services)

    runs = services.tracking.search_runs(
        project="demo", experiments=["sentiment-finetune"], order_by=["name ASC"]
    )
    assert [r.name for r in runs] == [
        "baseline-r8",
        "lora-r16",
        "lora-r16-slow",
        "lora-r32-hot",
        "lr-sweep",
        "lr-sweep-1e-4",
        "lr-sweep-3e-4",
    ]
    experiments = services.tracking.list_experiments("demo")
    assert sorted((e.name, e.run_count) for e in experiments) == [
        ("eval-support-qa", 2),
        ("sentiment-finetune", 7),
    ]
    assert len(services.evals.list_experiments("demo")) == 2
    models = services.registry.list_models("demo")
    assert [(m.name, m.latest_version, m.aliases) for m in models] == [
        ("sentiment-classifier", 2, {"production": 1, "staging": 2})
    ]
    production = services.prompts.get_by_label("demo", "review-sentiment", "production")
    staging = services.prompts.get_by_label("demo", "review-sentiment", "staging")
    assert (production.version, staging.version) == (1, 2)
    assert len(services.prompts.list_versions("demo", "review-sentiment")) == 2


def test_demo_runs_have_params_curves_artifacts_and_a_sweep(services: Services) -> None:
    seed_demo(services)
    training = services.tracking.search_runs(project="demo", experiments=["sentiment-finetune"])
    runs = {r.name: r for r in training}
    statuses = {name: run.status for name, run in runs.items()}
    assert statuses.pop("lora-r32-hot") is RunStatus.FAILED
    assert set(statuses.values()) == {RunStatus.FINISHED}
    assert {name: runs[name].params["lr"] for name in ("baseline-r8", "lora-r16-slow")} == {
        "baseline-r8": "0.0002",
        "lora-r16-slow": "5e-05",
    }
    assert runs["lora-r16"].params["lora_r"] == "16"
    assert runs["lora-r16"].params["epochs"] == "3"

    baseline = services.tracking.get_run(runs["baseline-r8"].id)
    assert sorted(baseline.metrics) == ["eval/accuracy", "eval/loss", "train/loss"]
    train = services.tracking.metric_history(baseline.id, "train/loss")
    assert [p.step for p in train] == list(range(100))
    assert train[0].value > 0.9 > 0.3 > train[-1].value  # the loss goes down
    accuracy = services.tracking.metric_history(baseline.id, "eval/accuracy")
    assert len(accuracy) == 11
    assert accuracy[-1].value > 0.85

    failed = services.tracking.metric_history(runs["lora-r32-hot"].id, "train/loss")
    assert failed[-1].step == 62
    assert failed[-1].value > 2  # diverged

    (artifact,) = baseline.artifacts
    assert artifact.path == "config.json"
    _, chunks = services.tracking.open_artifact(baseline.id, "config.json")
    config = json.loads(b"".join(chunks))
    assert config["lora_r"] == "8"
    assert config["max_steps"] == 100

    sweep = services.tracking.get_run(runs["lr-sweep"].id)
    assert sorted(sweep.child_run_ids) == sorted(
        [runs["lr-sweep-1e-4"].id, runs["lr-sweep-3e-4"].id]
    )


def test_demo_model_has_two_versions_and_moved_aliases(services: Services) -> None:
    seed_demo(services)
    runs = {r.name: r.id for r in services.tracking.search_runs(project="demo")}
    versions = services.registry.list_versions("demo", "sentiment-classifier")
    assert [(v.version, v.source_run_id, v.artifact_path) for v in versions] == [
        (2, runs["lora-r16"], "config.json"),
        (1, runs["baseline-r8"], "config.json"),
    ]
    assert versions[0].model_card.startswith("# sentiment-classifier")
    history = services.registry.alias_history("demo", "sentiment-classifier")
    assert [(e.alias, e.from_version, e.to_version, e.actor) for e in history] == [
        ("staging", 1, 2, "demo"),
        ("staging", None, 1, "demo"),
        ("production", None, 1, "demo"),
    ]


def test_seeding_is_deterministic(services: Services) -> None:
    seed_demo(services)
    run = next(r for r in services.tracking.search_runs(project="demo") if r.name == "lora-r16")
    values = [p.value for p in services.tracking.metric_history(run.id, "eval/accuracy")]
    # The seeded generator draws the same curve on every machine and every seeding.
    assert values[-1] == 0.8869
    assert values[0] == 0.33


def test_demo_dataset_has_a_cleaned_second_version(services: Services) -> None:
    seed_demo(services)
    seed_demo(services)
    versions = services.data.list_versions("demo", "support-questions")
    assert [(v.version, v.row_count, v.parents) for v in versions] == [(2, 55, [1]), (1, 60, [])]
    assert [s.name for s in versions[0].steps] == ["normalise", "exact_dedup", "pii"]
    diff = services.data.diff("demo", "support-questions", 1, 2)
    # Three rows lost their PII (new rows), the two with stray spaces became duplicates.
    assert (diff.added, diff.removed, diff.changed, diff.unchanged) == (3, 5, 1, 51)
    assert sorted(r.input for r in diff.added_examples) == [
        "My login is <EMAIL>, can you unlock it?",
        "Please call me back on <PHONE>.",
        "Send the invoice to <EMAIL> please.",
    ]
    cleaned = {r.input for r in services.data.rows("demo", "support-questions", 2, limit=100)}
    assert not any("@example." in text for text in cleaned)
    assert "How do I reset my password?" in cleaned


def test_demo_gateway_traces_and_alert(services: Services) -> None:
    seed_demo(services)
    seed_demo(services)
    routes = {r.name: r for r in services.gateway.service.list_routes("demo")}
    assert sorted(routes) == ["chat", "embeddings"]
    assert [(d.provider, d.model) for d in routes["chat"].spec.deployments] == [
        ("local", "smollm2-135m-instruct")
    ]
    assert [e.action for e in services.gateway.service.history("demo", "chat")] == ["created"]

    traces = services.tracing.list_traces("demo", TraceFilter(), 0, 1000)
    assert len(traces) == TRACES
    assert {t.model for t in traces} == {"gpt-4o-mini", "smollm2-135m-instruct"}
    assert 0 < sum(t.error for t in traces) < TRACES // 10
    figures = services.monitoring.figures("demo", 86_400)
    assert figures.requests > 100
    assert figures.latency_p95_ms is not None and figures.latency_p95_ms > 1000

    # Both of the drift page's default windows have traffic to compare.
    now = now_ms()
    mean_output = {}
    for window in ("7d..1d", "1d"):
        sample = services.monitoring.sample("demo", parse_window(window, now, "current"))
        assert sample.total > 100, window
        assert len(sample.inputs) == sample.total
        mean_output[window] = sum(map(len, sample.outputs)) / len(sample.outputs)
    # Prompt v2 went out in the last day and made the answers longer: the drift to find.
    assert mean_output["1d"] > 1.5 * mean_output["7d..1d"]

    (rule,) = services.alerts.list_rules("demo")
    assert (rule.spec.name, rule.spec.metric, rule.spec.window_s, rule.spec.threshold) == (
        ALERT_NAME,
        "p95_latency_ms",
        300,
        2000.0,
    )


def test_eval_demo_compares_a_baseline_and_a_candidate(services: Services) -> None:
    seed_demo(services)
    seed_eval_demo(services)  # seed_demo already did: nothing more
    seed_demo(services)
    experiments = {e.label: e for e in services.evals.list_experiments("demo")}
    assert sorted(experiments) == ["baseline", "candidate"]
    assert {(e.status, e.item_count, e.dataset_version) for e in experiments.values()} == {
        ("finished", 55, 2)
    }
    assert (
        experiments["candidate"].metrics["exact_match"]
        > (experiments["baseline"].metrics["exact_match"])
    )
    comparison = services.evals.compare("demo", "baseline", "candidate")
    assert sorted(s.scorer for s in comparison.scorers) == ["answer_relevance", "exact_match"]
    assert all(s.delta > 0 for s in comparison.scorers)


def test_an_interrupted_eval_seeding_is_completed(services: Services) -> None:
    # An earlier seeding stopped after opening the baseline experiment, before its items.
    seed_eval_demo(services)
    baseline = services.evals.resolve("demo", "baseline")
    started, _ = services.evals.start_experiment(
        "demo",
        suite=baseline.suite,
        target=baseline.target,
        target_hash="demo-baseline",
        dataset=baseline.dataset,
        dataset_version=baseline.dataset_version,
        scorers=baseline.scorers,
    )
    services.evals.set_label("demo", baseline.id, "old-baseline")
    seed_eval_demo(services)
    resumed = services.evals.resolve("demo", "baseline")
    assert resumed.id == started.id  # completed, not started again
    assert (resumed.status, resumed.item_count) == ("finished", 55)
    assert len(services.evals.list_experiments("demo")) == 3


def test_every_demo_page_answers_and_shows_its_objects(
    services: Services, http: httpx.Client
) -> None:
    seed_demo(services)
    candidate = services.evals.resolve("demo", "candidate")
    pages = {
        "/runs?project=demo": ["lora-r16", "lr-sweep"],
        "/models?project=demo": ["sentiment-classifier"],
        "/models/sentiment-classifier?project=demo": ["staging"],
        "/prompts?project=demo": ["review-sentiment", "support-assistant"],
        "/prompts/support-assistant?project=demo": ["Point to the menu path"],
        "/datasets?project=demo": ["support-questions"],
        "/datasets/support-questions?project=demo": ["exact_dedup", "pii"],
        "/datasets/support-questions/diff?project=demo": ["jane.doe@example.com"],
        "/gateway?project=demo": ["chat", "embeddings"],
        "/gateway/routes/chat?project=demo": ["smollm2-135m-instruct"],
        "/traces?project=demo": ["smollm2-135m-instruct", "gpt-4o-mini"],
        "/traces/dashboard?project=demo": ["demo"],
        # The form only: running the check embeds the texts, which takes many seconds.
        "/traces/drift?project=demo": ["7d..1d"],
        "/alerts?project=demo": [ALERT_NAME],
        "/evals?project=demo": ["support-qa", "baseline", "candidate"],
        "/evals/compare?project=demo&base=baseline&candidate=candidate": ["exact_match"],
        f"/evals/{candidate.id}?project=demo": ["How do I cancel my subscription?"],
    }
    for path, expected in pages.items():
        response = http.get(path)
        assert response.status_code == 200, path
        text = re.sub(r"&#39;|&#x27;", "'", response.text)
        for needle in expected:
            assert needle in text, (path, needle)
    models = http.get("/v1/models", headers={"x-podium-project": "demo"}).json()
    assert sorted(m["id"] for m in models["data"]) == ["chat", "embeddings"]
