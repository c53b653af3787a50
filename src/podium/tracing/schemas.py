"""Wire models of tracing: ``/api/v1/traces``. (OTLP ingest speaks OTLP, not these.)"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from podium.tracing.models import StatsBucket, TraceDetail, TraceSummary

__all__ = ["SpanNode", "StatsBucketPublic", "TraceDetailPublic", "TracePublic"]


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


class TraceDetailPublic(TracePublic):
    """A trace with its spans as a tree: ``spans`` holds the roots (and orphans)."""

    spans: list[SpanNode]

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
        return cls(**base, spans=roots)


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
