"""Entities of the prompt registry, and the pure logic on them (content hash, diff). No I/O."""

from __future__ import annotations

import difflib
import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from podium.prompts.render import CHAT, canonical_json, chat_text

# A label name: a letter, then letters, digits, '_', '.' or '-' (never a version number).
LABEL_PATTERN = r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$"
# ``latest`` always resolves to the newest version; it can be read but never set.
LATEST_LABEL = "latest"
# Rollbacks are recorded with a reason starting with this marker (see ``rollback_stack``).
ROLLBACK_REASON_PREFIX = "rollback:"


@dataclass(frozen=True)
class Prompt:
    """A named prompt in a project, with its labels (label -> version)."""

    id: int
    project: str
    name: str
    kind: str
    created_at: datetime
    updated_at: datetime
    latest_version: int
    labels: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class PromptContent:
    """What a version holds; its ``sha256`` identifies identical pushes."""

    kind: str
    template: str | None
    messages: list[dict[str, Any]] | None
    variables: list[dict[str, Any]]
    model_params: dict[str, Any]
    config: dict[str, Any]

    @property
    def sha256(self) -> str:
        """The sha256 of the canonical JSON of everything that makes the prompt behave."""
        body = {
            "kind": self.kind,
            "template": self.template,
            "messages": self.messages,
            "variables": self.variables,
            "model_params": self.model_params,
            "config": self.config,
        }
        return hashlib.sha256(canonical_json(body).encode()).hexdigest()


@dataclass(frozen=True)
class PromptVersion:
    """An immutable version of a prompt."""

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
    labels: list[str] = field(default_factory=list)
    # False when a push found identical content and returned the latest version instead.
    created: bool = True

    def template_text(self) -> str:
        """The template, or for chat a stable text rendering of the messages (for diffs)."""
        if self.kind == CHAT:
            return chat_text(self.messages or [])
        return self.template or ""

    def lineage(self) -> dict[str, Any]:
        """What traces, gateway requests and eval results record about the prompt used."""
        return {"prompt": self.prompt, "version": self.version}


@dataclass(frozen=True)
class Label:
    """Where a label points now."""

    prompt: str
    label: str
    version: int
    updated_at: datetime
    updated_by: str | None


@dataclass(frozen=True)
class LabelEvent:
    """One recorded move of a label."""

    id: int
    prompt: str
    label: str
    from_version: int | None
    to_version: int | None
    actor: str | None
    reason: str
    at: datetime


@dataclass(frozen=True)
class VersionDiff:
    """Unified diffs between two versions, one per section (empty string: unchanged)."""

    prompt: str
    from_version: int
    to_version: int
    sections: dict[str, str]

    @property
    def changed(self) -> bool:
        """Whether any section differs."""
        return any(self.sections.values())


DIFF_SECTIONS = ("template", "variables", "model_params", "config", "tags")


def section_texts(version: PromptVersion) -> dict[str, str]:
    """Each diffable section of a version as text (structured ones as JSON, sorted keys)."""
    return {
        "template": version.template_text(),
        "variables": _json(version.variables),
        "model_params": _json(version.model_params),
        "config": _json(version.config),
        "tags": _json(sorted(version.tags)),
    }


def diff_versions(old: PromptVersion, new: PromptVersion) -> VersionDiff:
    """The unified diff of every section from ``old`` to ``new``."""
    before, after = section_texts(old), section_texts(new)
    sections = {}
    for name in DIFF_SECTIONS:
        lines = difflib.unified_diff(
            before[name].splitlines(keepends=True),
            after[name].splitlines(keepends=True),
            fromfile=f"{old.prompt}@v{old.version}/{name}",
            tofile=f"{new.prompt}@v{new.version}/{name}",
        )
        sections[name] = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    return VersionDiff(old.prompt, old.version, new.version, sections)


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def rollback_stack(events: list[LabelEvent]) -> list[int | None]:
    """Replay one label's events (oldest first) into its undo stack; the top is the target.

    The model registry's semantics: each ordinary move pushes the version the label left; a
    rollback (reason starting with ``ROLLBACK_REASON_PREFIX``, landing on the top) pops. So
    repeated rollbacks walk back v3 -> v2 -> v1 instead of toggling between the last two.
    """
    stack: list[int | None] = []
    for event in events:
        is_rollback = event.reason.startswith(ROLLBACK_REASON_PREFIX)
        if is_rollback and stack and stack[-1] == event.to_version:
            stack.pop()
        else:
            stack.append(event.from_version)
    return stack
