"""Wire models of the evals part: ``/api/v1/evals``."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$"
SCORER = r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,99}$"
HASH = r"^[0-9a-f]{64}$"
MAX_ITEMS_PER_REQUEST = 1000
ScorerName = Annotated[str, StringConstraints(pattern=SCORER)]
Finite = Annotated[float, Field(allow_inf_nan=False)]


def _finite_json(value: dict[str, Any]) -> dict[str, Any]:
    """Refuse NaN and infinities anywhere in free-form JSON (no database stores them as JSON)."""
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        raise ValueError("numbers must be finite (no NaN or Infinity)") from None
    return value


__all__ = [
    "ComparisonPublic",
    "ExperimentPublic",
    "ExperimentStart",
    "ExperimentStarted",
    "FinishBody",
    "ItemChangePublic",
    "ItemPublic",
    "ItemsAdd",
    "ItemsStored",
    "JudgeAnswer",
    "LabelBody",
    "ScorerComparisonPublic",
]


class ExperimentStart(BaseModel):
    """Open an experiment (or resume the unfinished one of the same suite/target/dataset)."""

    model_config = ConfigDict(extra="forbid")

    project: str = Field("default", min_length=1, max_length=200)
    suite: str = Field(pattern=NAME, description="The suite's name.")
    target: str = Field(min_length=1, max_length=200, description="The target's display name.")
    target_hash: str = Field(pattern=HASH, description="sha256 of the target's definition.")
    dataset: str = Field(pattern=NAME)
    dataset_version: int = Field(ge=1, le=2**31 - 1)
    scorers: dict[ScorerName, bool] = Field(
        min_length=1, max_length=100, description="Scorer name -> higher is better."
    )
    prompt: str | None = Field(None, pattern=NAME)
    prompt_version: int | None = Field(None, ge=1, le=2**31 - 1)
    params: dict[str, str] = Field(default_factory=dict, max_length=100)


class ExperimentPublic(BaseModel):
    """An experiment: its tracking run id, provenance, status and aggregate scores."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    project: str
    suite: str
    target: str
    target_hash: str
    dataset: str
    dataset_version: int
    prompt: str | None
    prompt_version: int | None
    scorers: dict[str, bool]
    status: str
    label: str | None
    created_at: datetime
    finished_at: datetime | None
    metrics: dict[str, float]
    summary: dict[str, Any]
    item_count: int


class ExperimentStarted(BaseModel):
    """The experiment to report into; ``resumed`` when it already holds items to skip."""

    experiment: ExperimentPublic
    resumed: bool


class ItemPublic(BaseModel):
    """One item's output and scores."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")

    key: str = Field(pattern=HASH)
    position: int = Field(ge=0, le=2**31 - 1)
    variant: str = Field("original", min_length=1, max_length=64)
    group: str | None = Field(None, max_length=200)
    input: str = Field(max_length=1_000_000)
    expected: str | None = Field(None, max_length=1_000_000)
    output: str | None = Field(None, max_length=1_000_000)
    error: str | None = Field(None, max_length=10_000)
    latency_ms: float = Field(0.0, ge=0, allow_inf_nan=False)
    cost: float = Field(0.0, ge=0, allow_inf_nan=False)
    scores: dict[ScorerName, Finite] = Field(default_factory=dict, max_length=100)
    details: dict[str, Any] = Field(default_factory=dict)

    _details_finite = field_validator("details")(_finite_json)


class ItemsAdd(BaseModel):
    """A batch of item results."""

    model_config = ConfigDict(extra="forbid")

    items: list[ItemPublic] = Field(max_length=MAX_ITEMS_PER_REQUEST)


class ItemsStored(BaseModel):
    """How many item results were stored."""

    stored: int


class FinishBody(BaseModel):
    """What aggregate scorers computed over all items, by scorer name."""

    model_config = ConfigDict(extra="forbid")

    aggregates: dict[ScorerName, dict[str, Any]] = Field(default_factory=dict, max_length=100)

    _aggregates_finite = field_validator("aggregates")(_finite_json)


class LabelBody(BaseModel):
    """The label to give an experiment (one experiment per suite holds a label)."""

    model_config = ConfigDict(extra="forbid")

    label: str = Field(pattern=NAME, max_length=64)


class JudgeAnswer(BaseModel):
    """A cached judge answer."""

    model_config = ConfigDict(extra="forbid")

    answer: str = Field(max_length=100_000)


class ItemChangePublic(BaseModel):
    """One paired item's score in both experiments."""

    model_config = ConfigDict(from_attributes=True)

    key: str
    input: str
    base: float
    candidate: float
    change: str


class ScorerComparisonPublic(BaseModel):
    """One scorer compared: means, delta with its 95% CI, verdict and per-item changes."""

    model_config = ConfigDict(from_attributes=True)

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
    items: list[ItemChangePublic]


class ComparisonPublic(BaseModel):
    """Two experiments compared on the items both graded."""

    model_config = ConfigDict(from_attributes=True)

    base: ExperimentPublic
    candidate: ExperimentPublic
    paired_items: int
    scorers: list[ScorerComparisonPublic]
