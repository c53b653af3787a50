"""Entities of the data part: datasets, their immutable versions, lineage steps and diffs.

Frozen dataclasses, no I/O. A version's ``sha256`` is the sha256 of its Parquet blob, so the
same rows written the same way always name the same content.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The row columns every version has, in order. ``row_hash`` is the hash of the canonical row,
# ``key_hash`` the hash of its ``input`` alone: a diff pairs rows with equal keys as "changed".
ROW_COLUMNS = ("input", "expected", "metadata")
HASH_COLUMNS = ("row_hash", "key_hash")
FORMATS = ("jsonl", "csv", "parquet", "chat")
IMPORT_STEP = "import"


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
