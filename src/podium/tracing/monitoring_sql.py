"""Queries behind the monitoring views: time series of traces, and span samples for drift.

They read the tracing tables (``podium.tracing.sql.traces`` and ``trace_spans``) and never
write them. Counts and sums are aggregated by the database in one ``GROUP BY`` per request,
written once for both dialects (integer bucket arithmetic on epoch milliseconds); latency
percentiles need every latency of a bucket, so those are streamed as two narrow columns and
computed by the caller, identically on SQLite and PostgreSQL.

Every function takes a ``Connection`` and returns plain values; rows never leave this module.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, Integer, cast, func, or_, select

from podium.tracing.sql import trace_spans, traces

GroupBy = Literal["none", "model", "prompt"]
NO_GROUP = "all"
UNKNOWN_GROUP = "(none)"


@dataclass(frozen=True)
class BucketTotals:
    """The summed figures of one (bucket, group) cell."""

    bucket_ms: int
    group: str
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    cost_usd: float


def _group_columns(group_by: GroupBy) -> list[Any]:
    t = traces.c
    if group_by == "model":
        return [t.model]
    if group_by == "prompt":
        return [t.prompt_name, t.prompt_version]
    return []


def _group_label(group_by: GroupBy, values: tuple[Any, ...]) -> str:
    if group_by == "none":
        return NO_GROUP
    if group_by == "model":
        return values[0] or UNKNOWN_GROUP
    name, version = values
    if name is None:
        return UNKNOWN_GROUP
    return f"{name}:v{version}" if version is not None else str(name)


def _bucket(width_ms: int) -> Any:
    start = traces.c.start_time
    return (start - start % width_ms).label("bucket")


def _window(project_id: int, since_ms: int, until_ms: int) -> list[Any]:
    t = traces.c
    return [t.project_id == project_id, t.start_time >= since_ms, t.start_time < until_ms]


def bucket_totals(
    conn: Connection,
    project_id: int,
    since_ms: int,
    until_ms: int,
    width_ms: int,
    group_by: GroupBy,
) -> list[BucketTotals]:
    """Requests, errors, tokens and cost per bucket and group, aggregated in SQL."""
    t = traces.c
    bucket = _bucket(width_ms)
    groups = _group_columns(group_by)
    query = (
        select(
            bucket,
            *groups,
            func.count().label("requests"),
            func.sum(cast(t.error, Integer)).label("errors"),
            func.sum(t.input_tokens).label("input_tokens"),
            func.sum(t.output_tokens).label("output_tokens"),
            func.sum(t.cost_usd).label("cost_usd"),
        )
        .where(*_window(project_id, since_ms, until_ms))
        .group_by(bucket, *groups)
    )
    out = []
    for row in conn.execute(query):
        values = tuple(row[1 : 1 + len(groups)])
        out.append(
            BucketTotals(
                bucket_ms=int(row.bucket),
                group=_group_label(group_by, values),
                requests=int(row.requests),
                errors=int(row.errors or 0),
                input_tokens=int(row.input_tokens or 0),
                output_tokens=int(row.output_tokens or 0),
                cost_usd=float(row.cost_usd or 0.0),
            )
        )
    return out


def bucket_latencies(
    conn: Connection,
    project_id: int,
    since_ms: int,
    until_ms: int,
    width_ms: int,
    group_by: GroupBy,
) -> Iterator[tuple[int, str, float]]:
    """``(bucket_ms, group, latency_ms)`` for every trace in the window (streamed)."""
    t = traces.c
    groups = _group_columns(group_by)
    latency = (t.end_time_ms - t.start_time).label("latency")
    query = select(_bucket(width_ms), *groups, latency).where(
        *_window(project_id, since_ms, until_ms)
    )
    for row in conn.execute(query.execution_options(yield_per=5000)):
        values = tuple(row[1 : 1 + len(groups)])
        yield int(row.bucket), _group_label(group_by, values), max(0.0, float(row.latency))


@dataclass(frozen=True)
class WindowTotals:
    """Figures of one project over one time window (the alert and Prometheus metrics)."""

    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    cost_usd: float


def window_totals(conn: Connection, project_id: int, since_ms: int, until_ms: int) -> WindowTotals:
    """Summed figures of the project's traces that started in ``[since_ms, until_ms)``."""
    t = traces.c
    row = conn.execute(
        select(
            func.count().label("requests"),
            func.sum(cast(t.error, Integer)).label("errors"),
            func.sum(t.input_tokens).label("input_tokens"),
            func.sum(t.output_tokens).label("output_tokens"),
            func.sum(t.cost_usd).label("cost_usd"),
        ).where(*_window(project_id, since_ms, until_ms))
    ).one()
    return WindowTotals(
        int(row.requests),
        int(row.errors or 0),
        int(row.input_tokens or 0),
        int(row.output_tokens or 0),
        float(row.cost_usd or 0.0),
    )


def window_latencies(
    conn: Connection, project_id: int, since_ms: int, until_ms: int
) -> list[float]:
    """Latency (ms) of every trace of the project that started in the window."""
    t = traces.c
    rows = conn.execute(
        select(t.end_time_ms - t.start_time).where(*_window(project_id, since_ms, until_ms))
    )
    return [max(0.0, float(r[0])) for r in rows]


@dataclass(frozen=True)
class SpanSample:
    """What drift compares of one span: its texts and whether it failed."""

    input_text: str | None
    output_text: str | None
    error: bool


def span_sample(
    conn: Connection, project_id: int, since_ms: int, until_ms: int, limit: int
) -> list[SpanSample]:
    """Up to ``limit`` model-call spans of the window, drawn at random when there are more.

    A model-call span is one with a model or with input or output text (the GenAI spans);
    wrapper spans around them would dilute the error rate.
    """
    s = trace_spans.c
    where = [
        s.project_id == project_id,
        s.start_time >= since_ms,
        s.start_time < until_ms,
        or_(s.model.is_not(None), s.input_text.is_not(None), s.output_text.is_not(None)),
    ]
    count = conn.execute(select(func.count()).where(*where)).scalar_one()
    query = select(s.input_text, s.output_text, s.status).where(*where)
    if count > limit:
        query = query.order_by(func.random()).limit(limit)  # random() exists on both dialects
    return [
        SpanSample(r.input_text, r.output_text, r.status == "error") for r in conn.execute(query)
    ]
