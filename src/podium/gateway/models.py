"""Entities of the gateway: routes, their deployments, limits and the route history.

A *route* is a public model name inside a project (what a client sends as ``model``). It owns one
or more *deployments*: a provider (``openai`` for any OpenAI-compatible upstream, ``local`` for the
in-process model), the provider's own model name, a weight for the traffic split, a role
(``stable`` or ``canary``) and optionally a prompt (name + label) whose messages are put in front
of the client's. Instead of a fixed provider model, a deployment can bind a registry model
version or alias: the gateway resolves it per request (cached for about a second), so moving the
alias moves the traffic. Route specs are validated pydantic models (frozen) because the same
shape comes from the REST API, the YAML file and the database; everything here is pure (no I/O).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,199}$"
ENV_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,199}$"
PROVIDERS = ("openai", "local")
GUARDRAILS = ("pii_redaction",)


class DeploymentSpec(BaseModel):
    """One deployment of a route: where requests for it go and how much traffic it gets."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="Deployment name, unique in its route.")
    provider: Literal["openai", "local"] = Field(
        default="openai",
        description="'openai': any OpenAI-compatible upstream; 'local': the in-process model.",
    )
    model: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="The provider's model name (not needed when a registry model is bound).",
    )
    base_url: str | None = Field(
        default=None,
        max_length=2000,
        description="Upstream base URL ending in /v1 (openai provider), e.g. http://host:8000/v1.",
    )
    api_key_env: str | None = Field(
        default=None,
        pattern=ENV_PATTERN,
        description="Name of the environment variable holding the upstream's API key.",
    )
    weight: float = Field(default=1.0, ge=0, le=1_000_000, description="Share of the traffic.")
    role: Literal["stable", "canary"] = Field(default="stable", description="stable or canary.")
    prompt: str | None = Field(
        default=None, max_length=200, description="Prompt whose messages are prepended."
    )
    prompt_label: str = Field(
        default="production", max_length=100, description="Label of the bound prompt."
    )
    registry_model: str | None = Field(
        default=None,
        max_length=200,
        description="Registered model whose version this deployment serves.",
    )
    registry_alias: str | None = Field(
        default=None,
        max_length=100,
        description="Alias of the registered model to follow (e.g. 'production').",
    )
    registry_version: int | None = Field(
        default=None, ge=1, description="A fixed version of the registered model."
    )
    connect_timeout_s: float = Field(default=5.0, gt=0, le=600)
    read_timeout_s: float = Field(default=60.0, gt=0, le=3600)
    total_timeout_s: float = Field(default=300.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _upstream_needs_url(self) -> DeploymentSpec:
        self._check_model_source()
        if self.provider == "openai" and not self.base_url:
            raise ValueError(
                f"deployment {self.name!r}: provider 'openai' needs base_url "
                "(e.g. http://127.0.0.1:8000/v1)"
            )
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"deployment {self.name!r}: base_url must start with http(s)://")
        return self

    def _check_model_source(self) -> None:
        pinned = (self.registry_alias is not None) + (self.registry_version is not None)
        if self.registry_model is None:
            if pinned:
                raise ValueError(
                    f"deployment {self.name!r}: registry_alias/registry_version need "
                    "registry_model (the registered model's name)"
                )
            if self.model is None:
                raise ValueError(
                    f"deployment {self.name!r}: needs model (the provider's model name) or "
                    "registry_model (a registered model) with registry_alias or registry_version"
                )
        elif pinned != 1:
            raise ValueError(
                f"deployment {self.name!r}: registry_model needs exactly one of registry_alias "
                "(follow an alias, e.g. 'production') or registry_version (a fixed version)"
            )

    @property
    def registry_ref(self) -> str | None:
        """``name@alias`` or ``name/version`` of the bound registry model, if any."""
        if self.registry_model is None:
            return None
        if self.registry_alias is not None:
            return f"{self.registry_model}@{self.registry_alias}"
        return f"{self.registry_model}/{self.registry_version}"


class CanarySpec(BaseModel):
    """A canary rollout: the canary deployment's share steps up; it is rolled back on regression.

    ``step`` indexes ``steps`` (percent of traffic to the canary). Rollback happens when, over the
    last ``window_s`` seconds and with at least ``min_requests`` on each side, the canary's error
    rate exceeds stable's by more than ``max_error_rate_delta`` or its p95 latency exceeds
    stable's by more than ``max_latency_ratio`` times.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    steps: tuple[float, ...] = Field(default=(5.0, 25.0, 50.0, 100.0), min_length=1)
    step: int = Field(default=0, ge=0)
    state: Literal["rolling", "promoted", "rolled_back"] = "rolling"
    promote_every_s: float | None = Field(default=None, gt=0)
    window_s: float = Field(default=300.0, gt=0)
    min_requests: int = Field(default=20, ge=1)
    max_error_rate_delta: float = Field(default=0.05, ge=0, le=1)
    max_latency_ratio: float = Field(default=1.5, ge=1)
    score_name: str | None = Field(
        default=None, min_length=1, max_length=200, description="Trace score to compare."
    )
    max_score_drop: float = Field(default=0.1, ge=0, description="Tolerated drop in mean score.")
    min_scores: int = Field(default=20, ge=1, description="Scored traces needed on each side.")
    stepped_at_ms: int = Field(default=0, ge=0)

    @field_validator("steps")
    @classmethod
    def _increasing(cls, steps: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < s <= 100 for s in steps) or list(steps) != sorted(steps):
            raise ValueError("canary steps must be increasing percentages in (0, 100]")
        return steps

    @property
    def percent(self) -> float:
        """The canary's current share of traffic, in percent (0 once rolled back)."""
        if self.state == "rolled_back":
            return 0.0
        if self.state == "promoted":
            return 100.0
        return self.steps[min(self.step, len(self.steps) - 1)]


class RouteSpec(BaseModel):
    """A route as configured: its deployments, reliability knobs, cache and guardrails."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    deployments: tuple[DeploymentSpec, ...] = Field(min_length=1, max_length=50)
    fallbacks: tuple[str, ...] = Field(
        default=(), max_length=10, description="Routes tried in order when this one fails."
    )
    retries: int = Field(default=2, ge=0, le=10, description="Retries on retryable errors.")
    backoff_ms: float = Field(default=100.0, ge=0, le=60_000, description="First backoff cap.")
    breaker_failures: int = Field(
        default=5, ge=1, le=1000, description="Consecutive failures that open the breaker."
    )
    breaker_cooldown_s: float = Field(
        default=30.0, gt=0, le=3600, description="Seconds before a half-open probe."
    )
    cache_ttl_s: float = Field(default=0.0, ge=0, le=86_400, description="0: no response cache.")
    guardrails: tuple[Literal["pii_redaction"], ...] = Field(default=())
    canary: CanarySpec | None = None

    @model_validator(mode="after")
    def _consistent(self) -> RouteSpec:
        names = [d.name for d in self.deployments]
        if len(set(names)) != len(names):
            raise ValueError("deployment names must be unique within a route")
        canaries = [d for d in self.deployments if d.role == "canary"]
        if self.canary is not None and (len(canaries) != 1 or len(canaries) == len(names)):
            raise ValueError("a canary rollout needs exactly one canary and one stable deployment")
        if self.canary is not None and self.canary.step >= len(self.canary.steps):
            raise ValueError("canary.step must index canary.steps")
        if not any(d.weight > 0 for d in self.deployments):
            raise ValueError("at least one deployment needs a weight above 0")
        return self


@dataclass(frozen=True)
class Route:
    """A stored route: a public model name in a project, with its spec."""

    project: str
    name: str
    spec: RouteSpec
    revision: int
    created_at: datetime
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class RouteEvent:
    """One change to a route (created, updated, deleted, canary promoted or rolled back)."""

    id: int
    project: str
    route: str
    at: datetime
    actor: str
    action: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Limits:
    """Per-project or per-key limits; None means unlimited."""

    scope: str  # "project" or "key:<prefix>"
    project: str
    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    cost_per_day: float | None = None
    cost_per_month: float | None = None


def effective_weights(spec: RouteSpec) -> list[tuple[DeploymentSpec, float]]:
    """Each deployment's traffic share after the canary rollout (if any) is applied.

    Without a canary the configured weights are used. With one, the canary gets its step's
    percentage and the stable deployments share the rest in proportion to their weights.
    """
    if spec.canary is None:
        return [(d, d.weight) for d in spec.deployments]
    percent = spec.canary.percent
    stables = [d for d in spec.deployments if d.role == "stable"]
    stable_total = sum(d.weight for d in stables) or 1.0
    out: list[tuple[DeploymentSpec, float]] = []
    for d in spec.deployments:
        if d.role == "canary":
            out.append((d, percent))
        else:
            out.append((d, (100.0 - percent) * d.weight / stable_total))
    return out


def sticky_point(key: str) -> float:
    """A stable point in [0, 1) for a user or session key (the same key always maps alike)."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def pick_weighted(weights: list[tuple[DeploymentSpec, float]], point: float) -> DeploymentSpec:
    """The deployment whose cumulative weight interval contains ``point`` (in [0, 1))."""
    live = [(d, w) for d, w in weights if w > 0]
    total = sum(w for _, w in live)
    target = point * total
    running = 0.0
    for deployment, weight in live:
        running += weight
        if target < running:
            return deployment
    return live[-1][0]
