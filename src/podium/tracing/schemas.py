"""Wire models of tracing: ``/api/v1/traces``. (OTLP ingest speaks OTLP, not these.)"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from podium.tracing.models import StatsBucket, TraceDetail, TraceScore, TraceSummary

__all__ = [
    "PrunePublic",
    "PruneRequest",
    "ScoreCreate",
    "ScorePublic",
    "SpanNode",
    "StatsBucketPublic",
    "TraceDetailPublic",
    "TracePage",
    "TracePublic",
]


class TracePublic(BaseModel):
    """One trace in the list: aggregates over its spans."""

    trace_id: str
    project: str
    name: str | None = Field(description="The root span's name; null until the root arrives.")
    start_time: datetime
    duration_ms: float
    span_count: int
    error: bool
    model: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    session_id: str | None
    user_id: str | None
    prompt_name: str | None
    prompt_version: int | None
    tags: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, trace: TraceSummary) -> TracePublic:
        """The wire shape of a trace summary."""
        return cls.model_validate(trace, from_attributes=True)


class SpanNode(BaseModel):
    """A span with its children (ordered by start time)."""

    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    start_time: datetime
    duration_ms: float
    status: str
    status_message: str
    service_name: str | None
    model: str | None
    provider: str | None
    operation: str | None
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    input_text: str | None
    output_text: str | None
    session_id: str | None
    user_id: str | None
    prompt_name: str | None
    prompt_version: int | None
    attributes: dict[str, Any]
    events: list[dict[str, Any]]
    children: list[SpanNode] = Field(default_factory=list)


class TracePage(BaseModel):
    """A page of the trace list.

    ``next_cursor`` (pass it back as ``cursor``) continues after the last item and stays fast
    however deep the page; ``next_offset`` is the older offset paging (null with ``cursor``).
    Both are null on the last page.
    """

    items: list[TracePublic]
    next_offset: int | None = None
    next_cursor: str | None = None


class ScoreCreate(BaseModel):
    """A score to give a trace."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="What is scored, e.g. 'helpful'.")
    value: float = Field(allow_inf_nan=False, description="The score, any finite number.")
    source: str = Field(
        default="api", min_length=1, max_length=50, description="Who scored: api, human, eval…"
    )
    comment: str | None = Field(default=None, max_length=10_000)


class PruneRequest(BaseModel):
    """Which traces a prune deletes: those started more than ``older_than_days`` ago."""

    model_config = ConfigDict(extra="forbid")

    older_than_days: float = Field(gt=0, le=100_000, allow_inf_nan=False)


class PrunePublic(BaseModel):
    """What a prune deleted."""

    traces: int
    spans: int


class ScorePublic(BaseModel):
    """A score of a trace."""

    id: int
    trace_id: str
    name: str
    value: float
    source: str
    comment: str | None
    created_at: datetime

    @classmethod
    def of(cls, score: TraceScore) -> ScorePublic:
        """The wire shape of a score."""
        return cls.model_validate(score, from_attributes=True)


class TraceDetailPublic(TracePublic):
    """A trace with its spans as a tree: ``spans`` holds the roots (and orphans)."""

    spans: list[SpanNode]
    scores: list[ScorePublic] = Field(default_factory=list)

    @classmethod
    def of_detail(cls, detail: TraceDetail) -> TraceDetailPublic:
        """The wire shape of a trace, spans nested under their parents."""
        nodes = {s.span_id: SpanNode.model_validate(s, from_attributes=True) for s in detail.spans}
        attached: dict[str, str] = {}  # child span id -> parent span id
        roots: list[SpanNode] = []
        for span in detail.spans:
            parent_id = span.parent_span_id
            if parent_id not in nodes or _is_ancestor(span.span_id, parent_id, attached):
                roots.append(nodes[span.span_id])  # a root, an orphan, or a cycle broken here
            else:
                assert parent_id is not None
                attached[span.span_id] = parent_id
                nodes[parent_id].children.append(nodes[span.span_id])
        base = TracePublic.of(detail.summary).model_dump()
        scores = [ScorePublic.of(s) for s in detail.scores]
        return cls(**base, spans=roots, scores=scores)


class StatsBucketPublic(BaseModel):
    """Aggregates of the traces that started in one time bucket (and one model, if asked)."""

    start: datetime
    model: str | None
    requests: int
    errors: int
    error_rate: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: float

    @classmethod
    def of(cls, bucket: StatsBucket) -> StatsBucketPublic:
        """The wire shape of a stats bucket."""
        return cls.model_validate(bucket, from_attributes=True)


def _is_ancestor(span_id: str, start: str | None, attached: dict[str, str]) -> bool:
    """Whether ``span_id`` is ``start`` or above it in the tree built so far."""
    current = start
    while current is not None:
        if current == span_id:
            return True
        current = attached.get(current)
    return False
