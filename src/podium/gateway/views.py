"""Views of a route shared by the REST API and the pages: its wire form with traffic shares,
and its live state (breakers and recent stats) in this server process."""

from __future__ import annotations

from podium.gateway.dispatch import Gateway
from podium.gateway.models import Route, effective_weights
from podium.gateway.schemas import DeploymentStatus, RoutePublic, RouteStatus


def route_public(route: Route) -> RoutePublic:
    """The wire form of a route, with traffic shares in percent."""
    weights = effective_weights(route.spec)
    total = sum(w for _, w in weights) or 1.0
    return RoutePublic(
        project=route.project,
        name=route.name,
        revision=route.revision,
        spec=route.spec,
        traffic={d.name: round(100.0 * w / total, 3) for d, w in weights},
        created_at=route.created_at,
        updated_at=route.updated_at,
        updated_by=route.updated_by,
    )


def route_status(gateway: Gateway, route: Route) -> RouteStatus:
    """Live breaker states and recent stats of a route's deployments in this process."""
    weights = effective_weights(route.spec)
    total = sum(w for _, w in weights) or 1.0
    window = route.spec.canary.window_s if route.spec.canary else 300.0
    deployments = []
    for deployment, weight in weights:
        breaker = gateway.breakers.get(
            (route.project, route.name, deployment.name),
            route.spec.breaker_failures,
            route.spec.breaker_cooldown_s,
        )
        requests, error_rate, p95 = gateway.window_stats(
            route.project, route.name, deployment.name, window
        )
        deployments.append(
            DeploymentStatus(
                name=deployment.name,
                role=deployment.role,
                traffic_percent=round(100.0 * weight / total, 3),
                breaker=breaker.state,
                requests=requests,
                error_rate=error_rate,
                latency_p95_ms=p95,
            )
        )
    canary = route.spec.canary
    return RouteStatus(
        name=route.name,
        canary_state=canary.state if canary else None,
        canary_percent=canary.percent if canary else None,
        deployments=deployments,
    )
