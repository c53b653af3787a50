"""Wire models of the model registry: ``/api/v1/models``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from podium.registry.models import ALIAS_PATTERN

__all__ = [
    "ALIAS_PATTERN",
    "AliasEventPublic",
    "AliasPublic",
    "AliasRollback",
    "AliasSet",
    "ModelCreate",
    "ModelPublic",
    "ModelUpdate",
    "VersionCreate",
    "VersionPublic",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelCreate(_Body):
    """Body of ``POST /api/v1/models``."""

    project: str = Field(default="default", min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=100_000)


class ModelUpdate(_Body):
    """Body of ``PATCH /api/v1/models/{name}``."""

    description: str = Field(max_length=100_000)


class ModelPublic(BaseModel):
    """A registered model with its aliases (alias -> version)."""

    id: int
    project: str
    name: str
    description: str
    created_at: datetime
    updated_at: datetime
    latest_version: int
    aliases: dict[str, int]


class VersionCreate(_Body):
    """Body of ``POST /api/v1/models/{name}/versions``.

    The artifact is either a run's artifact (``source_run_id`` + ``artifact_path``) or a blob
    already in the store (``artifact_sha256``); a version may also carry no file at all.
    """

    source_run_id: str | None = Field(default=None, max_length=32)
    artifact_path: str | None = Field(default=None, max_length=1000)
    artifact_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
    framework: str | None = Field(default=None, max_length=100)
    metadata: dict[str, Any] = Field(default_factory=dict)
    description: str = Field(default="", max_length=100_000)
    model_card: str = Field(default="", max_length=1_000_000)


class VersionPublic(BaseModel):
    """An immutable model version."""

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
    aliases: list[str]


class AliasSet(_Body):
    """Body of ``PUT /api/v1/models/{name}/aliases/{alias}``: point the alias at a version."""

    version: int = Field(ge=1)
    reason: str = Field(default="", max_length=10_000)


class AliasRollback(_Body):
    """Body of ``POST /api/v1/models/{name}/aliases/{alias}/rollback``."""

    reason: str = Field(default="", max_length=10_000)


class AliasPublic(BaseModel):
    """Where an alias points now."""

    model: str
    alias: str
    version: int
    updated_at: datetime
    updated_by: str | None


class AliasEventPublic(BaseModel):
    """One move of an alias: from which version to which, by whom, when and why."""

    id: int
    model: str
    alias: str
    from_version: int | None
    to_version: int | None
    actor: str | None
    reason: str
    at: datetime
