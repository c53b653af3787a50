"""Wire models of the prompt registry: ``/api/v1/prompts``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from podium.prompts.models import LABEL_PATTERN

__all__ = [
    "LABEL_PATTERN",
    "DiffPublic",
    "LabelEventPublic",
    "LabelPublic",
    "LabelRollback",
    "LabelSet",
    "PromptCreate",
    "PromptPublic",
    "RenderRequest",
    "RenderResult",
    "VersionCreate",
    "VersionPublic",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VersionCreate(_Body):
    """Body of ``POST /api/v1/prompts/{name}/versions``: the content of the next version.

    ``template`` for a text prompt, ``messages`` for a chat prompt. A message is
    ``{"role": ..., "content": ...}`` or a placeholder ``{"type": "placeholder", "name": ...}``
    expanded at render time from a variable of type ``messages``. Labels are moved separately
    (``PUT …/labels/{label}``), because moving one needs ``prompts:label``, not ``prompts:write``.
    """

    template: str | None = Field(default=None, max_length=200_000)
    messages: list[dict[str, Any]] | None = Field(default=None, max_length=1000)
    variables: list[dict[str, Any]] = Field(default_factory=list, max_length=200)
    model_params: dict[str, Any] = Field(default_factory=dict)
    config: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list, max_length=50)
    message: str = Field(default="", max_length=10_000, description="Commit message.")


class PromptCreate(VersionCreate):
    """Body of ``POST /api/v1/prompts``: a new prompt and its first version."""

    project: str = Field(default="default", min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200)
    kind: Literal["text", "chat"] | None = Field(
        default=None, description="Defaults to chat when messages are given, else text."
    )


class PromptPublic(BaseModel):
    """A prompt with its labels (label -> version)."""

    id: int
    project: str
    name: str
    kind: str
    created_at: datetime
    updated_at: datetime
    latest_version: int
    labels: dict[str, int]


class VersionPublic(BaseModel):
    """An immutable prompt version; ``created`` is false when a push matched the latest."""

    prompt: str
    project: str
    version: int
    kind: str
    template: str | None
    messages: list[dict[str, Any]] | None
    variables: list[dict[str, Any]]
    model_params: dict[str, Any]
    config: dict[str, Any]
    tags: list[str]
    sha256: str
    message: str
    created_at: datetime
    created_by: str | None
    labels: list[str]
    created: bool = True


class LabelSet(_Body):
    """Body of ``PUT /api/v1/prompts/{name}/labels/{label}``."""

    version: int = Field(ge=1)
    reason: str = Field(default="", max_length=10_000)


class LabelRollback(_Body):
    """Body of ``POST /api/v1/prompts/{name}/labels/{label}/rollback``."""

    reason: str = Field(default="", max_length=10_000)


class LabelPublic(BaseModel):
    """Where a label points now."""

    prompt: str
    label: str
    version: int
    updated_at: datetime
    updated_by: str | None


class LabelEventPublic(BaseModel):
    """One move of a label: from which version to which, by whom, when and why."""

    id: int
    prompt: str
    label: str
    from_version: int | None
    to_version: int | None
    actor: str | None
    reason: str
    at: datetime


class DiffPublic(BaseModel):
    """Unified diffs between two versions, per section (empty string: unchanged)."""

    prompt: str
    from_version: int
    to_version: int
    changed: bool
    sections: dict[str, str]


class RenderRequest(_Body):
    """Body of ``POST /api/v1/prompts/{name}/render``: which version, and the variable values.

    Give ``version`` or ``label``; with neither, the ``production`` label is used.
    """

    version: int | None = Field(default=None, ge=1)
    label: str | None = Field(default=None, pattern=LABEL_PATTERN)
    variables: dict[str, Any] = Field(default_factory=dict)


class RenderResult(BaseModel):
    """A rendered prompt: ``text`` for a text prompt, ``messages`` for a chat prompt."""

    prompt: str
    version: int
    kind: str
    text: str | None = None
    messages: list[dict[str, Any]] | None = None
    model_params: dict[str, Any]
    config: dict[str, Any]
