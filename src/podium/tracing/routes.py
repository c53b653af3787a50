"""HTTP routes of tracing: OTLP/HTTP ingest at ``/otlp/v1/traces`` and ``/api/v1/traces``.

The OTLP router is mounted without the ``/api/v1`` prefix, where OpenTelemetry exporters expect
it (``OTEL_EXPORTER_OTLP_ENDPOINT=http://host:5005/otlp``). Its project comes from the
``X-Podium-Project`` header or the ``project`` query parameter (``default`` when neither is
given); an API key scoped to one project ingests into that project. Ingest is data plane, so it
is not written to the audit log.

The trace list pages by offset or, faster for deep pages, by keyset (``cursor``/``next_cursor``
on ``(start_time, trace_id)``).

Permissions: ``tracing:write`` to ingest and to score a trace, ``tracing:delete`` to prune old
traces, ``tracing:read`` for everything else.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from podium.access.authz import Permission, from_query
from podium.access.models import DEFAULT_PROJECT
from podium.store.clock import now_ms, to_ms
from podium.tracing import otlp
from podium.tracing.models import TraceCursor, TraceFilter
from podium.tracing.retention import RetentionJob
from podium.tracing.schemas import (
    PrunePublic,
    PruneRequest,
    ScoreCreate,
    ScorePublic,
    StatsBucketPublic,
    TraceDetailPublic,
    TracePage,
    TracePublic,
)
from podium.tracing.service import IngestResult, TracingService
from podium.wire import PROBLEM_RESPONSES, Problem

PROJECT_HEADER = "x-podium-project"

ProjectParam = Annotated[
    str, Query(min_length=1, max_length=200, description="Project that owns the traces.")
]
Offset = Annotated[
    int, Query(ge=0, le=1_000_000_000, description="Items to skip; pass back next_offset.")
]
Limit = Annotated[int, Query(ge=1, le=1000, description="Largest page size.")]
TraceIdParam = Annotated[
    str, Path(pattern=r"^[0-9a-fA-F]{32}$", description="Trace id, 32 hex digits.")
]


async def otlp_project(request: Request) -> str | None:
    """The project an OTLP export writes to: header, query, the API key's project, or default."""
    named = request.headers.get(PROJECT_HEADER) or request.query_params.get("project")
    if named:
        return named
    principal = getattr(request.state, "principal", None)
    if principal is not None and principal.kind == "key" and len(principal.roles) == 1:
        project: str = next(iter(principal.roles))
        return project
    return None


def _filters(
    start_after: datetime | None,
    start_before: datetime | None,
    model: str | None,
    user: str | None,
    session: str | None,
    error: bool | None,
    min_latency_ms: float | None,
    min_cost_usd: float | None,
    prompt: str | None,
    prompt_version: int | None,
    tag: list[str] | None = None,
    score_name: str | None = None,
    min_score: float | None = None,
    max_score: float | None = None,
) -> TraceFilter:
    return TraceFilter(
        start_after=to_ms(start_after) if start_after else None,
        start_before=to_ms(start_before) if start_before else None,
        model=model,
        user_id=user,
        session_id=session,
        error=error,
        min_duration_ms=min_latency_ms,
        min_cost_usd=min_cost_usd,
        prompt_name=prompt,
        prompt_version=prompt_version,
        tags=tuple(tag or ()),
        score_name=score_name,
        min_score=min_score,
        max_score=max_score,
    )


class _FilterQuery:
    """The trace filters shared by the list and the stats routes."""

    def __init__(
        self,
        start_after: Annotated[
            datetime | None, Query(description="Traces that started at or after (ISO 8601).")
        ] = None,
        start_before: Annotated[
            datetime | None, Query(description="Traces that started before (ISO 8601).")
        ] = None,
        model: Annotated[str | None, Query(max_length=200)] = None,
        user: Annotated[str | None, Query(max_length=200)] = None,
        session: Annotated[str | None, Query(max_length=200)] = None,
        error: Annotated[bool | None, Query(description="Only failed (or only ok) traces.")] = None,
        min_latency_ms: Annotated[float | None, Query(ge=0)] = None,
        min_cost_usd: Annotated[float | None, Query(ge=0)] = None,
        prompt: Annotated[str | None, Query(max_length=200, description="Prompt name.")] = None,
        prompt_version: Annotated[int | None, Query(ge=1)] = None,
        tag: Annotated[
            list[str] | None,
            Query(max_length=20, description="Traces with this tag (repeat: with every one)."),
        ] = None,
        score_name: Annotated[
            str | None, Query(max_length=200, description="The score min/max_score apply to.")
        ] = None,
        min_score: Annotated[
            float | None, Query(allow_inf_nan=False, description="A score at least this.")
        ] = None,
        max_score: Annotated[
            float | None, Query(allow_inf_nan=False, description="A score at most this.")
        ] = None,
    ) -> None:
        self.value = _filters(
            start_after,
            start_before,
            model,
            user,
            session,
            error,
            min_latency_ms,
            min_cost_usd,
            prompt,
            prompt_version,
            tag,
            score_name,
            min_score,
            max_score,
        )


Filters = Annotated[_FilterQuery, Depends()]


def build_router(tracing: TracingService) -> APIRouter:
    """The ``/api/v1/traces`` query router, bound to its service."""
    router = APIRouter(prefix="/traces", tags=["tracing"])
    read = [Depends(Permission("tracing", "read", project=from_query()))]
    write = [Depends(Permission("tracing", "write", project=from_query()))]
    delete = [Depends(Permission("tracing", "delete", project=from_query()))]

    @router.get("", response_model=TracePage, dependencies=read)
    def list_traces(
        filters: Filters,
        project: ProjectParam = DEFAULT_PROJECT,
        offset: Offset = 0,
        limit: Limit = 100,
        cursor: Annotated[
            str | None,
            Query(max_length=100, description="Continue after this next_cursor (keyset paging)."),
        ] = None,
    ) -> TracePage:
        """The project's traces matching the filters, newest first."""
        after = TraceCursor.decode(cursor) if cursor is not None else None
        found = tracing.list_traces(project, filters.value, offset, limit + 1, after)
        items = found[:limit]
        more = len(found) > limit
        return TracePage(
            items=[TracePublic.of(t) for t in items],
            next_offset=offset + limit if more and after is None else None,
            next_cursor=TraceCursor(to_ms(items[-1].start_time), items[-1].trace_id).encode()
            if more
            else None,
        )

    @router.post("/prune", response_model=PrunePublic, dependencies=delete)
    def prune_traces(body: PruneRequest, project: ProjectParam = DEFAULT_PROJECT) -> PrunePublic:
        """Delete the project's traces that started more than ``older_than_days`` ago."""
        cutoff = now_ms() - round(body.older_than_days * 86_400_000)
        result = tracing.prune(cutoff, project=project)
        return PrunePublic(traces=result.traces, spans=result.spans)

    @router.post(
        "/{trace_id}/scores", response_model=ScorePublic, status_code=201, dependencies=write
    )
    def add_score(
        trace_id: TraceIdParam, body: ScoreCreate, project: ProjectParam = DEFAULT_PROJECT
    ) -> ScorePublic:
        """Give the trace a score (a named number, with who gave it and an optional comment)."""
        score = tracing.add_score(
            project, trace_id, body.name, body.value, source=body.source, comment=body.comment
        )
        return ScorePublic.of(score)

    @router.get("/stats", response_model=list[StatsBucketPublic], dependencies=read)
    def trace_stats(
        filters: Filters,
        project: ProjectParam = DEFAULT_PROJECT,
        bucket: Annotated[
            int, Query(ge=1, le=366 * 86400, description="Bucket width in seconds.")
        ] = 3600,
        per_model: Annotated[bool, Query(description="One series per model.")] = False,
    ) -> list[StatsBucketPublic]:
        """Requests, error rate, latency p50/p95/p99, tokens and cost per time bucket."""
        found = tracing.stats(project, filters.value, bucket, per_model=per_model)
        return [StatsBucketPublic.of(b) for b in found]

    @router.get("/{trace_id}", response_model=TraceDetailPublic, dependencies=read)
    def get_trace(
        trace_id: TraceIdParam, project: ProjectParam = DEFAULT_PROJECT
    ) -> TraceDetailPublic:
        """One trace with its spans as a tree."""
        return TraceDetailPublic.of_detail(tracing.get_trace(project, trace_id))

    return router


def install_retention(app: FastAPI, job: RetentionJob) -> None:
    """Run the retention ``job`` while ``app`` serves: started at startup, stopped at shutdown."""
    original = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(inner: Any) -> AsyncIterator[Any]:
        job.start()
        try:
            async with original(inner) as state:
                yield state
        finally:
            await run_in_threadpool(job.stop)

    app.router.lifespan_context = lifespan


def build_otlp_router(tracing: TracingService, max_body_bytes: int) -> APIRouter:
    """The OTLP/HTTP ingest router (mount it without the API prefix).

    ``max_body_bytes`` also caps the size of a body after gzip is undone.
    """
    router = APIRouter(prefix="/otlp", tags=["tracing"])
    write = [Depends(Permission("tracing", "write", project=otlp_project, audit=False))]

    @router.post(
        "/v1/traces",
        dependencies=write,
        response_class=Response,
        responses={
            **PROBLEM_RESPONSES,
            200: {
                "description": "Stored; a partial success names the spans that were rejected.",
                "content": {otlp.PROTOBUF: {}, otlp.JSON: {}},
            },
            415: {
                "model": Problem,
                "description": "A Content-Type or Content-Encoding the endpoint does not read.",
                "content": {
                    "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                },
            },
        },
    )
    async def export_traces(request: Request) -> Response:
        """OTLP/HTTP trace export: protobuf or JSON, optionally gzip; answers after commit."""
        encoding = otlp.encoding_of(request.headers.get("content-type"))
        body = otlp.decompress(
            await request.body(), request.headers.get("content-encoding"), max_body_bytes
        )
        project = await otlp_project(request) or DEFAULT_PROJECT

        def decode_and_store() -> IngestResult:
            # Parsing and mapping a large batch takes milliseconds: keep it off the event loop.
            return tracing.ingest(project, otlp.decode_request(body, encoding))

        result = await run_in_threadpool(decode_and_store)
        return Response(
            otlp.encode_response(result.rejected, result.errors, encoding),
            media_type=encoding,
        )

    return router
