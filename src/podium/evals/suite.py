"""Eval suites: a dataset version x targets x scorers, defined in YAML or in Python.

A suite file::

    name: qa-smoke
    project: default
    dataset: {name: qa, version: 2}        # or "qa" (latest) or "qa@2"
    targets:
      - {name: small, url: "http://127.0.0.1:8000/v1", model: smollm2,
         params: {temperature: 0, max_tokens: 64}, system: "Answer briefly."}
      - {name: prompted, prompt: {name: qa, label: production},
         url: "http://127.0.0.1:8000/v1", model: smollm2}
      - {name: baseline, python: "mypackage.answers:answer"}
    scorers:
      - f1
      - exact_match
      - {name: regex, pattern: "\\d+"}
      - {name: shouts, function: "mypackage.scoring:shouts"}
      - {name: judge, url: "http://127.0.0.1:8000/v1", model: judge, rubric: "Is it correct?"}
    probes: {counterfactual: true, typos: {rate: 0.1, seed: 1}, paraphrase: true, injection: true}
    concurrency: 8
    timeout: 30          # seconds per item
    retries: 2           # extra attempts on a failed call, with exponential backoff

``load_suite(path)`` parses and checks a file (``InvalidInput`` naming the bad field);
``Suite`` and friends are the same thing built in Python.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podium.errors import InvalidInput
from podium.evals.scorers import FunctionScorer, Scorer, get_scorer
from podium.yamlio import read_yaml

_TARGET_KEYS = {
    "name",
    "route",
    "python",
    "url",
    "model",
    "params",
    "system",
    "api_key_env",
    "prompt",
    "price",
}
_SUITE_KEYS = {
    "name",
    "project",
    "dataset",
    "targets",
    "scorers",
    "probes",
    "concurrency",
    "timeout",
    "retries",
    "backoff",
    "description",
}


@dataclass(frozen=True)
class DatasetRef:
    """A dataset by name and version (None: the latest when the suite runs)."""

    name: str
    version: int | None = None


@dataclass(frozen=True)
class PromptRef:
    """A prompt by label (``production`` by default) or version."""

    name: str
    label: str | None = None
    version: int | None = None


@dataclass(frozen=True)
class TargetSpec:
    """What answers the items: a Python callable, an OpenAI-compatible URL + model, or a prompt
    rendered with each item and sent to a URL + model."""

    name: str
    python: str | None = None  # "module:function", called with the item's input
    url: str | None = None
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    system: str | None = None
    api_key_env: str | None = None
    prompt: PromptRef | None = None
    # USD per 1,000 tokens: {"input": 0.5, "output": 1.5}; gives each item a cost
    price: dict[str, float] = field(default_factory=dict)
    function: Callable[..., Any] | None = None  # a callable given directly (Python API)
    route: str | None = None  # a gateway route of the Podium server the run reports to

    def definition(self) -> dict[str, Any]:
        """What identifies the target for resumption (its hash), without secrets."""
        function = None
        if self.function is not None:
            function = f"{self.function.__module__}:{self.function.__qualname__}"
        definition = {
            "python": self.python or function,
            "url": self.url,
            "model": self.model,
            "params": self.params,
            "system": self.system,
            "prompt": None
            if self.prompt is None
            else {
                "name": self.prompt.name,
                "label": self.prompt.label,
                "version": self.prompt.version,
            },
        }
        if self.route is not None:  # only when set: older targets keep their hash (resumption)
            definition["route"] = self.route
        return definition


@dataclass(frozen=True)
class ScorerSpec:
    """A scorer by registered name with its parameters, or a custom ``module:function``."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    function: str | None = None
    higher_is_better: bool = True
    kind: str | None = None  # the registered scorer to build, when ``name`` is a new name

    def build(self) -> Scorer:
        """The scorer instance; ``InvalidInput`` for an unknown name or bad parameters."""
        if self.function is not None:
            function = load_callable(self.function, "scorers")
            return FunctionScorer(self.name, function, self.higher_is_better)
        scorer = get_scorer(self.kind or self.name, **self.params)
        # Two regex scorers need two names: the spec's name is the one results carry.
        scorer.name = self.name
        return scorer


@dataclass(frozen=True)
class Suite:
    """A dataset version x targets x scorers, with how to run it."""

    name: str
    dataset: DatasetRef
    targets: list[TargetSpec]
    scorers: list[ScorerSpec]
    project: str = "default"
    probes: dict[str, Any] = field(default_factory=dict)
    concurrency: int = 4
    timeout: float = 60.0
    retries: int = 2
    backoff: float = 0.5  # seconds before the first retry; doubled each time


def load_callable(ref: str, field_name: str) -> Callable[..., Any]:
    """The callable named ``module:function``; ``InvalidInput`` naming the field if it is not."""
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise InvalidInput(f"{ref!r} is not 'module:function'", field=field_name)
    if str(Path.cwd()) not in sys.path:
        # Suites name modules next to them (``podium eval run`` from a project's folder).
        sys.path.append(str(Path.cwd()))
    try:
        found: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise InvalidInput(f"cannot load {ref!r}: {exc}", field=field_name) from None
    if not callable(found):
        raise InvalidInput(f"{ref!r} is not callable", field=field_name)
    return found  # type: ignore[no-any-return]


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{where} must be a mapping, not {type(value).__name__}", field=where)
    return value


def _unknown(data: Mapping[str, Any], allowed: set[str], where: str) -> None:
    extra = sorted(set(data) - allowed)
    if extra:
        raise InvalidInput(
            f"unknown key {extra[0]!r} in {where}; use {', '.join(sorted(allowed))}", field=where
        )


def _dataset(value: object) -> DatasetRef:
    if isinstance(value, str):
        name, _, number = value.partition("@")
        if number and not number.isdigit():
            raise InvalidInput(f"dataset {value!r}: write name@VERSION", field="dataset")
        return DatasetRef(name, int(number) if number else None)
    data = _mapping(value, "dataset")
    _unknown(data, {"name", "version"}, "dataset")
    version = data.get("version")
    if version is not None and (not isinstance(version, int) or version < 1):
        raise InvalidInput("dataset.version must be a positive integer", field="dataset.version")
    return DatasetRef(str(data.get("name", "")), version)


def _target(value: object, index: int) -> TargetSpec:
    where = f"targets.{index}"
    data = _mapping(value, where)
    _unknown(data, _TARGET_KEYS, where)
    name = str(
        data.get("name")
        or data.get("route")
        or data.get("model")
        or data.get("python")
        or f"target-{index}"
    )
    prompt = None
    if data.get("prompt") is not None:
        raw = data["prompt"]
        ref = {"name": raw} if isinstance(raw, str) else dict(_mapping(raw, f"{where}.prompt"))
        _unknown(ref, {"name", "label", "version"}, f"{where}.prompt")
        version = ref.get("version")
        if version is not None and (not isinstance(version, int) or version < 1):
            raise InvalidInput(f"{where}.prompt.version must be a positive integer", field=where)
        label = ref.get("label")
        prompt = PromptRef(str(ref["name"]), str(label) if label else None, version)
    spec = TargetSpec(
        name=name,
        python=data.get("python"),
        route=None if data.get("route") is None else str(data["route"]),
        url=data.get("url"),
        model=data.get("model"),
        params=dict(_mapping(data.get("params") or {}, f"{where}.params")),
        system=data.get("system"),
        api_key_env=data.get("api_key_env"),
        prompt=prompt,
        price={k: float(v) for k, v in _mapping(data.get("price") or {}, f"{where}.price").items()},
    )
    check_target(spec, where)
    return spec


def check_target(spec: TargetSpec, where: str = "targets") -> None:
    """``InvalidInput`` unless the target is exactly one of: python, a gateway route, or
    url + model."""
    if spec.route is not None:
        if spec.python or spec.function or spec.url or spec.model or spec.api_key_env:
            raise InvalidInput(
                f"{where}: 'route' calls the Podium server's own gateway; drop 'python', "
                "'url', 'model' and 'api_key_env' (or drop 'route')",
                field=where,
            )
        if not spec.route.strip():
            raise InvalidInput(f"{where}.route must name a gateway route", field=where)
        return
    if (spec.python or spec.function) and (spec.url or spec.prompt):
        raise InvalidInput(
            f"{where}: give either 'python' or 'url' + 'model', not both", field=where
        )
    if not (spec.python or spec.function) and not (spec.url and spec.model):
        raise InvalidInput(
            f"{where}: give 'python: module:function', 'route' (a gateway route of this "
            "Podium), or 'url' and 'model' of an OpenAI-compatible server",
            field=where,
        )


def _scorer(value: object, index: int) -> ScorerSpec:
    where = f"scorers.{index}"
    if isinstance(value, str):
        if ":" in value:
            return ScorerSpec(value.rsplit(":", 1)[1], function=value)
        return ScorerSpec(value)
    data = dict(_mapping(value, where))
    name = data.pop("name", None)
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"{where} needs a 'name'", field=where)
    function = data.pop("function", None)
    higher = bool(data.pop("higher_is_better", True))
    # ``scorer: regex`` with another ``name``: a second instance of a built-in.
    kind = data.pop("scorer", None)
    return ScorerSpec(name, data, function, higher, str(kind) if kind else None)


def parse_suite(data: object) -> Suite:
    """A ``Suite`` from parsed YAML/JSON; ``InvalidInput`` naming the first bad field."""
    doc = _mapping(data, "suite")
    _unknown(doc, _SUITE_KEYS, "suite")
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput("the suite needs a 'name'", field="name")
    targets = doc.get("targets")
    if not isinstance(targets, list) or not targets:
        raise InvalidInput("the suite needs a list of 'targets'", field="targets")
    scorers = doc.get("scorers")
    if not isinstance(scorers, list) or not scorers:
        raise InvalidInput("the suite needs a list of 'scorers'", field="scorers")
    if "dataset" not in doc:
        raise InvalidInput("the suite needs a 'dataset' (name, or name@version)", field="dataset")
    numbers = {"concurrency": 4, "timeout": 60.0, "retries": 2, "backoff": 0.5}
    values: dict[str, Any] = {}
    for key, default in numbers.items():
        raw = doc.get(key, default)
        if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 0:
            raise InvalidInput(f"{key} must be a non-negative number", field=key)
        values[key] = type(default)(raw)
    if values["concurrency"] < 1:
        raise InvalidInput("concurrency must be at least 1", field="concurrency")
    specs = [_scorer(s, i) for i, s in enumerate(scorers)]
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise InvalidInput("two scorers share a name; give one a different 'name'", field="scorers")
    target_specs = [_target(t, i) for i, t in enumerate(targets)]
    if len({t.name for t in target_specs}) != len(target_specs):
        raise InvalidInput("two targets share a name; give one a different 'name'", field="targets")
    return Suite(
        name=name,
        dataset=_dataset(doc["dataset"]),
        targets=target_specs,
        scorers=specs,
        project=str(doc.get("project") or "default"),
        probes=dict(_mapping(doc.get("probes") or {}, "probes")),
        **values,
    )


def load_suite(path: str | os.PathLike[str]) -> Suite:
    """Read and check the suite file at ``path`` (YAML or JSON)."""
    source = Path(path)
    if not source.is_file():
        raise InvalidInput(f"suite file {str(source)!r} does not exist", field="suite")
    return parse_suite(read_yaml(source, field="suite"))
