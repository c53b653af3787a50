"""Operator metrics: request counts and latencies in Prometheus text format at ``/metrics``.

Each app owns its own ``CollectorRegistry`` (no process-wide singleton), so several apps in
one process (tests, embedded SDK) never share counters.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any

from fastapi import APIRouter, Depends, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from podium.access.authz import Permission
from podium.access.policy import PUBLIC


class RequestMetrics:
    """ASGI middleware recording per-route request counts and latency."""

    def __init__(self, app: Any, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "podium_http_requests",
            "HTTP requests served, by method, route template and status code.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "podium_http_request_duration_seconds",
            "Time to serve an HTTP request, by method and route template.",
            ["method", "route"],
            registry=registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def record_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = route_template(scope)
            method = scope.get("method", "GET")
            self.requests.labels(method, route, str(status)).inc()
            self.latency.labels(method, route).observe(time.perf_counter() - start)


def route_template(scope: MutableMapping[str, Any]) -> str:
    """The matched route's template, e.g. ``/api/v1/runs/{run_id}`` (``unmatched`` for 404s)."""
    # The template keeps label cardinality bounded, unlike the raw path.
    # Included routers do not expose their full prefix, so the matched path parameters are put
    # back into the requested path instead.
    if scope.get("route") is None:
        return "unmatched"
    path = str(scope.get("path", ""))
    for name, value in scope.get("path_params", {}).items():
        path = path.replace(f"/{value}", f"/{{{name}}}", 1)
    return path


def build_router(registry: CollectorRegistry) -> APIRouter:
    """The ``/metrics`` route for ``registry``."""
    # Public like /health: scrapers carry no credentials; it exposes counts, never data.
    router = APIRouter(tags=["operations"], dependencies=[Depends(Permission(PUBLIC, "metrics"))])

    @router.get("/metrics", response_class=Response, include_in_schema=True)
    def prometheus_metrics() -> Response:
        """Prometheus text exposition of the server's own metrics."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router
