"""Wire models of the data part: ``/api/v1/datasets``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ChangedRowPublic",
    "CleanRequest",
    "CleanResult",
    "DatasetPublic",
    "DiffPublic",
    "JobPublic",
    "JobStepPublic",
    "LineageEdgePublic",
    "LineagePublic",
    "RowPublic",
    "StepPublic",
    "StepReportPublic",
    "StepSpec",
    "TraceImportRequest",
    "VersionPublic",
]


class DatasetPublic(BaseModel):
    """A dataset; ``latest_version`` is 0 until its first import."""

    id: int
    project: str
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
    latest_version: int


class StepPublic(BaseModel):
    """One lineage step (``import``, a pipeline step …) with its parameters."""

    name: str
    params: dict[str, Any]


class VersionPublic(BaseModel):
    """An immutable dataset version; ``created`` is false when an import matched the latest.

    ``sha256`` names its Parquet blob; ``parents`` and ``steps`` are its lineage.
    """

    dataset: str
    project: str
    version: int
    sha256: str
    size: int
    row_count: int
    schema_: list[dict[str, str]] = Field(alias="schema", description="The row columns.")
    message: str
    created_at: datetime
    created_by: str | None
    parents: list[int]
    steps: list[StepPublic]
    created: bool = True

    model_config = ConfigDict(populate_by_name=True)


class RowPublic(BaseModel):
    """One row of a version."""

    input: str
    expected: str | None
    metadata: dict[str, Any]
    row_hash: str


class ChangedRowPublic(BaseModel):
    """A row whose input is in both versions with different content."""

    before: RowPublic
    after: RowPublic


class DiffPublic(BaseModel):
    """Counts and examples of rows added, removed and changed from ``base`` to ``other``."""

    dataset: str
    base: int
    other: int
    added: int
    removed: int
    changed: int
    unchanged: int
    added_examples: list[RowPublic]
    removed_examples: list[RowPublic]
    changed_examples: list[ChangedRowPublic]


class StepSpec(BaseModel):
    """One pipeline step: its name and parameters."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, examples=["near_dedup"])
    params: dict[str, Any] = Field(default_factory=dict, examples=[{"threshold": 0.8}])


class CleanRequest(BaseModel):
    """Body of ``POST /api/v1/datasets/{name}/clean``: the steps and the source version."""

    model_config = ConfigDict(extra="forbid")

    project: str = Field(default="default", min_length=1, max_length=200)
    version: int | None = Field(default=None, ge=1, description="Source; the latest if omitted.")
    steps: list[StepSpec] = Field(max_length=50)
    message: str = Field(default="", max_length=10_000)


class StepReportPublic(BaseModel):
    """What one step removed or changed, with examples."""

    name: str
    params: dict[str, Any]
    rows_in: int
    rows_out: int
    removed: int
    changed: int
    examples: list[dict[str, Any]]
    details: dict[str, Any]


class CleanResult(BaseModel):
    """The version the pipeline produced and each step's report."""

    version: VersionPublic
    reports: list[StepReportPublic]


class JobStepPublic(BaseModel):
    """One step of a pipeline job: ``pending``, ``running`` or ``done``, with its rows."""

    name: str
    state: str
    rows_in: int | None
    rows_out: int | None
    rows_done: int | None = Field(
        description="Rows done so far, for steps that work row by row (normalise, filter, "
        "language, pii); every row once the step is done."
    )


class JobPublic(BaseModel):
    """A background pipeline job (``POST .../clean?wait=false``).

    ``state`` is ``running``, ``succeeded`` or ``failed``; ``progress`` is the share of steps
    done (0 to 1). Once it succeeded, ``version`` is the new version and ``reports`` the step
    reports; once it failed, ``error`` says why (``error_status`` is the HTTP status the same
    error would have had).
    """

    id: str
    project: str
    dataset: str
    source_version: int
    state: str
    progress: float
    steps: list[JobStepPublic]
    created_at: datetime
    finished_at: datetime | None
    created_by: str | None
    version: VersionPublic | None
    reports: list[StepReportPublic]
    error: str | None
    error_status: int | None


class LineageEdgePublic(BaseModel):
    """Version ``child`` was made from version ``parent`` by ``steps``."""

    parent: int
    child: int
    steps: list[StepPublic]


class LineagePublic(BaseModel):
    """A dataset's lineage graph: its versions (nodes) and "made from" edges."""

    dataset: str
    project: str
    nodes: list[VersionPublic]
    edges: list[LineageEdgePublic]


class TraceImportRequest(BaseModel):
    """Body of ``POST /api/v1/datasets/{name}/import-traces``: which traces of ``project``
    become the dataset's next version. Every filter is optional."""

    model_config = ConfigDict(extra="forbid")

    project: str = Field(default="default", min_length=1, max_length=200)
    since: datetime | None = Field(default=None, description="Traces started at or after this.")
    until: datetime | None = Field(default=None, description="Traces started before this.")
    model: str | None = Field(default=None, max_length=200)
    prompt_name: str | None = Field(default=None, max_length=200)
    prompt_version: int | None = Field(default=None, ge=1)
    tags: list[str] = Field(default_factory=list, max_length=20, description="Every one of them.")
    score_name: str | None = Field(default=None, max_length=200)
    min_score: float | None = None
    max_score: float | None = None
    errors: bool | None = Field(
        default=None, description="true: only failed traces; false: only good ones."
    )
    spans: str = Field(
        default="root",
        pattern="^(root|llm)$",
        description="root: one row per trace; llm: one row per model call.",
    )
    limit: int = Field(default=10_000, ge=1, le=1_000_000, description="Most rows.")
    message: str = Field(default="", max_length=10_000)
