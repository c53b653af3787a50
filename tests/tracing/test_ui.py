"""The trace pages: list with filters, detail tree with timeline and escaped inputs/outputs."""

from __future__ import annotations

from typing import Any

import httpx

from tests.tracing.support import PROTOBUF, genai_attrs, new_span_id, new_trace_id, request, span


def _ingest(http: httpx.Client, *spans: Any) -> None:
    body = request(*spans).SerializeToString()
    assert http.post("/otlp/v1/traces", content=body, headers=PROTOBUF).status_code == 200


def test_list_and_detail_pages(http: httpx.Client) -> None:
    trace, other = new_trace_id(), new_trace_id()
    root, child = new_span_id(), new_span_id()
    _ingest(
        http,
        span(trace, root, name="answer-question", duration_ms=400),
        span(
            trace,
            child,
            name="llm-call",
            parent=root,
            start_ms=100,
            duration_ms=200,
            attrs=genai_attrs("gpt-4o", **{"gen_ai.prompt": "<script>alert(1)</script>"}),
        ),
        span(other, new_span_id(), name="other-trace", attrs=genai_attrs("o3"), error=True),
    )
    page = http.get("/traces")
    assert page.status_code == 200
    assert "answer-question" in page.text
    assert "other-trace" in page.text
    filtered = http.get("/traces", params={"model": "gpt-4o"})
    assert "answer-question" in filtered.text
    assert "other-trace" not in filtered.text
    errors_only = http.get("/traces", params={"error": "true"})
    assert "other-trace" in errors_only.text
    assert "answer-question" not in errors_only.text

    detail = http.get(f"/traces/{trace.hex()}")
    assert detail.status_code == 200
    assert f'data-span="{child.hex()}" data-depth="1"' in detail.text
    assert f'data-span="{root.hex()}" data-depth="0"' in detail.text
    # The child starts at 25% of the trace and lasts 50% of it.
    assert "left:25.0%;width:50.0%" in detail.text
    assert "<script>alert(1)</script>" not in detail.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in detail.text


def test_pages_show_errors_not_500s(http: httpx.Client) -> None:
    _ingest(http, span(new_trace_id(), new_span_id()))
    missing = http.get(f"/traces/{'ab' * 16}")
    assert missing.status_code == 404
    bad = http.get("/traces", params={"min_latency_ms": "fast"})
    assert bad.status_code == 422
    assert "min_latency_ms must be a number" in bad.text
    bad_time = http.get("/traces", params={"start_after": "yesterday"})
    assert bad_time.status_code == 422
    assert http.get("/traces", params={"project": "empty"}).status_code == 200


def test_tags_scores_and_keyset_paging_on_the_pages(http: httpx.Client) -> None:
    tagged = new_trace_id()
    _ingest(http, span(tagged, new_span_id(), name="tagged-one", attrs={"podium.tags": "vip"}))
    plain = [
        span(new_trace_id(), new_span_id(), name=f"plain-{i}", start_ms=10 + i) for i in range(51)
    ]
    _ingest(http, *plain)
    reply = http.post(
        f"/api/v1/traces/{tagged.hex()}/scores",
        json={"name": "helpful", "value": 0.75, "comment": "<b>nice</b>"},
    )
    assert reply.status_code == 201
    only_vip = http.get("/traces", params={"tag": "vip"})
    assert "tagged-one" in only_vip.text
    assert "plain-0" not in only_vip.text
    assert '<span class="badge tag">vip</span>' in only_vip.text
    assert "tagged-one" in http.get("/traces", params={"min_score": "0.5"}).text
    assert "tagged-one" not in http.get("/traces", params={"min_score": "0.8"}).text

    first = http.get("/traces")
    assert "plain-50" in first.text
    assert "tagged-one" not in first.text  # the oldest of 52, on page two
    marker = 'rel="next"'
    assert marker in first.text
    href = first.text.split(marker)[0].rsplit('href="', 1)[1].split('"', 1)[0]
    assert "cursor=" in href
    second = http.get(href.replace("&amp;", "&"))
    assert "tagged-one" in second.text
    assert "plain-50" not in second.text

    detail = http.get(f"/traces/{tagged.hex()}")
    assert 'data-score="helpful"' in detail.text
    assert "0.75" in detail.text
    assert "&lt;b&gt;nice&lt;/b&gt;" in detail.text
    assert http.get("/traces", params={"cursor": "bad"}).status_code == 422
