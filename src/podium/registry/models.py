"""Entities of the model registry. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class RegisteredModel:
    """A named model in a project, with its aliases (alias -> version)."""

    id: int
    project: str
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
    latest_version: int
    aliases: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelVersion:
    """An immutable version of a registered model."""

    model: str
    version: int
    source_run_id: str | None
    artifact_sha256: str | None
    artifact_path: str | None
    framework: str | None
    metadata: dict[str, Any]
    description: str
    model_card: str
    created_at: datetime
    created_by: str | None
    aliases: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Alias:
    """Where an alias points now."""

    model: str
    alias: str
    version: int
    updated_at: datetime
    updated_by: str | None


@dataclass(frozen=True)
class AliasEvent:
    """One recorded move of an alias."""

    id: int
    model: str
    alias: str
    from_version: int | None
    to_version: int | None
    actor: str | None
    reason: str
    at: datetime


# An alias name: a letter, then letters, digits, '_', '.' or '-' (so it never looks like a
# version number). The wire schemas validate with the same pattern.
ALIAS_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$"

# ``latest`` always resolves to the newest version; it can be read but never set.
LATEST_ALIAS = "latest"

# Rollback events are recorded with a reason starting with this marker; together with the
# version they land on, it lets ``rollback_stack`` tell an undo from an ordinary move.
ROLLBACK_REASON_PREFIX = "rollback:"


def rollback_stack(events: list[AliasEvent]) -> list[int | None]:
    """Replay one alias's events (oldest first) into its undo stack; the top is the rollback target.

    Each ordinary move (set, delete) pushes the version the alias left (``None`` when it was not
    set). A rollback pops: it is an event whose reason starts with ``ROLLBACK_REASON_PREFIX``
    and which lands on the top of the stack. So repeated rollbacks walk back through the
    history (v3 -> v2 -> v1) instead of toggling between the last two versions, and a new move
    after a rollback is undone by the next rollback, like an editor's undo.
    """
    stack: list[int | None] = []
    for event in events:
        is_rollback = event.reason.startswith(ROLLBACK_REASON_PREFIX)
        if is_rollback and stack and stack[-1] == event.to_version:
            stack.pop()
        else:
            stack.append(event.from_version)
    return stack
