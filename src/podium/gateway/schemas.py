"""Wire models of the gateway's control plane (``/api/v1/gateway``).

A route's body on ``PUT`` is its ``RouteSpec`` (``podium.gateway.models``), the same shape as one
entry of the YAML file minus ``name`` and ``project``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from podium.gateway.models import RouteSpec


class RoutePublic(BaseModel):
    """A route as stored, with each deployment's effective traffic share."""

    project: str
    name: str
    revision: int
    spec: RouteSpec
    traffic: dict[str, float] = Field(description="Deployment name -> share of traffic (%).")
    created_at: datetime
    updated_at: datetime
    updated_by: str


class RouteEventPublic(BaseModel):
    """One change to a route."""

    id: int
    route: str
    at: datetime
    actor: str
    action: str
    details: dict[str, Any]


class CanaryAction(BaseModel):
    """Why a canary is promoted or rolled back by hand."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(default="", max_length=1000)


class DeploymentStatus(BaseModel):
    """Live facts about one deployment in this server process."""

    name: str
    role: str
    traffic_percent: float
    breaker: str
    requests: int
    error_rate: float
    latency_p95_ms: float


class RouteStatus(BaseModel):
    """A route's live state: deployments, breakers, recent error rates and latency."""

    name: str
    canary_state: str | None
    canary_percent: float | None
    deployments: list[DeploymentStatus]


class LimitsBody(BaseModel):
    """Limits of one scope; a field left out (or null) is unlimited."""

    model_config = ConfigDict(extra="forbid")

    requests_per_minute: int | None = Field(default=None, ge=1, le=10**9)
    tokens_per_minute: int | None = Field(default=None, ge=1, le=10**12)
    cost_per_day: float | None = Field(default=None, ge=0, le=10**9)
    cost_per_month: float | None = Field(default=None, ge=0, le=10**9)


class LimitsPublic(LimitsBody):
    """The limits of one scope (``project`` or ``key:<prefix>``) in a project."""

    model_config = ConfigDict(extra="ignore")

    project: str
    scope: str
