"""Targets: what produces an output for an item.

``build_target(spec, client)`` turns a ``TargetSpec`` into a callable ``target(item) ->
TargetOutput``: a Python callable (called with the item's input, or with ``(input, item)`` when
it takes two arguments), an OpenAI-compatible URL + model, a route of the Podium gateway the run
reports to (its own ``/v1``, over HTTP or in-process, so a suite needs no URL), or a prompt
version rendered with the item and sent to a URL + model or a route. A callable may return a
string, or a dict with ``output`` and optionally ``cost`` and ``usage``.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from podium.errors import InvalidInput
from podium.evals._openai import chat_completion
from podium.evals.suite import TargetSpec, load_callable

PROJECT_HEADER = "x-podium-project"  # which project's routes the gateway serves (gateway docs)


@dataclass(frozen=True)
class TargetOutput:
    """The output of one call, with what it cost."""

    output: str
    cost: float = 0.0
    usage: dict[str, int] = field(default_factory=dict)


@dataclass
class Target:
    """A ready-to-call target, with the provenance an experiment records."""

    name: str
    call: Callable[[dict[str, Any]], TargetOutput]
    definition: dict[str, Any]
    prompt: str | None = None
    prompt_version: int | None = None
    close: Callable[[], None] = lambda: None  # releases connections once the target is done

    @property
    def hash(self) -> str:
        """sha256 of the canonical definition: the same target resumes the same experiment."""
        canonical = json.dumps(self.definition, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()


def _price(spec: TargetSpec, usage: dict[str, int]) -> float:
    return (
        usage.get("prompt_tokens", 0) * spec.price.get("input", 0.0)
        + usage.get("completion_tokens", 0) * spec.price.get("output", 0.0)
    ) / 1000.0


def _python(spec: TargetSpec) -> Callable[[dict[str, Any]], TargetOutput]:
    function = spec.function or load_callable(spec.python or "", "targets")
    try:
        takes_item = len(inspect.signature(function).parameters) >= 2
    except (TypeError, ValueError):
        takes_item = False

    def call(item: dict[str, Any]) -> TargetOutput:
        result = function(item["input"], item) if takes_item else function(item["input"])
        if isinstance(result, dict):
            usage = {k: int(v) for k, v in (result.get("usage") or {}).items()}
            return TargetOutput(
                str(result.get("output", "")), float(result.get("cost", 0.0)), usage
            )
        return TargetOutput(str(result))

    return call


def _variables(item: dict[str, Any]) -> dict[str, Any]:
    """A prompt's variables for an item: a JSON-object input spreads into them, else
    ``input``; ``expected`` and the metadata's keys are offered too."""
    values: dict[str, Any] = dict(item.get("metadata") or {})
    try:
        parsed = json.loads(item["input"])
    except (ValueError, TypeError):
        parsed = None
    if isinstance(parsed, dict):
        values.update(parsed)
    values["input"] = item["input"]
    return values


def build_target(
    spec: TargetSpec, client: Any = None, project: str = "default", timeout: float | None = None
) -> Target:
    """A callable target for ``spec``; for a prompt target, ``client`` fetches the version.
    ``timeout`` (seconds) bounds each HTTP call; None waits as long as the server takes."""
    definition = spec.definition()
    if spec.python or spec.function:
        if spec.function is not None:
            try:
                source = inspect.getsource(spec.function)
            except (OSError, TypeError):
                source = ""
            definition["source"] = hashlib.sha256(source.encode()).hexdigest()
        return Target(spec.name, _python(spec), definition)
    url, model = spec.url or "", spec.model or ""
    api_key = os.environ.get(spec.api_key_env) if spec.api_key_env else None
    headers: dict[str, str] = {}
    close: Callable[[], None]
    if spec.route is not None:
        if client is None:
            raise InvalidInput(
                f"target {spec.name!r} calls gateway route {spec.route!r}, which needs a "
                "Podium client",
                field="targets",
            )
        # The gateway's /v1 next to the REST API the client talks to (a server, or the app
        # in-process); the client's own connection carries its API key.
        http: httpx.Client = client.http
        url, model = str(http.base_url.copy_with(path="/v1")), spec.route
        headers = {PROJECT_HEADER: project}
        close = lambda: None  # noqa: E731 - the connection is the client's, not ours
    else:
        http = httpx.Client(limits=httpx.Limits(max_connections=64, max_keepalive_connections=64))
        close = http.close
    rendered: Any = None
    params = dict(spec.params)
    if spec.prompt is not None:
        if client is None:
            raise InvalidInput("a prompt target needs a Podium client", field="targets")
        from podium.client import prompts as sdk_prompts

        rendered = sdk_prompts.get(
            spec.prompt.name,
            label=spec.prompt.label if spec.prompt.version is None else None,
            version=spec.prompt.version,
            project=project,
            client=client,
            cache_ttl=0,
        )
        # The prompt's own model parameters, overridden by the suite's.
        params = {**rendered.model_params, **params}
        definition["prompt_version"] = rendered.version
        definition["prompt_sha256"] = rendered.sha256

    def call(item: dict[str, Any]) -> TargetOutput:
        if rendered is not None:
            # Only the variables the prompt declares: rendering refuses unknown names.
            offered = _variables(item)
            declared = [v["name"] for v in rendered.variables or []]
            filled = rendered.render(**{k: offered[k] for k in declared if k in offered})
            messages = filled if isinstance(filled, list) else [{"role": "user", "content": filled}]
        else:
            messages = [{"role": "user", "content": item["input"]}]
        if spec.system:
            messages = [{"role": "system", "content": spec.system}, *messages]
        completion = chat_completion(
            http,
            url,
            model,
            messages,
            params=params,
            api_key=api_key,
            timeout=timeout,
            headers=headers,
        )
        return TargetOutput(completion.text, _price(spec, completion.usage), completion.usage)

    return Target(
        spec.name,
        call,
        definition,
        prompt=rendered.name if rendered is not None else None,
        prompt_version=rendered.version if rendered is not None else None,
        close=close,
    )
