"""Wire models of experiment tracking: what `/api/v1/experiments` and `/runs` take and give."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

MAX_METRICS_PER_REQUEST = 100_000
KEY_PATTERN = r"^[^\x00-\x1f]{1,250}$"
# The last millisecond of year 9999: later epoch times cannot be shown as dates.
MAX_EPOCH_MS = 253_402_300_799_999


class RunStatus(StrEnum):
    """Lifecycle of a run."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ExperimentCreate(_Body):
    """Body of ``POST /api/v1/experiments``."""

    project: str = Field(default="default", min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)


class ExperimentPublic(BaseModel):
    """An experiment."""

    id: int
    project: str
    name: str
    description: str
    created_at: datetime
    run_count: int = 0


class RunCreate(_Body):
    """Body of ``POST /api/v1/runs``; the experiment is created if it does not exist."""

    project: str = Field(default="default", min_length=1, max_length=200)
    experiment: str = Field(default="default", min_length=1, max_length=200)
    name: str | None = Field(default=None, max_length=250, description="Generated if omitted.")
    parent_run_id: str | None = Field(default=None, max_length=32)
    git_commit: str | None = Field(default=None, max_length=64)
    command: str | None = Field(default=None, max_length=100_000)
    user: str | None = Field(default=None, max_length=200)
    start_time: int | None = Field(
        default=None, ge=0, le=MAX_EPOCH_MS, description="Epoch milliseconds."
    )
    params: dict[str, str] = Field(default_factory=dict)
    tags: dict[str, str] = Field(default_factory=dict)


class RunUpdate(_Body):
    """Body of ``PATCH /api/v1/runs/{run_id}``: end a run, rename it."""

    status: RunStatus | None = None
    end_time: int | None = Field(
        default=None, ge=0, le=MAX_EPOCH_MS, description="Epoch milliseconds."
    )
    name: str | None = Field(default=None, min_length=1, max_length=250)


class ParamsLog(_Body):
    """Body of ``POST /api/v1/runs/{run_id}/params``; params are write-once."""

    params: dict[str, str]


class TagsSet(_Body):
    """Body of ``POST /api/v1/runs/{run_id}/tags``; tags can be overwritten."""

    tags: dict[str, str]


class MetricPoint(_Body):
    """One metric value at a step."""

    key: str = Field(pattern=KEY_PATTERN)
    value: float = Field(allow_inf_nan=True)
    step: int = Field(default=0, ge=0, le=2**62)
    timestamp: int | None = Field(default=None, ge=0, description="Epoch ms; server time if null.")


class MetricsLog(_Body):
    """Body of ``POST /api/v1/runs/{run_id}/metrics``."""

    metrics: list[MetricPoint] = Field(max_length=MAX_METRICS_PER_REQUEST)


class MetricsLogged(BaseModel):
    """Reply to a metrics batch: how many points were committed."""

    logged: int


# Metric values may be NaN or ±infinity, which JSON cannot hold: they are written as the strings
# "NaN", "Infinity" and "-Infinity" (and read back from them, or from bare NaN/Infinity).
_FLOATS_AS_STRINGS = ConfigDict(ser_json_inf_nan="strings")


class LatestMetric(BaseModel):
    """The last value of a metric (highest step, then latest timestamp)."""

    model_config = _FLOATS_AS_STRINGS

    value: float
    step: int
    timestamp: int


class MetricHistoryPoint(BaseModel):
    """A point of a metric's history."""

    model_config = _FLOATS_AS_STRINGS

    step: int
    value: float
    timestamp: int


class MetricHistory(BaseModel):
    """A metric's points in step order."""

    run_id: str
    key: str
    points: list[MetricHistoryPoint]
    next_offset: int | None = None


class ArtifactPublic(BaseModel):
    """A file logged to a run."""

    path: str
    sha256: str
    size: int
    created_at: datetime


class RunPublic(BaseModel):
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
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, LatestMetric]


class RunDetail(RunPublic):
    """A run with its artifacts and child runs."""

    artifacts: list[ArtifactPublic]
    child_run_ids: list[str]


class RunSearch(_Body):
    """Body of ``POST /api/v1/runs/search``."""

    project: str = Field(default="default", min_length=1, max_length=200)
    experiments: list[str] | None = Field(
        default=None, description="Experiment names; all of the project's when null."
    )
    filter: str = Field(
        default="",
        max_length=10_000,
        description="e.g. `metrics.loss < 0.5 and params.lr = '0.01' and status = 'FINISHED'`",
    )
    order_by: list[str] = Field(
        default_factory=list,
        max_length=10,
        description="e.g. `['metrics.loss ASC', 'start_time DESC']`",
    )
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=100, ge=1, le=1000)


class RunComparison(BaseModel):
    """Runs side by side: every param and latest metric, keyed by name then run id."""

    model_config = _FLOATS_AS_STRINGS

    runs: list[RunPublic]
    params: dict[str, dict[str, str | None]]
    metrics: dict[str, dict[str, float | None]]
    differing_params: list[str]
