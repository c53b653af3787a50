"""REST routes of monitoring: ``/api/v1/traces/timeseries``, ``/api/v1/traces/drift`` and the
alert rules and events under ``/api/v1/alerts``.

Times are given like the CLI's windows: a duration ago (``30m``, ``24h``, ``7d``), ``now``, or an
ISO 8601 time. The traces routers are mounted before ``podium.tracing.routes`` so that
``/traces/timeseries`` is not taken for a trace id.

Permissions: ``tracing:read`` for the dashboard data, drift checks, rules and events;
``tracing:alert`` to create and delete alert rules and to evaluate them on demand.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Response, status
from starlette.concurrency import run_in_threadpool

from podium.access.auth import current_actor
from podium.access.authz import Permission, from_body, from_query
from podium.access.models import DEFAULT_PROJECT
from podium.store.clock import now_ms
from podium.tracing.alerts_service import AlertEvaluator, AlertService
from podium.tracing.drift import parse_window, time_ago
from podium.tracing.monitoring_schemas import (
    AlertEventPublic,
    AlertRuleCreate,
    AlertRulePublic,
    DriftReportPublic,
    DriftRequest,
    TimeSeriesPublic,
)
from podium.tracing.monitoring_service import MonitoringService
from podium.wire import Page, page_of

ProjectParam = Annotated[
    str, Query(min_length=1, max_length=200, description="Project that owns the traces.")
]
Offset = Annotated[
    int, Query(ge=0, le=1_000_000_000, description="Items to skip; pass back next_offset.")
]
Limit = Annotated[int, Query(ge=1, le=1000, description="Largest page size.")]
RuleIdParam = Annotated[int, Path(ge=1, le=2**62, description="Alert rule id.")]
Actor = Annotated[str, Depends(current_actor)]
TimeParam = Query(
    min_length=1, max_length=60, description="A duration ago (30m, 24h, 7d), 'now' or ISO 8601."
)


def build_router(monitoring: MonitoringService) -> APIRouter:
    """The ``/api/v1/traces/timeseries`` and ``/api/v1/traces/drift`` routes."""
    router = APIRouter(prefix="/traces", tags=["monitoring"])
    read = [Depends(Permission("tracing", "read", project=from_query()))]
    # A drift check posts its windows but changes nothing: read permission, not audited.
    check = [Depends(Permission("tracing", "read", project=from_body(), audit=False))]

    @router.get("/timeseries", response_model=TimeSeriesPublic, dependencies=read)
    def timeseries(
        project: ProjectParam = DEFAULT_PROJECT,
        since: Annotated[str, TimeParam] = "24h",
        until: Annotated[str, TimeParam] = "now",
        bucket: Annotated[
            int, Query(ge=1, le=366 * 86400, description="Bucket width in seconds.")
        ] = 3600,
        group_by: Annotated[
            str, Query(pattern="^(none|model|prompt)$", description="One series per model/prompt.")
        ] = "none",
    ) -> TimeSeriesPublic:
        """Requests, errors, error rate, latency p50/p95/p99, tokens and cost per bucket."""
        now = now_ms()
        since_ms, until_ms = time_ago(since, now, "since"), time_ago(until, now, "until")
        found = monitoring.timeseries(project, since_ms, until_ms, bucket, group_by)
        return TimeSeriesPublic.of(found)

    @router.post("/drift", response_model=DriftReportPublic, dependencies=check)
    async def drift(body: DriftRequest) -> DriftReportPublic:
        """Compare the current window's spans with the reference window's (drift check)."""
        now = now_ms()
        reference = parse_window(body.reference, now, "reference")
        current = parse_window(body.current, now, "current")
        # Embedding and permutation tests take a while: keep them off the event loop.
        report = await run_in_threadpool(
            monitoring.drift, body.project, reference, current, body.alpha
        )
        return DriftReportPublic.of(body.project, report, reference, current)

    return router


def build_alerts_router(alerts: AlertService) -> APIRouter:
    """The ``/api/v1/alerts`` router: rules (create, list, read, delete), events, evaluate."""
    router = APIRouter(prefix="/alerts", tags=["monitoring"])
    read = [Depends(Permission("tracing", "read", project=from_query()))]
    manage = [Depends(Permission("tracing", "alert", project=from_query()))]
    create = [Depends(Permission("tracing", "alert", project=from_body()))]

    @router.get("/rules", response_model=Page[AlertRulePublic], dependencies=read)
    def list_rules(
        project: ProjectParam = DEFAULT_PROJECT, offset: Offset = 0, limit: Limit = 100
    ) -> Page[AlertRulePublic]:
        """The project's alert rules with their state, by name."""
        found = alerts.list_rules(project)[offset : offset + limit + 1]
        return page_of([AlertRulePublic.of(r) for r in found], offset, limit)

    @router.post(
        "/rules",
        status_code=status.HTTP_201_CREATED,
        response_model=AlertRulePublic,
        dependencies=create,
    )
    def create_rule(body: AlertRuleCreate, actor: Actor) -> AlertRulePublic:
        """Create a rule; 409 if the project has a rule of that name."""
        return AlertRulePublic.of(alerts.create_rule(body.project, body.spec(), actor))

    @router.get("/rules/{rule_id}", response_model=AlertRulePublic, dependencies=read)
    def get_rule(rule_id: RuleIdParam, project: ProjectParam = DEFAULT_PROJECT) -> AlertRulePublic:
        """One rule with its state."""
        return AlertRulePublic.of(alerts.get_rule(project, rule_id))

    @router.delete("/rules/{rule_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=manage)
    def delete_rule(rule_id: RuleIdParam, project: ProjectParam = DEFAULT_PROJECT) -> Response:
        """Delete a rule and its events."""
        alerts.delete_rule(project, rule_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get("/events", response_model=Page[AlertEventPublic], dependencies=read)
    def list_events(
        project: ProjectParam = DEFAULT_PROJECT,
        rule_id: Annotated[int | None, Query(ge=1, le=2**62, description="Only this rule.")] = None,
        offset: Offset = 0,
        limit: Limit = 100,
    ) -> Page[AlertEventPublic]:
        """Fired and resolved events, newest first, with their webhook delivery outcome."""
        found = alerts.events(project, rule_id, offset, limit + 1)
        return page_of([AlertEventPublic.of(e) for e in found], offset, limit)

    @router.post("/evaluate", response_model=list[AlertEventPublic], dependencies=manage)
    async def evaluate(project: ProjectParam = DEFAULT_PROJECT) -> list[AlertEventPublic]:
        """Evaluate the project's rules now (the server also does so in the background)."""
        found = await run_in_threadpool(alerts.evaluate, project)
        return [AlertEventPublic.of(e) for e in found]

    return router


def install_evaluator(app: FastAPI, evaluator: AlertEvaluator) -> None:
    """Run ``evaluator`` while ``app`` serves: started at startup, stopped at shutdown."""
    original = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(inner: Any) -> AsyncIterator[Any]:
        evaluator.start()
        try:
            async with original(inner) as state:
                yield state
        finally:
            await run_in_threadpool(evaluator.stop)

    app.router.lifespan_context = lifespan
