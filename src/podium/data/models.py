"""Entities of the data part: datasets, their immutable versions, lineage steps and graphs,
diffs, background pipeline jobs, and what an import from traces selects.

Frozen dataclasses, no I/O. A version's ``sha256`` is the sha256 of its Parquet blob, so the
same rows written the same way always name the same content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from podium.data.steps.base import StepReport

# The row columns every version has, in order. ``row_hash`` is the hash of the canonical row,
# ``key_hash`` the hash of its ``input`` alone: a diff pairs rows with equal keys as "changed".
ROW_COLUMNS = ("input", "expected", "metadata")
HASH_COLUMNS = ("row_hash", "key_hash")
FORMATS = ("jsonl", "csv", "parquet", "chat")
IMPORT_STEP = "import"
TRACES_STEP = "import_traces"


@dataclass(frozen=True)
class Dataset:
    """A named dataset in a project; ``latest_version`` is 0 until the first import."""

    id: int
    project: str
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
    latest_version: int


@dataclass(frozen=True)
class Step:
    """One step of the lineage that produced a version, with its parameters."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DatasetVersion:
    """One immutable version: where its rows are, how many, and where it came from."""

    dataset: str
    project: str
    version: int
    sha256: str
    size: int
    row_count: int
    schema: list[dict[str, str]]
    message: str
    created_at: datetime
    created_by: str | None
    parents: list[int]
    steps: list[Step]
    created: bool = True


@dataclass(frozen=True)
class Row:
    """One dataset row as read back from a version."""

    input: str
    expected: str | None
    metadata: dict[str, Any]
    row_hash: str


@dataclass(frozen=True)
class ChangedRow:
    """A row whose ``input`` is in both versions but whose content differs."""

    before: Row
    after: Row


@dataclass(frozen=True)
class VersionDiff:
    """Rows added, removed and changed from version ``base`` to ``other``, with examples."""

    dataset: str
    base: int
    other: int
    added: int
    removed: int
    changed: int
    unchanged: int
    added_examples: list[Row]
    removed_examples: list[Row]
    changed_examples: list[ChangedRow]


JOB_STATES = ("running", "succeeded", "failed")
STEP_STATES = ("pending", "running", "done")


@dataclass(frozen=True)
class StepProgress:
    """One pipeline step inside a job: its state, rows in/out (``None`` until known) and, for a
    step that works row by row, the rows done so far."""

    name: str
    state: str = "pending"
    rows_in: int | None = None
    rows_out: int | None = None
    rows_done: int | None = None  # while running, for the steps that work row by row


@dataclass(frozen=True)
class CleanJob:
    """A quality pipeline running (or run) in the background over one dataset version.

    ``result`` and ``reports`` are set once it ``succeeded``; ``error`` (with its HTTP
    ``error_status``) once it ``failed``. The reports are the pipeline's ``StepReport``s.
    """

    id: str
    project: str
    dataset: str
    source_version: int
    state: str
    steps: list[StepProgress]
    created_at: datetime
    finished_at: datetime | None = None
    created_by: str | None = None
    result: DatasetVersion | None = None
    reports: list[StepReport] = field(default_factory=list)
    error: str | None = None
    error_status: int | None = None


@dataclass(frozen=True)
class LineageEdge:
    """Version ``child`` was made from version ``parent`` by ``steps``."""

    parent: int
    child: int
    steps: list[Step]


@dataclass(frozen=True)
class Lineage:
    """A dataset's lineage graph: its versions as nodes, "made from" links as edges."""

    dataset: str
    project: str
    nodes: list[DatasetVersion]
    edges: list[LineageEdge]


TRACE_SPANS = ("root", "llm")


@dataclass(frozen=True)
class TraceImport:
    """Which traces of a project become dataset rows, and how (``import-traces``).

    ``spans``: ``root`` makes one row per trace from its root span (or its first span with an
    input); ``llm`` one row per span that called a model. Times are epoch ms; ``until`` is
    exclusive. ``errors``: only failed traces (True), only good ones (False), or all (None).
    """

    since: int | None = None
    until: int | None = None
    model: str | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None
    tags: tuple[str, ...] = ()
    score_name: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    errors: bool | None = None
    spans: str = "root"
    limit: int = 10_000
