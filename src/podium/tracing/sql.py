"""Tables and queries of tracing: ``trace_spans`` (one row per span) and ``traces`` (aggregates).

Spans are keyed by ``(trace_id, span_id)`` and inserted with ``ON CONFLICT DO NOTHING`` so a
retried OTLP export stores nothing twice. The rows an insert actually added (``RETURNING``) are
folded into ``traces``, one row per trace holding what the trace list filters and sorts on, so
the list never groups millions of spans. Both statements run in the caller's one transaction.

``trace_tags`` holds each trace's tags and ``trace_scores`` the scores given to traces.

Every function takes a ``Connection`` and returns models; rows never leave this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    and_,
    case,
    delete,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

from podium.access.sql import projects
from podium.store.clock import stored_time
from podium.store.columns import BigId, EpochMillis, Json
from podium.store.metadata import metadata
from podium.tracing.models import (
    Span,
    SpanRecord,
    TraceCursor,
    TraceFilter,
    TraceScore,
    TraceSummary,
)

trace_spans = Table(
    "trace_spans",
    metadata,
    Column("trace_id", String(32), nullable=False),
    Column("span_id", String(16), nullable=False),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("parent_span_id", String(16), nullable=True),
    Column("name", String(500), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("start_time", EpochMillis, nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("status", String(8), nullable=False),
    Column("status_message", Text, nullable=False),
    Column("service_name", String(200), nullable=True),
    Column("model", String(200), nullable=True),
    Column("provider", String(200), nullable=True),
    Column("operation", String(200), nullable=True),
    Column("input_tokens", Integer, nullable=True),
    Column("output_tokens", Integer, nullable=True),
    Column("cost_usd", Float, nullable=True),
    Column("input_text", Text, nullable=True),
    Column("output_text", Text, nullable=True),
    Column("session_id", String(200), nullable=True),
    Column("user_id", String(200), nullable=True),
    Column("prompt_name", String(200), nullable=True),
    Column("prompt_version", Integer, nullable=True),
    Column("attributes", Json, nullable=False),
    Column("events", Json, nullable=False),
    # The primary key doubles as the trace_id index (a trace's spans are one range scan).
    PrimaryKeyConstraint("trace_id", "span_id"),
    Index(None, "project_id", "start_time"),
    Index(None, "project_id", "model", "start_time"),
)

traces = Table(
    "traces",
    metadata,
    Column("trace_id", String(32), primary_key=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(500), nullable=True),
    Column("start_time", EpochMillis, nullable=False),
    Column("end_time_ms", Float, nullable=False),  # epoch ms, fractional
    Column("span_count", Integer, nullable=False),
    Column("error", Boolean, nullable=False),
    Column("model", String(200), nullable=True),
    Column("input_tokens", Integer, nullable=False),
    Column("output_tokens", Integer, nullable=False),
    Column("cost_usd", Float, nullable=False),
    Column("session_id", String(200), nullable=True),
    Column("user_id", String(200), nullable=True),
    Column("prompt_name", String(200), nullable=True),
    Column("prompt_version", Integer, nullable=True),
    Index(None, "project_id", "start_time"),
    Index(None, "project_id", "model", "start_time"),
    Index(None, "project_id", "session_id", "start_time"),
    Index(None, "project_id", "user_id", "start_time"),
)

# Tags of a trace: the union of the ``podium.tags`` (or OpenInference ``tag.tags``) its spans
# carried. One row per (trace, tag), so a tag filter is an indexed EXISTS.
trace_tags = Table(
    "trace_tags",
    metadata,
    Column("trace_id", String(32), nullable=False),
    Column("tag", String(200), nullable=False),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("trace_id", "tag"),
    Index(None, "project_id", "tag"),
)

# Scores given to a trace (by a person, an evaluator, the API); the feedback part builds on it.
trace_scores = Table(
    "trace_scores",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("trace_id", String(32), nullable=False),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("value", Float, nullable=False),
    Column("source", String(50), nullable=False),
    Column("comment", Text, nullable=True),
    Column("created_at", EpochMillis, nullable=False),
    Index(None, "trace_id"),
    Index(None, "project_id", "name", "value"),
)


def _insert(conn: Connection, table: Table) -> Any:
    return (sqlite if conn.dialect.name == "sqlite" else postgresql).insert(table)


def _span_row(project_id: int, span: SpanRecord) -> dict[str, Any]:
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "project_id": project_id,
        "parent_span_id": span.parent_span_id,
        "name": span.name,
        "kind": span.kind,
        "start_time": span.start_time,
        "duration_ms": span.duration_ms,
        "status": span.status,
        "status_message": span.status_message,
        "service_name": span.service_name,
        "model": span.model,
        "provider": span.provider,
        "operation": span.operation,
        "input_tokens": span.input_tokens,
        "output_tokens": span.output_tokens,
        "cost_usd": span.cost_usd,
        "input_text": span.input_text,
        "output_text": span.output_text,
        "session_id": span.session_id,
        "user_id": span.user_id,
        "prompt_name": span.prompt_name,
        "prompt_version": span.prompt_version,
        "attributes": span.attributes,
        "events": span.events,
    }


@dataclass
class _TraceDelta:
    """What newly stored spans add to one trace's aggregates."""

    name: str | None = None
    start_time: int = 0
    end_time_ms: float = 0.0
    span_count: int = 0
    error: bool = False
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    session_id: str | None = None
    user_id: str | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None

    def row(self, project_id: int, trace_id: str) -> dict[str, Any]:
        """The ``traces`` row for this delta (inserted as is for a new trace)."""
        return {
            "trace_id": trace_id,
            "project_id": project_id,
            "name": self.name,
            "start_time": self.start_time,
            "end_time_ms": self.end_time_ms,
            "span_count": self.span_count,
            "error": self.error,
            "model": self.model,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
            "session_id": self.session_id,
            "user_id": self.user_id,
            "prompt_name": self.prompt_name,
            "prompt_version": self.prompt_version,
        }

    def add(self, span: SpanRecord) -> None:
        end = span.start_time + span.duration_ms
        if self.span_count == 0 or span.start_time < self.start_time:
            self.start_time = span.start_time
        self.end_time_ms = max(self.end_time_ms, end)
        self.span_count += 1
        self.error = self.error or span.error
        if span.parent_span_id is None:
            self.name = span.name
        self.model = self.model or span.model
        self.input_tokens += span.input_tokens or 0
        self.output_tokens += span.output_tokens or 0
        self.cost_usd += span.cost_usd or 0.0
        self.session_id = self.session_id or span.session_id
        self.user_id = self.user_id or span.user_id
        if self.prompt_name is None and span.prompt_name is not None:
            self.prompt_name, self.prompt_version = span.prompt_name, span.prompt_version


def insert_spans(conn: Connection, project_id: int, spans: list[SpanRecord]) -> int:
    """Store the spans not stored yet and fold them into their traces; how many were new."""
    if not spans:
        return 0
    unique = {(s.trace_id, s.span_id): s for s in spans}  # a batch may repeat a span
    statement = (
        _insert(conn, trace_spans)
        .on_conflict_do_nothing(index_elements=["trace_id", "span_id"])
        .returning(trace_spans.c.trace_id, trace_spans.c.span_id)
    )
    rows = [_span_row(project_id, s) for s in unique.values()]
    added = conn.execute(statement, rows).all()
    deltas: dict[str, _TraceDelta] = {}
    tags: set[tuple[str, str]] = set()
    for trace_id, span_id in added:
        span = unique[(trace_id, span_id)]
        deltas.setdefault(trace_id, _TraceDelta()).add(span)
        tags.update((trace_id, tag) for tag in span.tags)
    if tags:
        conn.execute(
            _insert(conn, trace_tags).on_conflict_do_nothing(index_elements=["trace_id", "tag"]),
            [{"trace_id": t, "tag": tag, "project_id": project_id} for t, tag in sorted(tags)],
        )
    if deltas:
        # Sorted, so concurrent batches lock trace rows in one order (no deadlocks on
        # PostgreSQL); one executemany of one cached statement for every touched trace.
        conn.execute(
            _fold_statement(conn.dialect.name),
            [deltas[t].row(project_id, t) for t in sorted(deltas)],
        )
    return len(added)


_FOLD_STATEMENTS: dict[str, Any] = {}


def _fold_statement(dialect: str) -> Any:
    """``INSERT INTO traces … ON CONFLICT (trace_id) DO UPDATE`` adding a delta to a trace."""
    if dialect in _FOLD_STATEMENTS:
        return _FOLD_STATEMENTS[dialect]
    t = traces.c
    statement = (sqlite if dialect == "sqlite" else postgresql).insert(traces)
    new = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=["trace_id"],
        set_={
            "name": func.coalesce(new.name, t.name),
            "start_time": case((new.start_time < t.start_time, new.start_time), else_=t.start_time),
            "end_time_ms": case(
                (new.end_time_ms > t.end_time_ms, new.end_time_ms), else_=t.end_time_ms
            ),
            "span_count": t.span_count + new.span_count,
            "error": t.error | new.error,
            "model": func.coalesce(t.model, new.model),
            "input_tokens": t.input_tokens + new.input_tokens,
            "output_tokens": t.output_tokens + new.output_tokens,
            "cost_usd": t.cost_usd + new.cost_usd,
            "session_id": func.coalesce(t.session_id, new.session_id),
            "user_id": func.coalesce(t.user_id, new.user_id),
            "prompt_name": func.coalesce(t.prompt_name, new.prompt_name),
            "prompt_version": func.coalesce(t.prompt_version, new.prompt_version),
        },
    )
    _FOLD_STATEMENTS[dialect] = statement
    return statement


def _summary(row: Any) -> TraceSummary:
    return TraceSummary(
        trace_id=row.trace_id,
        project=row.project,
        name=row.name,
        start_time=stored_time(row.start_time),
        duration_ms=max(0.0, row.end_time_ms - row.start_time),
        span_count=row.span_count,
        error=bool(row.error),
        model=row.model,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        cost_usd=row.cost_usd,
        session_id=row.session_id,
        user_id=row.user_id,
        prompt_name=row.prompt_name,
        prompt_version=row.prompt_version,
    )


def _select_traces() -> Any:
    return select(traces, projects.c.name.label("project")).join(
        projects, projects.c.id == traces.c.project_id
    )


def _filtered(query: Any, f: TraceFilter) -> Any:
    t = traces.c
    conditions: list[Any] = []
    if f.start_after is not None:
        conditions.append(t.start_time >= f.start_after)
    if f.start_before is not None:
        conditions.append(t.start_time < f.start_before)
    if f.model is not None:
        conditions.append(t.model == f.model)
    if f.user_id is not None:
        conditions.append(t.user_id == f.user_id)
    if f.session_id is not None:
        conditions.append(t.session_id == f.session_id)
    if f.error is not None:
        conditions.append(t.error.is_(f.error))
    if f.min_duration_ms is not None:
        conditions.append(t.end_time_ms - t.start_time >= f.min_duration_ms)
    if f.min_cost_usd is not None:
        conditions.append(t.cost_usd >= f.min_cost_usd)
    if f.prompt_name is not None:
        conditions.append(t.prompt_name == f.prompt_name)
    if f.prompt_version is not None:
        conditions.append(t.prompt_version == f.prompt_version)
    for tag in f.tags:
        tagged = trace_tags.c
        conditions.append(exists().where(tagged.trace_id == t.trace_id, tagged.tag == tag))
    if f.score_name is not None or f.min_score is not None or f.max_score is not None:
        s = trace_scores.c
        scored = [s.trace_id == t.trace_id]
        if f.score_name is not None:
            scored.append(s.name == f.score_name)
        if f.min_score is not None:
            scored.append(s.value >= f.min_score)
        if f.max_score is not None:
            scored.append(s.value <= f.max_score)
        conditions.append(exists().where(*scored))
    return query.where(*conditions) if conditions else query


def list_traces(
    conn: Connection,
    project_id: int,
    f: TraceFilter,
    offset: int,
    limit: int,
    after: TraceCursor | None = None,
) -> list[TraceSummary]:
    """The project's traces matching ``f``, newest first.

    ``after`` starts the page after that trace (keyset paging: the index on
    ``(project_id, start_time)`` finds it directly however deep the page is); ``offset``
    skips rows, which gets slower the deeper it goes.
    """
    t = traces.c
    query = _filtered(_select_traces().where(t.project_id == project_id), f)
    if after is not None:
        query = query.where(
            or_(
                t.start_time < after.start_time,
                and_(t.start_time == after.start_time, t.trace_id < after.trace_id),
            )
        )
    query = query.order_by(t.start_time.desc(), t.trace_id.desc())
    found = [_summary(r) for r in conn.execute(query.offset(offset).limit(limit))]
    return _with_tags(conn, found)


def _with_tags(conn: Connection, found: list[TraceSummary]) -> list[TraceSummary]:
    if not found:
        return found
    tags: dict[str, list[str]] = {}
    rows = conn.execute(
        select(trace_tags.c.trace_id, trace_tags.c.tag)
        .where(trace_tags.c.trace_id.in_([s.trace_id for s in found]))
        .order_by(trace_tags.c.tag)
    )
    for trace_id, tag in rows:
        tags.setdefault(trace_id, []).append(tag)
    return [replace(s, tags=tags.get(s.trace_id, [])) for s in found]


def find_trace(conn: Connection, project_id: int, trace_id: str) -> TraceSummary | None:
    """One trace of the project, or None."""
    row = conn.execute(
        _select_traces().where(traces.c.project_id == project_id, traces.c.trace_id == trace_id)
    ).first()
    return _with_tags(conn, [_summary(row)])[0] if row is not None else None


def add_score(
    conn: Connection,
    project_id: int,
    trace_id: str,
    name: str,
    value: float,
    source: str,
    comment: str | None,
    created_at: int,
) -> TraceScore:
    """Store a score of a trace; returns it with its id."""
    row = {
        "trace_id": trace_id,
        "project_id": project_id,
        "name": name,
        "value": value,
        "source": source,
        "comment": comment,
        "created_at": created_at,
    }
    new_id = conn.execute(
        trace_scores.insert().values(**row).returning(trace_scores.c.id)
    ).scalar_one()
    return TraceScore(
        id=new_id,
        trace_id=trace_id,
        name=name,
        value=value,
        source=source,
        comment=comment,
        created_at=stored_time(created_at),
    )


def mean_scores(
    conn: Connection, project_id: int, trace_ids: list[str], name: str
) -> dict[str, float]:
    """Each given trace's mean score called ``name`` (traces without one are left out)."""
    s = trace_scores.c
    means: dict[str, float] = {}
    for start in range(0, len(trace_ids), 500):  # keep the IN list well under driver limits
        rows = conn.execute(
            select(s.trace_id, func.avg(s.value))
            .where(
                s.project_id == project_id,
                s.name == name,
                s.trace_id.in_(trace_ids[start : start + 500]),
            )
            .group_by(s.trace_id)
        )
        means.update({trace_id: float(mean) for trace_id, mean in rows})
    return means


def scores_of(conn: Connection, trace_id: str) -> list[TraceScore]:
    """The scores of a trace, oldest first."""
    rows = conn.execute(
        select(trace_scores)
        .where(trace_scores.c.trace_id == trace_id)
        .order_by(trace_scores.c.created_at, trace_scores.c.id)
    )
    return [_score(r) for r in rows]


def _score(row: Any) -> TraceScore:
    return TraceScore(
        id=row.id,
        trace_id=row.trace_id,
        name=row.name,
        value=row.value,
        source=row.source,
        comment=row.comment,
        created_at=stored_time(row.created_at),
    )


def project_ids(conn: Connection) -> list[int]:
    """The ids of every project (the retention job prunes them one by one)."""
    return [r.id for r in conn.execute(select(projects.c.id).order_by(projects.c.id))]


def old_trace_ids(conn: Connection, before: int, limit: int, project_id: int) -> list[str]:
    """Up to ``limit`` ids of the project's traces that started before ``before`` (epoch ms)."""
    t = traces.c
    query = select(t.trace_id).where(t.project_id == project_id, t.start_time < before)
    return [r.trace_id for r in conn.execute(query.limit(limit))]


def delete_traces(conn: Connection, trace_ids: list[str]) -> int:
    """Delete these traces with their spans, tags and scores; how many spans went."""
    if not trace_ids:
        return 0
    spans = conn.execute(delete(trace_spans).where(trace_spans.c.trace_id.in_(trace_ids)))
    conn.execute(delete(trace_tags).where(trace_tags.c.trace_id.in_(trace_ids)))
    conn.execute(delete(trace_scores).where(trace_scores.c.trace_id.in_(trace_ids)))
    conn.execute(delete(traces).where(traces.c.trace_id.in_(trace_ids)))
    return int(spans.rowcount or 0)


def spans_of(conn: Connection, trace_id: str) -> list[Span]:
    """Every span of a trace, by start time."""
    rows = conn.execute(
        select(trace_spans)
        .where(trace_spans.c.trace_id == trace_id)
        .order_by(trace_spans.c.start_time, trace_spans.c.span_id)
    )
    return [_span(r) for r in rows]


def _span(row: Any) -> Span:
    return Span(
        trace_id=row.trace_id,
        span_id=row.span_id,
        parent_span_id=row.parent_span_id,
        name=row.name,
        kind=row.kind,
        start_time=stored_time(row.start_time),
        duration_ms=row.duration_ms,
        status=row.status,
        status_message=row.status_message,
        service_name=row.service_name,
        model=row.model,
        provider=row.provider,
        operation=row.operation,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        cost_usd=row.cost_usd,
        input_text=row.input_text,
        output_text=row.output_text,
        session_id=row.session_id,
        user_id=row.user_id,
        prompt_name=row.prompt_name,
        prompt_version=row.prompt_version,
        attributes=dict(row.attributes),
        events=list(row.events),
    )


@dataclass(frozen=True)
class TracePoint:
    """The figures of one trace that the stats need."""

    start_time: int
    duration_ms: float
    error: bool
    model: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float


def trace_points(conn: Connection, project_id: int, f: TraceFilter) -> Iterable[TracePoint]:
    """The stats figures of every trace matching ``f`` (streamed)."""
    t = traces.c
    query = _filtered(
        select(
            t.start_time,
            t.end_time_ms,
            t.error,
            t.model,
            t.input_tokens,
            t.output_tokens,
            t.cost_usd,
        ).where(t.project_id == project_id),
        f,
    )
    for r in conn.execute(query):
        yield TracePoint(
            r.start_time,
            max(0.0, r.end_time_ms - r.start_time),
            bool(r.error),
            r.model,
            r.input_tokens,
            r.output_tokens,
            r.cost_usd,
        )
