"""The demo project: a small, realistic workspace to click through (``podium server --demo``).

``seed_demo(services)`` fills project ``demo`` with a LoRA fine-tuning experiment: four runs
with different learning rates, epochs and LoRA ranks (one of them diverges and fails), an
learning-rate sweep with two child runs, metric curves over 100 steps, a config artifact per run,
and a registered model with two versions whose ``staging`` and ``production`` aliases have
moved, and a versioned prompt. ``podium.server.demo_ops`` adds the rest: a dataset with a
cleaned version, gateway routes, two days of traces, an alert rule and two finished eval
experiments (``baseline`` and ``candidate``).
Everything goes through the services, exactly as a user's calls would.

The curves come from a seeded random generator, so every seed draws the same numbers; the times
are laid out in the hours before the seeding, so the demo always looks recent.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from podium.errors import Conflict, NotFound
from podium.server.demo_ops import seed_operations
from podium.store.clock import now_ms
from podium.tracking.models import MetricPoint
from podium.tracking.schemas import RunStatus

if TYPE_CHECKING:  # the app imports this module lazily; only the type is needed here
    from podium.server.app import Services

PROJECT = "demo"
EXPERIMENT = "sentiment-finetune"
MODEL = "sentiment-classifier"
ACTOR = "demo"
BASE_MODEL = "distilbert-base-uncased"
STEPS = 100
EVAL_EVERY = 10
STEP_MS = 18_000  # one training step every 18 s: a 100-step run takes half an hour
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class DemoRun:
    """The recipe of one demo run: its hyperparameters and how it ends."""

    name: str
    lr: float
    epochs: int
    lora_r: int
    hours_ago: float
    diverges_at: int | None = None  # a step where the loss blows up and the run fails


RUNS = (
    DemoRun("baseline-r8", lr=2e-4, epochs=3, lora_r=8, hours_ago=30),
    DemoRun("lora-r16", lr=2e-4, epochs=3, lora_r=16, hours_ago=26),
    DemoRun("lora-r16-slow", lr=5e-5, epochs=5, lora_r=16, hours_ago=22),
    DemoRun("lora-r32-hot", lr=1e-3, epochs=2, lora_r=32, hours_ago=18, diverges_at=62),
)
SWEEP_NAME = "lr-sweep"
SWEEP = (
    DemoRun("lr-sweep-1e-4", lr=1e-4, epochs=3, lora_r=16, hours_ago=10),
    DemoRun("lr-sweep-3e-4", lr=3e-4, epochs=3, lora_r=16, hours_ago=9),
)

MODEL_CARD = """# sentiment-classifier

A LoRA fine-tune of `{base}` that labels product reviews as **positive**, **negative** or
**neutral**.

| setting | value |
|---|---|
| LoRA rank | {lora_r} |
| learning rate | {lr} |
| epochs | {epochs} |
| eval accuracy | {accuracy:.3f} |

## Intended use

Routing customer reviews to the right queue. Not for moderation decisions without review.

## Limitations

- Trained on English reviews only.
- Sarcasm is often read literally.
"""


def seed_demo(services: Services) -> None:
    """Create the demo project; each piece is skipped when present (seeding twice is harmless).

    The tracking, registry and prompt objects are seeded here; datasets, gateway routes,
    traces, alerts and evals by ``podium.server.demo_ops``.
    """
    _seed_tracking(services)
    seed_operations(services)


def _seed_tracking(services: Services) -> None:
    """Runs, the registered model and the prompt, unless the experiment already has runs
    (the demo's eval experiments are runs too, of another experiment)."""
    tracking = services.tracking
    try:
        if tracking.search_runs(project=PROJECT, experiments=[EXPERIMENT], limit=1):
            return
    except NotFound:  # no demo project or experiment yet
        pass
    with contextlib.suppress(Conflict):  # left by an earlier, interrupted seeding
        tracking.create_experiment(
            PROJECT,
            EXPERIMENT,
            "LoRA fine-tunes of a small encoder for 3-class review sentiment.",
        )

    now = now_ms()
    run_ids: dict[str, str] = {}
    final_accuracy: dict[str, float] = {}
    for recipe in RUNS:
        run_id, accuracy = _seed_run(services, recipe, now)
        run_ids[recipe.name] = run_id
        final_accuracy[recipe.name] = accuracy

    # A sweep: the parent run records the search, its children are the trials.
    sweep_start = now - 11 * HOUR_MS
    parent = tracking.create_run(
        project=PROJECT,
        experiment=EXPERIMENT,
        name=SWEEP_NAME,
        user=ACTOR,
        start_time=sweep_start,
        params={"search": "grid", "search.lr": "1e-4,3e-4", "lora_r": "16", "epochs": "3"},
        tags={"kind": "sweep"},
    )
    best = 0.0
    for recipe in SWEEP:
        _, accuracy = _seed_run(services, recipe, now, parent_run_id=parent.id)
        best = max(best, accuracy)
    tracking.log_metrics(
        parent.id, [MetricPoint("best/eval/accuracy", round(best, 4), 0, now - 8 * HOUR_MS)]
    )
    _log_config(services, parent.id, {"search": "grid", "lr": [1e-4, 3e-4], "lora_r": 16})
    tracking.update_run(parent.id, status=RunStatus.FINISHED, end_time=now - 8 * HOUR_MS)

    _seed_registry(services, run_ids, final_accuracy)
    _seed_prompts(services)


def _seed_run(
    services: Services, recipe: DemoRun, now: int, parent_run_id: str | None = None
) -> tuple[str, float]:
    """Log one run (params, curves, config artifact, end state); returns its id and accuracy."""
    tracking = services.tracking
    start = now - int(recipe.hours_ago * HOUR_MS)
    params = {
        "lr": f"{recipe.lr:g}",
        "epochs": str(recipe.epochs),
        "lora_r": str(recipe.lora_r),
        "lora_alpha": str(recipe.lora_r * 2),
        "base_model": BASE_MODEL,
        "batch_size": "32",
    }
    run = tracking.create_run(
        project=PROJECT,
        experiment=EXPERIMENT,
        name=recipe.name,
        parent_run_id=parent_run_id,
        user=ACTOR,
        start_time=start,
        git_commit=_fake_commit(recipe.name),
        command=(
            f"python train.py --lr {recipe.lr:g} --epochs {recipe.epochs} --lora-r {recipe.lora_r}"
        ),
        params=params,
        tags={"dataset": "reviews-v3", "hardware": "1x A10G"},
    )
    points, accuracy = _curves(recipe, start)
    tracking.log_metrics(run.id, points)
    _log_config(services, run.id, {**params, "max_steps": STEPS, "eval_every": EVAL_EVERY})
    last_step = recipe.diverges_at if recipe.diverges_at is not None else STEPS - 1
    status = RunStatus.FAILED if recipe.diverges_at is not None else RunStatus.FINISHED
    tracking.update_run(run.id, status=status, end_time=start + (last_step + 1) * STEP_MS)
    return run.id, accuracy


def _curves(recipe: DemoRun, start: int) -> tuple[list[MetricPoint], float]:
    """Training and evaluation curves for ``recipe``; returns the points and final accuracy.

    Loss decays exponentially towards a floor that a higher LoRA rank lowers; the decay rate
    grows with the learning rate; evaluation loss sits above training loss and creeps up when
    a run trains for many epochs (overfitting). A diverging run's loss explodes at the end.
    """
    # Not for security: a str seed gives the same numbers in every process and Python version.
    rng = random.Random(recipe.name)  # noqa: S311
    rate = 0.025 + 90 * recipe.lr
    floor = 0.22 - 0.035 * math.log2(recipe.lora_r / 4)
    start_loss = 1.1  # about ln(3): three classes, a guessing model
    last_step = recipe.diverges_at if recipe.diverges_at is not None else STEPS - 1
    points: list[MetricPoint] = []
    accuracy = 0.0
    for step in range(last_step + 1):
        at = start + step * STEP_MS
        clean = floor + (start_loss - floor) * math.exp(-rate * step)
        if recipe.diverges_at is not None and step > recipe.diverges_at - 15:
            clean *= math.exp(0.25 * (step - (recipe.diverges_at - 15)))
        train = clean * (1 + rng.gauss(0, 0.06))
        points.append(MetricPoint("train/loss", round(max(train, 0.01), 4), step, at))
        if step % EVAL_EVERY == 0 or step == last_step:
            overfit = 0.00012 * recipe.epochs * max(0, step - 50)
            eval_loss = clean * 1.12 + 0.03 + overfit + rng.gauss(0, 0.005)
            accuracy = min(0.97, max(0.33, 1.02 - 0.55 * eval_loss + rng.gauss(0, 0.003)))
            points.append(MetricPoint("eval/loss", round(eval_loss, 4), step, at))
            points.append(MetricPoint("eval/accuracy", round(accuracy, 4), step, at))
    return points, round(accuracy, 4)


def _log_config(services: Services, run_id: str, config: dict[str, object]) -> None:
    """Attach ``config.json`` to the run, as a training script would."""
    body = json.dumps(config, indent=2, sort_keys=True).encode()
    services.tracking.log_artifact(run_id, "config.json", io.BytesIO(body))


def _fake_commit(name: str) -> str:
    """A commit-looking hex string derived from ``name`` (stable from seed to seed)."""
    return f"{random.Random(f'commit:{name}').getrandbits(160):040x}"  # noqa: S311


def _seed_registry(services: Services, run_ids: dict[str, str], accuracy: dict[str, float]) -> None:
    """Register the model with v1 (the baseline) and v2 (rank 16), and move its aliases."""
    registry = services.registry
    try:
        registry.create_model(
            PROJECT, MODEL, "Review sentiment (positive / negative / neutral) for support routing."
        )
    except Conflict:  # an earlier, interrupted seeding registered it
        return
    for recipe in (RUNS[0], RUNS[1]):
        registry.create_version(
            PROJECT,
            MODEL,
            source_run_id=run_ids[recipe.name],
            artifact_path="config.json",
            framework="transformers+peft",
            metadata={
                "base_model": BASE_MODEL,
                "lora_r": recipe.lora_r,
                "eval_accuracy": accuracy[recipe.name],
            },
            description=f"LoRA r={recipe.lora_r}, lr={recipe.lr:g}, {recipe.epochs} epochs",
            model_card=MODEL_CARD.format(
                base=BASE_MODEL,
                lora_r=recipe.lora_r,
                lr=f"{recipe.lr:g}",
                epochs=recipe.epochs,
                accuracy=accuracy[recipe.name],
            ),
            actor=ACTOR,
        )
    registry.set_alias(PROJECT, MODEL, "production", 1, actor=ACTOR, reason="first release")
    registry.set_alias(PROJECT, MODEL, "staging", 1, actor=ACTOR, reason="candidate for release")
    registry.set_alias(
        PROJECT,
        MODEL,
        "staging",
        2,
        actor=ACTOR,
        reason="LoRA r=16 beats the baseline on eval/accuracy",
    )


__all__ = ["seed_demo"]


def _seed_prompts(services: Services) -> None:
    """A chat prompt for the classifier with two versions: v1 in production, v2 in staging."""
    prompts = services.prompts
    variables: list[dict[str, Any]] = [
        {"name": "review", "type": "string", "required": True, "description": "The review text."},
        {"name": "labels", "type": "list", "default": ["negative", "neutral", "positive"]},
    ]
    system = "You classify product reviews by sentiment. Answer with one word."
    with contextlib.suppress(Conflict):
        prompts.create_prompt(
            PROJECT,
            "review-sentiment",
            messages=[
                {"role": "system", "content": system},
                {"role": "user", "content": "Review: {{ review }}\nSentiment:"},
            ],
            variables=variables,
            model_params={"model": "smollm2-135m-instruct", "temperature": 0.0, "max_tokens": 4},
            message="First version",
            labels=["production"],
            actor=ACTOR,
        )
        prompts.push_version(
            PROJECT,
            "review-sentiment",
            messages=[
                {"role": "system", "content": system + " Use only: {{ labels | join(', ') }}."},
                {"role": "user", "content": "Review: {{ review }}\nSentiment:"},
            ],
            variables=variables,
            model_params={"model": "smollm2-135m-instruct", "temperature": 0.0, "max_tokens": 4},
            message="Constrain the answer to the label set",
            labels=["staging"],
            actor=ACTOR,
        )
