"""Entities of experiment tracking. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from podium.tracking.schemas import RunStatus

TERMINAL_STATUSES = frozenset({RunStatus.FINISHED, RunStatus.FAILED, RunStatus.KILLED})


@dataclass(frozen=True)
class Experiment:
    """A named group of runs inside a project."""

    id: int
    project: str
    name: str
    description: str
    created_at: datetime
    run_count: int = 0


@dataclass(frozen=True)
class LatestMetric:
    """The last value logged for a metric key."""

    value: float
    step: int
    timestamp: int


@dataclass(frozen=True)
class MetricPoint:
    """One point of a metric series, as logged."""

    key: str
    value: float
    step: int
    timestamp: int


@dataclass(frozen=True)
class Artifact:
    """A file logged to a run, stored in the blob store under its sha256."""

    path: str
    sha256: str
    size: int
    created_at: datetime


@dataclass(frozen=True)
class Run:
    """A run with its params, tags and latest metrics."""

    id: str
    project: str
    experiment_id: int
    experiment: str
    name: str
    status: RunStatus
    start_time: datetime
    end_time: datetime | None
    parent_run_id: str | None
    git_commit: str | None
    command: str | None
    user: str | None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, LatestMetric] = field(default_factory=dict)


@dataclass(frozen=True)
class RunDetail(Run):
    """A run with its artifacts and child runs."""

    artifacts: list[Artifact] = field(default_factory=list)
    child_run_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunComparison:
    """Runs side by side."""

    runs: list[Run]
    params: dict[str, dict[str, str | None]]
    metrics: dict[str, dict[str, float | None]]
    differing_params: list[str]
