"""Use cases of the prompt registry. Raises ``podium.errors``; knows nothing of HTTP or the CLI.

A prompt lives in a project, has a kind (``text``: one template; ``chat``: a list of messages)
and owns immutable, densely numbered versions (1, 2, 3 …). Pushing content identical to the
latest version (same sha256 over template, messages, variables, model parameters and config)
returns that version with ``created=False`` instead of adding one. Labels (``production``,
``staging`` …) point at versions and move atomically, each move appended to the label history;
``rollback_label`` reads that history as an undo stack, exactly like the model registry's
aliases. ``latest`` is reserved: it always resolves to the newest version.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection

from podium.access.models import DEFAULT_PROJECT
from podium.access.service import ProjectService, check_name
from podium.errors import Conflict, InvalidInput, NotFound
from podium.prompts import sql
from podium.prompts.models import (
    LABEL_PATTERN,
    LATEST_LABEL,
    ROLLBACK_REASON_PREFIX,
    Label,
    LabelEvent,
    Prompt,
    PromptContent,
    PromptVersion,
    VersionDiff,
    diff_versions,
    rollback_stack,
)
from podium.prompts.render import (
    CHAT,
    TEXT,
    canonical_json,
    check_prompt,
    parse_variables,
    render_chat,
    render_text,
)
from podium.store.clock import now_ms
from podium.store.engine import Database

_LABEL = re.compile(LABEL_PATTERN)
MAX_TAGS = 50
MAX_JSON_CHARS = 100_000


def check_label(label: str, *, settable: bool = False) -> str:
    """Return ``label`` if valid; ``InvalidInput`` otherwise (``latest`` too when ``settable``)."""
    if not _LABEL.match(label):
        raise InvalidInput(
            f"label {label!r} is not valid: use 1-100 letters, digits, '_', '.' or '-', "
            "starting with a letter (e.g. production, staging)",
            field="label",
        )
    if settable and label.lower() == LATEST_LABEL:
        raise InvalidInput(
            f"label {label!r} is reserved: 'latest' always resolves to the newest version and "
            "cannot be set; choose another name such as 'production'",
            field="label",
        )
    return label


class PromptService:
    """Prompts, immutable versions, movable labels with history, rendering and diffs."""

    def __init__(self, db: Database, projects: ProjectService) -> None:
        self._db = db
        self._projects = projects

    # -- prompts ------------------------------------------------------------------------------

    def create_prompt(
        self,
        project: str,
        name: str,
        *,
        kind: str | None = None,
        template: str | None = None,
        messages: Sequence[Mapping[str, Any]] | None = None,
        variables: Sequence[Mapping[str, Any]] | None = None,
        model_params: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        message: str = "",
        labels: Sequence[str] = (),
        actor: str | None = None,
    ) -> PromptVersion:
        """Create a prompt with its first version (and ``labels`` on it); ``Conflict`` if taken.

        ``kind`` defaults to ``chat`` when ``messages`` are given, else ``text``.
        """
        try:
            check_name("project", project)
        except InvalidInput as exc:
            raise InvalidInput(exc.message, field="project") from None
        check_name("prompt", name)
        kind = kind or (CHAT if messages is not None else TEXT)
        content = _content(kind, template, messages, variables, model_params, config)
        clean_tags = _check_tags(tags)
        for label in labels:
            check_label(label, settable=True)
        owner = self._projects.ensure(project)
        now = now_ms()
        with self._db.write() as conn:
            prompt_id = sql.insert_prompt(conn, owner.id, owner.name, name, kind, now)
            prompt = self._prompt(conn, owner.name, name)
            assert prompt.id == prompt_id
            return self._add_version(conn, prompt, content, clean_tags, message, labels, actor, now)

    def get_prompt(self, project: str, name: str) -> Prompt:
        """The prompt with its labels; ``NotFound``."""
        with self._db.read() as conn:
            return self._prompt(conn, project, name)

    def list_prompts(self, project: str, offset: int = 0, limit: int = 100) -> list[Prompt]:
        """The project's prompts by name (callers paging fetch ``limit + 1``); ``NotFound``."""
        try:
            owner = self._projects.by_name(project)
        except (NotFound, InvalidInput):
            if project == DEFAULT_PROJECT:
                return []
            raise NotFound(
                f"project {project!r} does not exist; create it with `podium projects create`",
                field="project",
            ) from None
        with self._db.read() as conn:
            return sql.list_prompts(conn, owner.id, offset, limit)

    def delete_prompt(self, project: str, name: str) -> None:
        """Delete a prompt with its versions, labels and label history; ``NotFound``."""
        with self._db.write() as conn:
            sql.delete_prompt(conn, self._prompt(conn, project, name, lock=True).id)

    # -- versions -----------------------------------------------------------------------------

    def push_version(
        self,
        project: str,
        name: str,
        *,
        template: str | None = None,
        messages: Sequence[Mapping[str, Any]] | None = None,
        variables: Sequence[Mapping[str, Any]] | None = None,
        model_params: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
        tags: Sequence[str] | None = None,
        message: str = "",
        labels: Sequence[str] = (),
        actor: str | None = None,
    ) -> PromptVersion:
        """Add the prompt's next version, or return the latest with ``created=False`` if identical.

        Safe under concurrency: the prompt row is locked, so numbers stay dense and two identical
        concurrent pushes make one version. ``labels`` are moved to the result either way.
        """
        clean_tags = _check_tags(tags)
        for label in labels:
            check_label(label, settable=True)
        now = now_ms()
        with self._db.write() as conn:
            prompt = self._prompt(conn, project, name, lock=True)
            content = _content(prompt.kind, template, messages, variables, model_params, config)
            return self._add_version(conn, prompt, content, clean_tags, message, labels, actor, now)

    def get_version(self, project: str, name: str, version: int) -> PromptVersion:
        """One version with the labels pointing at it; ``NotFound``."""
        with self._db.read() as conn:
            return self._version(conn, self._prompt(conn, project, name), version)

    def get_by_label(self, project: str, name: str, label: str) -> PromptVersion:
        """The version ``label`` points at (``latest``: the newest); ``NotFound``."""
        check_label(label)
        with self._db.read() as conn:
            prompt = self._prompt(conn, project, name)
            if label.lower() == LATEST_LABEL:
                return self._version(conn, prompt, prompt.latest_version)
            found = sql.get_label(conn, prompt, label)
            if found is None:
                raise _missing_label(prompt, label)
            return self._version(conn, prompt, found.version)

    def resolve(
        self, project: str, name: str, *, version: int | None = None, label: str | None = None
    ) -> PromptVersion:
        """The version by number or label (``production`` when neither is given)."""
        if version is not None and label is not None:
            raise InvalidInput("give either version or label, not both", field="version")
        if version is not None:
            return self.get_version(project, name, version)
        return self.get_by_label(project, name, label or "production")

    def list_versions(
        self, project: str, name: str, offset: int = 0, limit: int = 100
    ) -> list[PromptVersion]:
        """Versions, newest first (callers paging fetch ``limit + 1``); ``NotFound``."""
        with self._db.read() as conn:
            return sql.list_versions(conn, self._prompt(conn, project, name), offset, limit)

    def diff(self, project: str, name: str, from_version: int, to_version: int) -> VersionDiff:
        """Unified diffs of template, variables, model params, config and tags; ``NotFound``."""
        with self._db.read() as conn:
            prompt = self._prompt(conn, project, name)
            old = self._version(conn, prompt, from_version, field="from")
            new = self._version(conn, prompt, to_version, field="to")
        return diff_versions(old, new)

    def render(
        self,
        project: str,
        name: str,
        values: Mapping[str, Any],
        *,
        version: int | None = None,
        label: str | None = None,
    ) -> tuple[PromptVersion, str | list[dict[str, Any]]]:
        """Render a version with ``values``: the version and its text (or messages)."""
        found = self.resolve(project, name, version=version, label=label)
        return found, render_version(found, values)

    # -- labels -------------------------------------------------------------------------------

    def set_label(
        self,
        project: str,
        name: str,
        label: str,
        version: int,
        *,
        actor: str | None,
        reason: str = "",
    ) -> Label:
        """Point ``label`` at ``version``, recording the move (a no-op if it is already there)."""
        check_label(label, settable=True)
        now = now_ms()
        with self._db.write() as conn:
            prompt = self._prompt(conn, project, name, lock=True)
            self._version(conn, prompt, version)
            self._move(conn, prompt, label, version, actor, reason, now)
            return _present(sql.get_label(conn, prompt, label))

    def rollback_label(
        self, project: str, name: str, label: str, *, actor: str | None, reason: str = ""
    ) -> Label:
        """Undo the label's last move not already undone; ``Conflict`` when there is none."""
        check_label(label, settable=True)
        now = now_ms()
        with self._db.write() as conn:
            prompt = self._prompt(conn, project, name, lock=True)
            events = sql.list_label_events(conn, prompt, label, newest_first=False)
            stack = rollback_stack(events)
            target = stack[-1] if stack else None
            if target is None:
                raise Conflict(
                    f"label {label!r} of prompt {name!r} has no earlier version to roll back to; "
                    f"point it at one with `podium prompts label {name} VERSION {label}`",
                    field="label",
                )
            current = sql.get_label(conn, prompt, label)
            text = f"{ROLLBACK_REASON_PREFIX} {reason}".strip()
            sql.put_label(conn, prompt.id, label, target, actor, now)
            sql.insert_label_event(
                conn,
                prompt.id,
                label,
                from_version=current.version if current else None,
                to_version=target,
                actor=actor,
                reason=text,
                at=now,
            )
            sql.touch_prompt(conn, prompt.id, now)
            return _present(sql.get_label(conn, prompt, label))

    def label_history(self, project: str, name: str, label: str | None = None) -> list[LabelEvent]:
        """Every label move (of one label when given), newest first."""
        if label is not None:
            check_label(label)
        with self._db.read() as conn:
            prompt = self._prompt(conn, project, name)
            return sql.list_label_events(conn, prompt, label, newest_first=True)

    # -- internals ----------------------------------------------------------------------------

    def _add_version(
        self,
        conn: Connection,
        prompt: Prompt,
        content: PromptContent,
        tags: list[str],
        message: str,
        labels: Sequence[str],
        actor: str | None,
        now: int,
    ) -> PromptVersion:
        latest = (
            sql.get_version(conn, prompt, prompt.latest_version) if prompt.latest_version else None
        )
        created = latest is None or latest.sha256 != content.sha256
        number = prompt.latest_version
        if created:
            number = sql.next_version_number(conn, prompt.id, now)
            sql.insert_version(
                conn,
                prompt.id,
                number,
                content,
                tags=tags,
                message=message,
                created_at=now,
                created_by=actor,
            )
        fresh = self._prompt(conn, prompt.project, prompt.name)
        for label in labels:
            self._move(conn, fresh, label, number, actor, message, now)
        result = self._version(conn, self._prompt(conn, prompt.project, prompt.name), number)
        return _with_created(result, created)

    def _move(
        self,
        conn: Connection,
        prompt: Prompt,
        label: str,
        version: int,
        actor: str | None,
        reason: str,
        now: int,
    ) -> None:
        current = sql.get_label(conn, prompt, label)
        if current is not None and current.version == version:
            return
        sql.put_label(conn, prompt.id, label, version, actor, now)
        sql.insert_label_event(
            conn,
            prompt.id,
            label,
            from_version=current.version if current else None,
            to_version=version,
            actor=actor,
            reason=reason,
            at=now,
        )
        sql.touch_prompt(conn, prompt.id, now)

    @staticmethod
    def _prompt(conn: Connection, project: str, name: str, *, lock: bool = False) -> Prompt:
        found = sql.find_prompt(conn, project, name, lock=lock)
        if found is None:
            raise NotFound(
                f"there is no prompt {name!r} in project {project!r}; list them with "
                f"`podium prompts list --project {project}`",
                field="name",
            )
        return found

    @staticmethod
    def _version(
        conn: Connection, prompt: Prompt, version: int, *, field: str = "version"
    ) -> PromptVersion:
        found = sql.get_version(conn, prompt, version)
        if found is None:
            raise NotFound(
                f"prompt {prompt.name!r} has no version {version}; its versions are 1 to "
                f"{prompt.latest_version}",
                field=field,
            )
        return found


def render_version(version: PromptVersion, values: Mapping[str, Any]) -> str | list[dict[str, Any]]:
    """Render a stored version with ``values`` (same rules as the SDK's ``Prompt.render``)."""
    variables = parse_variables(version.variables)
    if version.kind == CHAT:
        return render_chat(version.messages or [], variables, values)
    return render_text(version.template or "", variables, values)


def _content(
    kind: str,
    template: str | None,
    messages: Sequence[Mapping[str, Any]] | None,
    variables: Sequence[Mapping[str, Any]] | None,
    model_params: Mapping[str, Any] | None,
    config: Mapping[str, Any] | None,
) -> PromptContent:
    parsed = parse_variables(variables)
    check_prompt(kind, template, messages, parsed)
    for field, text in (("template", template), ("messages", canonical_json(messages))):
        if text is not None and "\x00" in text:
            raise InvalidInput(f"{field} contains a NUL character", field=field)
    params = _check_json("model_params", model_params)
    _check_model_params(params)
    return PromptContent(
        kind=kind,
        template=template,
        messages=[dict(m) for m in messages] if messages is not None else None,
        variables=[v.to_dict() for v in parsed],
        model_params=params,
        config=_check_json("config", config),
    )


def _check_json(field: str, value: Mapping[str, Any] | None) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{field} must be a JSON object", field=field)
    text = canonical_json(value)
    if len(text) > MAX_JSON_CHARS or "\\u0000" in text:
        raise InvalidInput(
            f"{field} must be a JSON object under {MAX_JSON_CHARS} characters without NUL",
            field=field,
        )
    return dict(value)


# Loose checks of the well-known model parameters; anything else passes through unchanged.
_PARAM_TYPES: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "temperature": (int, float),
    "top_p": (int, float),
    "max_tokens": (int,),
    "presence_penalty": (int, float),
    "frequency_penalty": (int, float),
    "seed": (int,),
}


def _check_model_params(params: Mapping[str, Any]) -> None:
    for key, types in _PARAM_TYPES.items():
        value = params.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, types)):
            expected = " or ".join(t.__name__ for t in types)
            raise InvalidInput(f"model_params.{key} must be {expected}", field="model_params")
    stop = params.get("stop")
    if stop is not None and not (
        isinstance(stop, str) or (isinstance(stop, list) and all(isinstance(s, str) for s in stop))
    ):
        raise InvalidInput(
            "model_params.stop must be a string or a list of strings", field="model_params"
        )


def _check_tags(tags: Sequence[str] | None) -> list[str]:
    found = list(tags or [])
    if len(found) > MAX_TAGS or any(
        not isinstance(t, str) or not t or len(t) > 100 or "\x00" in t for t in found
    ):
        raise InvalidInput(
            f"tags must be at most {MAX_TAGS} non-empty strings of up to 100 characters",
            field="tags",
        )
    return sorted(set(found))


def _with_created(version: PromptVersion, created: bool) -> PromptVersion:
    if created:
        return version
    return replace(version, created=False)


def _present(label: Label | None) -> Label:
    assert label is not None  # written in the same transaction
    return label


def _missing_label(prompt: Prompt, label: str) -> NotFound:
    known = ", ".join(sorted(prompt.labels)) or "none"
    return NotFound(
        f"prompt {prompt.name!r} has no label {label!r} (labels: {known}; 'latest' always "
        f"works); set it with `podium prompts label {prompt.name} VERSION {label}`",
        field="label",
    )
