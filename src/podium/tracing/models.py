"""Entities of the tracing part: spans as Podium stores them, traces, and time-bucket stats.

No I/O here. ``SpanRecord`` is what OTLP decoding produces and what ``sql.py`` stores; ``Span``
and ``TraceSummary`` are what queries return; ``StatsBucket`` is one bucket of the dashboard.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from podium.errors import InvalidInput

_TRACE_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class SpanRecord:
    """One decoded span, mapped onto Podium's columns, ready to store."""

    trace_id: str  # 32 lowercase hex digits
    span_id: str  # 16 lowercase hex digits
    parent_span_id: str | None
    name: str
    kind: str
    start_time: int  # epoch ms
    duration_ms: float
    status: str  # "unset", "ok" or "error"
    status_message: str
    service_name: str | None = None
    model: str | None = None
    provider: str | None = None
    operation: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    input_text: str | None = None
    output_text: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    tags: tuple[str, ...] = ()

    @property
    def error(self) -> bool:
        """Whether the span ended in error."""
        return self.status == "error"


@dataclass(frozen=True)
class Span:
    """A stored span, as queries return it."""

    trace_id: str
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


@dataclass(frozen=True)
class TraceSummary:
    """One trace: aggregates over its spans, kept up to date as spans arrive."""

    trace_id: str
    project: str
    name: str | None  # the root span's name, once the root has arrived
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
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TraceScore:
    """A score given to a trace: a named number, who gave it, and why."""

    id: int
    trace_id: str
    name: str
    value: float
    source: str
    comment: str | None
    created_at: datetime


@dataclass(frozen=True)
class TraceCursor:
    """Where a keyset page of the trace list starts: after this (start time, trace id)."""

    start_time: int  # epoch ms
    trace_id: str

    def encode(self) -> str:
        """The opaque text clients pass back as ``cursor``."""
        return f"{self.start_time}-{self.trace_id}"

    @classmethod
    def decode(cls, text: str) -> TraceCursor:
        """Parse ``encode``'s text; ``InvalidInput`` naming the fix when it does not parse."""
        start, _, trace_id = text.partition("-")
        if not (start.isdigit() and len(start) < 16 and _TRACE_ID.fullmatch(trace_id)):
            raise InvalidInput(
                f"cursor {text[:100]!r} is not a cursor; pass back a next_cursor of the list "
                "unchanged",
                field="cursor",
            )
        return cls(int(start), trace_id)


@dataclass(frozen=True)
class TraceFilter:
    """Filters of the trace list; ``None`` means no filter on that field."""

    start_after: int | None = None  # epoch ms, inclusive
    start_before: int | None = None  # epoch ms, exclusive
    model: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    error: bool | None = None
    min_duration_ms: float | None = None
    min_cost_usd: float | None = None
    prompt_name: str | None = None
    prompt_version: int | None = None
    tags: tuple[str, ...] = ()  # every one of them
    score_name: str | None = None  # the score min/max apply to (any score when None)
    min_score: float | None = None
    max_score: float | None = None


@dataclass(frozen=True)
class TraceDetail:
    """A trace with all its spans (ordered by start time) and its scores (oldest first)."""

    summary: TraceSummary
    spans: list[Span]
    scores: list[TraceScore] = field(default_factory=list)


@dataclass(frozen=True)
class StatsBucket:
    """Aggregates of the traces that started in one time bucket (optionally one model)."""

    start: datetime
    model: str | None
    requests: int
    errors: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: float

    @property
    def error_rate(self) -> float:
        """Share of requests that ended in error (0 when there were none)."""
        return self.errors / self.requests if self.requests else 0.0


def percentile(sorted_values: list[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) of already sorted values, linearly interpolated; None if empty."""
    if not sorted_values:
        return None
    position = (len(sorted_values) - 1) * q
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    fraction = position - low
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * fraction
