"""The demo seed: what it creates, and that seeding again changes nothing."""

from __future__ import annotations

import json

from podium.server.app import Services
from podium.server.demo import seed_demo
from podium.tracking.schemas import RunStatus


def test_seeding_twice_creates_the_demo_once(services: Services) -> None:
    seed_demo(services)
    seed_demo(services)

    runs = services.tracking.search_runs(project="demo", order_by=["name ASC"])
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
    assert [(e.name, e.run_count) for e in experiments] == [("sentiment-finetune", 7)]
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
    runs = {r.name: r for r in services.tracking.search_runs(project="demo")}
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
