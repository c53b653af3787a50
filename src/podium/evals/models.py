"""Entities of the evals part: experiments, their per-item results, and comparisons.

An experiment is a tracking run (its id is the run id) plus what the run table cannot hold:
the suite, the target, the dataset and prompt versions it was measured on, each item's output
and scores. Frozen dataclasses, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

RUNNING = "running"
FINISHED = "finished"
ORIGINAL = "original"  # the variant of an item as the dataset has it (probes add others)
PRODUCTION = "production"


@dataclass(frozen=True)
class Experiment:
    """One suite run against one target: where it came from and its aggregate scores."""

    id: str  # the tracking run id
    project: str
    suite: str
    target: str
    target_hash: str
    dataset: str
    dataset_version: int
    prompt: str | None
    prompt_version: int | None
    # scorer name -> True when higher is better (a comparison needs the direction)
    scorers: dict[str, bool]
    status: str
    label: str | None
    created_at: datetime
    finished_at: datetime | None
    metrics: dict[str, float] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    item_count: int = 0


@dataclass(frozen=True)
class ItemResult:
    """One item's output and scores in an experiment. ``key`` hashes the item's content (and
    variant), so the same item pairs up across experiments and a re-run can skip it."""

    key: str
    position: int
    variant: str
    group: str | None
    input: str
    expected: str | None
    output: str | None
    error: str | None
    latency_ms: float
    cost: float
    scores: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemChange:
    """How one item's score moved between two experiments."""

    key: str
    input: str
    base: float
    candidate: float
    change: str  # improved | regressed | unchanged


@dataclass(frozen=True)
class ScorerComparison:
    """One scorer across two experiments: means, the paired-bootstrap CI, the verdict, counts."""

    scorer: str
    higher_is_better: bool
    base_mean: float
    candidate_mean: float
    delta: float
    ci_low: float
    ci_high: float
    verdict: str
    improved: int
    regressed: int
    unchanged: int
    items: list[ItemChange]


@dataclass(frozen=True)
class Comparison:
    """Two experiments compared on the items both graded."""

    base: Experiment
    candidate: Experiment
    paired_items: int
    scorers: list[ScorerComparison]
