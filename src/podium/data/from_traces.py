"""Rows from traces: the mapping behind ``DataService.import_traces``.

Reads through the tracing part's public service (``list_traces`` for the filtered, newest-first
trace list, walked with its keyset cursor; ``get_trace`` for spans and scores), never its
tables. Each row's ``input`` is the span's input text, ``expected`` its output text, and
``metadata`` says where it came from: ``trace_id``, ``span_id``, ``model``, ``prompt``
(``name`` and ``version``), the trace's ``scores`` (name → latest value), ``start_time`` and
``source: "traces"``. Spans without an input are skipped and counted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from podium.data.formats import Record, canonical_json
from podium.data.models import TraceImport
from podium.store.clock import to_ms
from podium.tracing.models import Span, TraceCursor, TraceDetail, TraceFilter
from podium.tracing.service import TracingService

PAGE = 200


@dataclass
class TraceWalk:
    """Counts of one walk over the traces, filled in as rows are produced."""

    traces: int = 0
    rows: int = 0
    skipped: int = 0


def trace_filter(query: TraceImport) -> TraceFilter:
    """The tracing part's filter for ``query``."""
    return TraceFilter(
        start_after=query.since,
        start_before=query.until,
        model=query.model,
        error=query.errors,
        prompt_name=query.prompt_name,
        prompt_version=query.prompt_version,
        tags=query.tags,
        score_name=query.score_name,
        min_score=query.min_score,
        max_score=query.max_score,
    )


def trace_records(
    tracing: TracingService, project: str, query: TraceImport, walk: TraceWalk
) -> Iterator[Record]:
    """The rows of ``project``'s traces matching ``query``, newest trace first."""
    filters = trace_filter(query)
    after: TraceCursor | None = None
    while walk.rows < query.limit:
        page = tracing.list_traces(project, filters, 0, PAGE, after)
        for summary in page:
            detail = tracing.get_trace(project, summary.trace_id)
            walk.traces += 1
            for span in _chosen(detail, query.spans):
                if not span.input_text:
                    walk.skipped += 1
                    continue
                yield span.input_text, span.output_text, canonical_json(_metadata(detail, span))
                walk.rows += 1
                if walk.rows >= query.limit:
                    return
        if len(page) < PAGE:
            return
        last = page[-1]
        after = TraceCursor(to_ms(last.start_time), last.trace_id)


def _chosen(detail: TraceDetail, spans: str) -> list[Span]:
    if spans == "llm":
        return [span for span in detail.spans if span.model]
    # The root span when it has an input, else the first span that has one; with none, the
    # root (or first) span alone, which is then counted as skipped.
    roots = [span for span in detail.spans if span.parent_span_id is None]
    with_input = [span for span in detail.spans if span.input_text]
    chosen = [span for span in roots if span.input_text] or with_input or roots or detail.spans
    return chosen[:1]


def _metadata(detail: TraceDetail, span: Span) -> dict[str, object]:
    scores = {score.name: score.value for score in detail.scores}  # oldest first: latest wins
    prompt = span.prompt_name or detail.summary.prompt_name
    version = span.prompt_version or detail.summary.prompt_version
    return {
        "source": "traces",
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "model": span.model or detail.summary.model,
        "prompt": {"name": prompt, "version": version} if prompt else None,
        "scores": scores,
        "start_time": span.start_time.isoformat(),
    }
