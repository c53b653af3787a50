"""Web pages of tracing: the trace list with filters, and one trace as a tree with a timeline.

The list pages by keyset (``cursor``), so a deep page costs what the first one does; the detail
page shows the trace's tags and scores above its spans.

Both pages are GET-only and need ``tracing:read``. Filters arrive as query parameters with the
same names as the REST API's; a value that does not parse is shown as an error on the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from podium.access.authz import Permission, from_query
from podium.access.models import DEFAULT_PROJECT
from podium.errors import InvalidInput, PodiumError
from podium.pages import part_error_page
from podium.store.clock import to_ms
from podium.tracing.models import Span, TraceCursor, TraceFilter
from podium.tracing.service import TracingService

PAGE_SIZE = 50
_TEXT_FILTERS = ("model", "user", "session", "prompt", "tag")


@dataclass(frozen=True)
class TimelineRow:
    """One span on the detail page: its depth in the tree and its bar on the timeline (%)."""

    span: Span
    depth: int
    offset_pct: float
    width_pct: float


def build_router(service: TracingService, templates: Jinja2Templates) -> APIRouter:
    """The trace pages, bound to ``service`` and the shared ``templates``."""
    read = Permission("tracing", "read", project=from_query())
    router = APIRouter(include_in_schema=False, dependencies=[Depends(read)])

    error = part_error_page(templates, "/traces", "Back to the traces")

    @router.get("/traces", response_class=HTMLResponse)
    def traces_page(request: Request) -> HTMLResponse:
        query = request.query_params
        project = query.get("project") or DEFAULT_PROJECT
        given = {
            k: query[k]
            for k in (*_TEXT_FILTERS, "error", "min_latency_ms", "min_score")
            if query.get(k)
        }
        cursor = query.get("cursor") or None
        try:
            after = TraceCursor.decode(cursor) if cursor else None
            filters = TraceFilter(
                model=given.get("model"),
                user_id=given.get("user"),
                session_id=given.get("session"),
                prompt_name=given.get("prompt"),
                error={"true": True, "false": False}.get(given.get("error", "")),
                min_duration_ms=_number(given.get("min_latency_ms"), "min_latency_ms", float),
                start_after=_time(query.get("start_after"), "start_after"),
                tags=(given["tag"],) if "tag" in given else (),
                min_score=_number(given.get("min_score"), "min_score", float),
            )
            found = service.list_traces(project, filters, 0, PAGE_SIZE + 1, after)
        except PodiumError as exc:
            return error(request, exc, project)
        base = {"project": project, **given}
        page = found[:PAGE_SIZE]
        next_cursor = (
            TraceCursor(to_ms(page[-1].start_time), page[-1].trace_id).encode()
            if len(found) > PAGE_SIZE
            else None
        )
        context = {
            "project": project,
            "filters": given,
            "traces": page,
            "cursor": cursor,
            "next_url": "/traces?" + urlencode({**base, "cursor": next_cursor})
            if next_cursor
            else None,
        }
        return templates.TemplateResponse(request, "tracing/traces.html", context)

    @router.get("/traces/{trace_id}", response_class=HTMLResponse)
    def trace_page(request: Request, trace_id: str) -> HTMLResponse:
        project = request.query_params.get("project") or DEFAULT_PROJECT
        try:
            detail = service.get_trace(project, trace_id)
        except PodiumError as exc:
            return error(request, exc, project)
        context = {
            "project": project,
            "trace": detail.summary,
            "rows": timeline(detail.spans),
            "scores": detail.scores,
        }
        return templates.TemplateResponse(request, "tracing/trace.html", context)

    return router


def timeline(spans: list[Span]) -> list[TimelineRow]:
    """Spans in tree order (depth-first, children by start), each with its timeline bar."""
    if not spans:
        return []
    ids = {s.span_id for s in spans}
    children: dict[str | None, list[Span]] = {}
    for span in spans:
        parent = span.parent_span_id if span.parent_span_id in ids else None
        children.setdefault(parent, []).append(span)
    start = min(s.start_time for s in spans)
    end = max(s.start_time.timestamp() * 1000 + s.duration_ms for s in spans)
    total = max(end - start.timestamp() * 1000, 0.001)
    rows: list[TimelineRow] = []
    seen: set[str] = set()

    def walk(parent: str | None, depth: int) -> None:
        for span in children.get(parent, []):
            if span.span_id in seen:
                continue  # a parent cycle: each span is shown once
            seen.add(span.span_id)
            offset = (span.start_time - start).total_seconds() * 1000
            rows.append(
                TimelineRow(
                    span,
                    depth,
                    round(100 * offset / total, 2),
                    round(max(100 * span.duration_ms / total, 0.3), 2),
                )
            )
            walk(span.span_id, depth + 1)

    walk(None, 0)
    for span in spans:  # spans only reachable through a cycle
        if span.span_id not in seen:
            seen.add(span.span_id)
            rows.append(TimelineRow(span, 0, 0.0, 100.0))
    return rows


def _number(raw: str | None, field: str, kind: Any) -> Any:
    if not raw:
        return None
    try:
        value = kind(raw)
    except ValueError:
        raise InvalidInput(f"{field} must be a number, not {raw!r}", field=field) from None
    if value < 0:
        raise InvalidInput(f"{field} must not be negative", field=field)
    return value


def _time(raw: str | None, field: str) -> int | None:
    if not raw:
        return None
    try:
        return to_ms(datetime.fromisoformat(raw.replace("Z", "+00:00")))
    except ValueError:
        raise InvalidInput(
            f"{field} must be an ISO 8601 time such as 2026-01-31T12:00:00Z, not {raw!r}",
            field=field,
        ) from None
