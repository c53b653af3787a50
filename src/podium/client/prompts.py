"""SDK for the prompt registry: fetch a prompt by label or version, render it, push new versions.

    import podium.prompts

    prompt = podium.prompts.get("support-reply", label="production")
    text = prompt.render(customer="Ada", tone="warm")
    trace_attributes = prompt.lineage()  # {"prompt": "support-reply", "version": 7}

``get`` keeps a per-process cache so a hot path makes no request at all:

- fresh (younger than ``cache_ttl`` seconds): returned with no request;
- stale: returned at once while one background thread fetches the new version
  (stale-while-revalidate);
- the server unreachable: the last known version keeps being served (a warning is logged once);
- nothing cached and the server unreachable: ``fallback`` (a template string or a list of
  messages) when given, else ``ServiceUnavailable``.

A version fetched by number never changes, so it is cached for good. Rendering happens here, with
the server's rules (``podium.prompts.render``, imported lazily so ``import podium`` stays light).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from podium import errors
from podium.client.api import Client

log = logging.getLogger("podium.client")

DEFAULT_LABEL = "production"


@dataclass(frozen=True)
class Prompt:
    """One version of a prompt, as the SDK sees it; ``render`` fills its template."""

    name: str
    version: int
    kind: str = "text"
    template: str | None = None
    messages: list[dict[str, Any]] | None = None
    variables: list[dict[str, Any]] | None = field(default_factory=list)
    model_params: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    project: str = "default"
    sha256: str = ""
    created: bool = True
    # True for a prompt built from ``fallback`` because the server could not be reached.
    is_fallback: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Prompt:
        """A ``Prompt`` from the API's version JSON."""
        return cls(
            name=data["prompt"],
            version=data["version"],
            kind=data["kind"],
            template=data.get("template"),
            messages=data.get("messages"),
            variables=list(data.get("variables") or []),
            model_params=dict(data.get("model_params") or {}),
            config=dict(data.get("config") or {}),
            labels=list(data.get("labels") or []),
            tags=list(data.get("tags") or []),
            project=data.get("project", "default"),
            sha256=data.get("sha256", ""),
            created=data.get("created", True),
        )

    def render(self, **values: Any) -> Any:
        """The text (text prompt) or list of messages (chat prompt) filled with ``values``.

        Raises ``InvalidInput`` naming a missing, mistyped or unknown variable, or a template
        construct the sandbox refuses.
        """
        from podium.prompts import render  # lazy: jinja2 loads only when a prompt renders

        if self.variables is None:  # a fallback: no declared variables to check against
            if self.kind == render.CHAT:
                return render.render_chat(self.messages or [], [], values, check=False)
            return render.render_text(self.template or "", [], values, check=False)
        variables = render.parse_variables(self.variables)
        if self.kind == render.CHAT:
            return render.render_chat(self.messages or [], variables, values)
        return render.render_text(self.template or "", variables, values)

    def lineage(self) -> dict[str, Any]:
        """What traces, gateway requests and eval results record: ``{prompt, version}``."""
        return {"prompt": self.name, "version": self.version}


@dataclass
class _Entry:
    prompt: Prompt
    fetched_at: float
    refreshing: bool = False
    warned: bool = False


_cache: dict[tuple[str, str, str, str], _Entry] = {}
_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every cached prompt (tests, or after pushing from another process)."""
    with _lock:
        _cache.clear()


def get(
    name: str,
    *,
    label: str | None = None,
    version: int | None = None,
    project: str = "default",
    client: Client | None = None,
    cache_ttl: float = 60.0,
    fallback: str | Sequence[Mapping[str, Any]] | None = None,
) -> Prompt:
    """The prompt ``name`` by ``label`` (``production`` by default) or ``version``.

    Cached per process for ``cache_ttl`` seconds (see the module docstring); ``NotFound`` for
    an unknown prompt, label or version; ``ServiceUnavailable`` when the server cannot be
    reached, nothing is cached and no ``fallback`` is given.
    """
    if version is not None and label is not None:
        raise errors.InvalidInput("give either label or version, not both", field="version")
    selector = f"v{version}" if version is not None else f"@{label or DEFAULT_LABEL}"
    key = (_server(client), project, name, selector)
    with _lock:
        entry = _cache.get(key)
        now = time.monotonic()
        if entry is not None and (version is not None or now - entry.fetched_at < cache_ttl):
            return entry.prompt
        if entry is not None and cache_ttl > 0:
            if not entry.refreshing:
                entry.refreshing = True
                threading.Thread(
                    target=_refresh,
                    args=(key, name, label, version, project, client),
                    name="podium-prompt-refresh",
                    daemon=True,
                ).start()
            return entry.prompt
    try:
        prompt = _fetch(name, label, version, project, client)
    except errors.ServiceUnavailable as exc:
        if entry is not None:
            _warn_once(key, entry, exc)
            return entry.prompt
        if fallback is not None:
            log.warning("podium: serving the fallback for prompt %r: %s", name, exc)
            return _fallback(name, fallback)
        raise
    with _lock:
        _cache[key] = _Entry(prompt, time.monotonic())
    return prompt


def push(
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
    project: str = "default",
    client: Client | None = None,
) -> Prompt:
    """Push a version of ``name`` (the prompt is created by its first push).

    Content identical to the latest version makes no new version: the result is the latest,
    with ``created=False``. ``labels`` are then moved to the result (which needs the
    ``prompts:label`` permission, an admin's: ``Forbidden`` otherwise). ``InvalidInput`` names
    what is wrong with the template or variables.
    """
    body: dict[str, Any] = {
        "template": template,
        "messages": [dict(m) for m in messages] if messages is not None else None,
        "variables": [dict(v) for v in variables or []],
        "model_params": dict(model_params or {}),
        "config": dict(config or {}),
        "tags": list(tags or []),
        "message": message,
    }
    with _client(client) as api:
        data = push_json(api, project, name, body, labels=labels)
    with _lock:
        for key in [k for k in _cache if k[1:3] == (project, name) and k[3].startswith("@")]:
            del _cache[key]
    return Prompt.from_json(data)


def push_json(
    api: Client,
    project: str,
    name: str,
    body: dict[str, Any],
    *,
    labels: Sequence[str] = (),
) -> dict[str, Any]:
    """POST a version (creating the prompt on its first push), then move ``labels`` to it.

    ``body`` is a version body; a ``kind`` in it is used only when the prompt is created.
    Returns the version JSON (with its labels and ``created``).
    """
    pushed = _push_version(api, project, name, body)
    if not labels:
        return pushed
    for label in labels:
        api.request(
            "PUT",
            f"{_prompt_path(name)}/labels/{quote(label, safe='')}",
            json={"version": pushed["version"], "reason": body.get("message", "")},
            params={"project": project},
        )
    path = f"{_prompt_path(name)}/versions/{pushed['version']}"
    version: dict[str, Any] = api.get(path, project=project)
    return {**version, "created": pushed["created"]}


def _push_version(api: Client, project: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
    path = f"{_prompt_path(name)}/versions"
    version_body = {k: v for k, v in body.items() if k != "kind"}
    for _ in range(2):
        try:
            pushed: dict[str, Any] = api.post(path, version_body, params={"project": project})
            return pushed
        except errors.NotFound as exc:
            if exc.field != "name":
                raise
        try:
            created: dict[str, Any] = api.post(
                "/prompts", {**body, "project": project, "name": name}
            )
            return created
        except errors.Conflict:
            continue  # created concurrently by someone else: push a version to it
    raise errors.Conflict(f"prompt {name!r} kept changing while being pushed; try again")


# -- internals ----------------------------------------------------------------------------------


def _prompt_path(name: str) -> str:
    return f"/prompts/{quote(name, safe='')}"


def _server(client: Client | None) -> str:
    if client is None:  # Client() reads PODIUM_URL: key by it (unset: embedded mode)
        return "env:" + (os.environ.get("PODIUM_URL") or "")
    return client.url or f"in-process:{id(client)}"


def _fetch(
    name: str, label: str | None, version: int | None, project: str, client: Client | None
) -> Prompt:
    if version is not None:
        path = f"{_prompt_path(name)}/versions/{int(version)}"
    else:
        path = f"{_prompt_path(name)}/labels/{quote(label or DEFAULT_LABEL, safe='')}"
    with _client(client) as api:
        return Prompt.from_json(api.get(path, project=project))


def _refresh(
    key: tuple[str, str, str, str],
    name: str,
    label: str | None,
    version: int | None,
    project: str,
    client: Client | None,
) -> None:
    try:
        prompt = _fetch(name, label, version, project, client)
    except errors.PodiumError as exc:
        with _lock:
            entry = _cache.get(key)
            if entry is not None:
                entry.refreshing = False
                _warn_once(key, entry, exc)
        return
    with _lock:
        _cache[key] = _Entry(prompt, time.monotonic())


def _warn_once(key: tuple[str, str, str, str], entry: _Entry, exc: errors.PodiumError) -> None:
    if not entry.warned:
        entry.warned = True
        log.warning(
            "podium: serving cached version %s of prompt %r (refresh failed: %s)",
            entry.prompt.version,
            key[2],
            exc.message,
        )


def _fallback(name: str, fallback: str | Sequence[Mapping[str, Any]]) -> Prompt:
    if isinstance(fallback, str):
        return Prompt(
            name=name, version=0, kind="text", template=fallback, variables=None, is_fallback=True
        )
    messages = [dict(m) for m in fallback]
    return Prompt(
        name=name, version=0, kind="chat", messages=messages, variables=None, is_fallback=True
    )


@contextmanager
def _client(client: Client | None) -> Iterator[Client]:
    if client is not None:
        yield client
        return
    with Client() as owned:
        yield owned


__all__ = ["Prompt", "clear_cache", "get", "push"]
