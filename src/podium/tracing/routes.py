"""HTTP routes of tracing: OTLP/HTTP ingest at ``/otlp/v1/traces`` and ``/api/v1/traces``.

The OTLP router is mounted without the ``/api/v1`` prefix, where OpenTelemetry exporters expect
it (``OTEL_EXPORTER_OTLP_ENDPOINT=http://host:5005/otlp``). Its project comes from the
``X-Podium-Project`` header or the ``project`` query parameter (``default`` when neither is
given); an API key scoped to one project ingests into that project. Ingest is data plane, so it
is not written to the audit log.

Permissions: ``tracing:write`` to ingest, ``tracing:read`` for everything else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from podium.access.authz import Permission, from_query
from podium.access.models import DEFAULT_PROJECT
from podium.store.clock import to_ms
from podium.tracing import otlp
from podium.tracing.models import TraceFilter
from podium.tracing.schemas import StatsBucketPublic, TraceDetailPublic, TracePublic
from podium.tracing.service import IngestResult, TracingService
from podium.wire import PROBLEM_RESPONSES, Page, Problem, page_of

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
        )


Filters = Annotated[_FilterQuery, Depends()]


def build_router(tracing: TracingService) -> APIRouter:
    """The ``/api/v1/traces`` query router, bound to its service."""
    router = APIRouter(prefix="/traces", tags=["tracing"])
    read = [Depends(Permission("tracing", "read", project=from_query()))]

    @router.get("", response_model=Page[TracePublic], dependencies=read)
    def list_traces(
        filters: Filters,
        project: ProjectParam = DEFAULT_PROJECT,
        offset: Offset = 0,
        limit: Limit = 100,
    ) -> Page[TracePublic]:
        """The project's traces matching the filters, newest first."""
        found = tracing.list_traces(project, filters.value, offset, limit + 1)
        return page_of([TracePublic.of(t) for t in found], offset, limit)

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
