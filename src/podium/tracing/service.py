"""Use cases of tracing: ingest OTLP batches, list, read and score traces, stats, pruning.

Raises ``podium.errors``; knows nothing of HTTP. Ingest maps a decoded OTLP request to span
records and stores them in one write transaction that commits before the caller answers, so an
acknowledged span is never lost; re-sent spans are ignored (idempotent on trace and span id).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from podium.access.models import Project
from podium.access.service import ProjectService
from podium.errors import InvalidInput, NotFound
from podium.store.clock import from_ms, now_ms
from podium.store.engine import Database
from podium.tracing import otlp, sql
from podium.tracing.models import (
    SpanRecord,
    StatsBucket,
    TraceCursor,
    TraceDetail,
    TraceFilter,
    TraceScore,
    TraceSummary,
    percentile,
)
from podium.tracing.pricing import PriceTable

_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
MIN_BUCKET_S = 1
MAX_BUCKETS = 10_000
PRUNE_BATCH = 500  # traces deleted per transaction


@dataclass(frozen=True)
class PruneResult:
    """What a prune deleted."""

    traces: int
    spans: int


@dataclass(frozen=True)
class IngestResult:
    """What one export stored: new spans, spans already stored, and rejected spans with why."""

    stored: int
    duplicates: int
    rejected: int
    errors: list[str]


class TracingService:
    """Ingest and query of traces, for one database and price table."""

    def __init__(self, db: Database, projects: ProjectService, prices: PriceTable) -> None:
        self._db = db
        self._projects = projects
        self.prices = prices

    def ingest(self, project: str, request: ExportTraceServiceRequest) -> IngestResult:
        """Store the valid spans of ``request`` in ``project`` (created if missing)."""
        decoded = otlp.map_request(request, self.prices)
        if not decoded.spans:
            return IngestResult(0, 0, decoded.rejected, decoded.errors)
        owner = self._projects.ensure(project)
        with self._db.write() as conn:
            stored = sql.insert_spans(conn, owner.id, decoded.spans)
        unique = len({(s.trace_id, s.span_id) for s in decoded.spans})
        return IngestResult(stored, unique - stored, decoded.rejected, decoded.errors)

    def store_spans(self, project: str, spans: Sequence[SpanRecord]) -> int:
        """Store already decoded spans (the gateway's own) in ``project``, created if missing.

        One transaction; spans stored before are skipped. Returns how many were new.
        """
        if not spans:
            return 0
        owner = self._projects.ensure(project)
        with self._db.write() as conn:
            return sql.insert_spans(conn, owner.id, list(spans))

    def _project_or_none(self, project: str) -> Project | None:
        # Ingest creates projects on first use; until a span arrives a project may not exist,
        # and a list or dashboard pointed at it shows nothing rather than failing.
        try:
            return self._projects.by_name(project)
        except NotFound:
            return None

    def list_traces(
        self,
        project: str,
        filters: TraceFilter,
        offset: int,
        limit: int,
        after: TraceCursor | None = None,
    ) -> list[TraceSummary]:
        """Traces of ``project`` matching ``filters``, newest first (``limit`` of them).

        ``after`` continues a keyset page after that trace (see ``TraceCursor``).
        """
        owner = self._project_or_none(project)
        if owner is None:
            return []
        with self._db.read() as conn:
            return sql.list_traces(conn, owner.id, filters, offset, limit, after)

    def add_score(
        self,
        project: str,
        trace_id: str,
        name: str,
        value: float,
        *,
        source: str = "api",
        comment: str | None = None,
    ) -> TraceScore:
        """Score a trace; ``NotFound`` when the project has no such trace."""
        trace_id = _checked_trace_id(trace_id)
        if not math.isfinite(value):
            raise InvalidInput("a score must be a finite number", field="value")
        owner = self._projects.by_name(project)
        with self._db.write() as conn:
            if sql.find_trace(conn, owner.id, trace_id) is None:
                raise _trace_not_found(trace_id, project)
            return sql.add_score(conn, owner.id, trace_id, name, value, source, comment, now_ms())

    def mean_scores(self, project: str, trace_ids: Sequence[str], name: str) -> dict[str, float]:
        """Each given trace's mean score called ``name``; traces without one are left out."""
        owner = self._project_or_none(project)
        if owner is None or not trace_ids:
            return {}
        with self._db.read() as conn:
            return sql.mean_scores(conn, owner.id, list(trace_ids), name)

    def prune(
        self,
        older_than_ms: int,
        *,
        project: str | None = None,
        batch_size: int = PRUNE_BATCH,
    ) -> PruneResult:
        """Delete the traces of ``project`` (every project when None) started before a time.

        Deletes ``batch_size`` traces per transaction, so writers wait at most one short batch.
        """
        if batch_size < 1:
            raise InvalidInput("batch_size must be at least 1", field="batch_size")
        if project is not None:
            owner = self._project_or_none(project)
            project_ids = [] if owner is None else [owner.id]
        else:
            with self._db.read() as conn:
                project_ids = sql.project_ids(conn)
        deleted_traces = deleted_spans = 0
        # Project by project, so each batch is found through the (project_id, start_time) index.
        for project_id in project_ids:
            while True:
                with self._db.write() as conn:
                    ids = sql.old_trace_ids(conn, older_than_ms, batch_size, project_id)
                    deleted_spans += sql.delete_traces(conn, ids)
                deleted_traces += len(ids)
                if len(ids) < batch_size:
                    break
        return PruneResult(deleted_traces, deleted_spans)

    def get_trace(self, project: str, trace_id: str) -> TraceDetail:
        """A trace with its spans; ``NotFound`` when the project has no such trace."""
        trace_id = _checked_trace_id(trace_id)
        owner = self._projects.by_name(project)
        with self._db.read() as conn:
            summary = sql.find_trace(conn, owner.id, trace_id)
            if summary is None:
                raise _trace_not_found(trace_id, project)
            return TraceDetail(summary, sql.spans_of(conn, trace_id), sql.scores_of(conn, trace_id))

    def stats(
        self, project: str, filters: TraceFilter, bucket_s: int, *, per_model: bool = False
    ) -> list[StatsBucket]:
        """Per time bucket (and per model if asked): requests, errors, latency, tokens, cost.

        Percentiles are computed here from each bucket's latencies, identically on both
        databases. ``InvalidInput`` when the range would need too many buckets.
        """
        if bucket_s < MIN_BUCKET_S:
            raise InvalidInput("bucket must be at least 1 second", field="bucket")
        owner = self._project_or_none(project)
        if owner is None:
            return []
        width = bucket_s * 1000
        groups: dict[tuple[int, str | None], list[sql.TracePoint]] = defaultdict(list)
        with self._db.read() as conn:
            for point in sql.trace_points(conn, owner.id, filters):
                key = (
                    point.start_time - point.start_time % width,
                    point.model if per_model else None,
                )
                groups[key].append(point)
                if len(groups) > MAX_BUCKETS:
                    raise InvalidInput(
                        f"more than {MAX_BUCKETS} buckets; use a larger bucket or a shorter "
                        "time range",
                        field="bucket",
                    )
        out: list[StatsBucket] = []
        for (start, model), points in sorted(
            groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
        ):
            latencies = sorted(p.duration_ms for p in points)
            out.append(
                StatsBucket(
                    start=from_ms(start) or _epoch(),
                    model=model,
                    requests=len(points),
                    errors=sum(1 for p in points if p.error),
                    latency_p50_ms=percentile(latencies, 0.50),
                    latency_p95_ms=percentile(latencies, 0.95),
                    latency_p99_ms=percentile(latencies, 0.99),
                    input_tokens=sum(p.input_tokens for p in points),
                    output_tokens=sum(p.output_tokens for p in points),
                    cost_usd=sum(p.cost_usd for p in points),
                )
            )
        return out


def _checked_trace_id(trace_id: str) -> str:
    trace_id = trace_id.lower()
    if not _TRACE_ID.match(trace_id):
        raise InvalidInput(f"trace id {trace_id!r} is not 32 hex digits", field="trace_id")
    return trace_id


def _trace_not_found(trace_id: str, project: str) -> NotFound:
    return NotFound(
        f"trace {trace_id} not found in project {project!r}; list traces with `podium traces list`",
        field="trace_id",
    )


def _epoch() -> datetime:
    return datetime.fromtimestamp(0, tz=UTC)
