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
