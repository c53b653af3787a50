"""The trace list, trace detail and stats routes: filters, paging, tree, percentiles, errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.tracing.support import PROTOBUF, genai_attrs, new_span_id, new_trace_id, request, span

URL = "/otlp/v1/traces"


def _ingest(http: httpx.Client, *spans: Any, project: str = "default") -> None:
    reply = http.post(
        URL,
        content=request(*spans).SerializeToString(),
        headers={**PROTOBUF, "X-Podium-Project": project},
    )
    assert reply.status_code == 200, reply.text


def _ids(http: httpx.Client, **params: Any) -> list[str]:
    reply = http.get("/api/v1/traces", params=params)
    assert reply.status_code == 200, reply.text
    return [t["trace_id"] for t in reply.json()["items"]]


@pytest.fixture
def six(http: httpx.Client) -> list[str]:
    """Six one-span traces a minute apart (index 0 oldest) with varied fields."""
    ids: list[str] = []
    for i in range(6):
        trace = new_trace_id()
        attrs = genai_attrs(
            "gpt-4o" if i % 2 == 0 else "claude-3-haiku",
            input_tokens=1000 * (i + 1),
            output_tokens=100,
            **{"user.id": f"u{i % 3}", "session.id": f"s{i // 2}"},
        )
        if i == 4:
            attrs |= {"podium.prompt.name": "greet", "podium.prompt.version": 2}
        _ingest(
            http,
            span(
                trace,
                new_span_id(),
                start_ms=i * 60_000,
                duration_ms=100 * (i + 1),
                attrs=attrs,
                error=i == 5,
            ),
        )
        ids.append(trace.hex())
    return ids


def test_list_is_newest_first_and_pages(http: httpx.Client, six: list[str]) -> None:
    assert _ids(http) == six[::-1]
    first = http.get("/api/v1/traces", params={"limit": 4}).json()
    assert [t["trace_id"] for t in first["items"]] == six[:1:-1]
    assert first["next_offset"] == 4
    second = http.get("/api/v1/traces", params={"limit": 4, "offset": 4}).json()
    assert [t["trace_id"] for t in second["items"]] == [six[1], six[0]]
    assert second["next_offset"] is None


def test_filters(http: httpx.Client, six: list[str]) -> None:
    newest_first = six[::-1]
    assert _ids(http, model="gpt-4o") == [six[4], six[2], six[0]]
    assert _ids(http, user="u1") == [six[4], six[1]]
    assert _ids(http, session="s2") == [six[5], six[4]]
    assert _ids(http, error="true") == [six[5]]
    assert _ids(http, error="false") == newest_first[1:]
    assert _ids(http, min_latency_ms=450) == [six[5], six[4]]
    # cost: gpt-4o 1000*(i+1)*2.5e-6 + 100*10e-6; i=4 -> 0.0135
    assert _ids(http, min_cost_usd=0.013) == [six[4]]
    assert _ids(http, prompt="greet", prompt_version=2) == [six[4]]
    assert _ids(http, prompt="greet", prompt_version=1) == []
    assert _ids(http, start_after="2023-11-14T22:14:20Z", start_before="2023-11-14T22:16:20Z") == [
        six[2],
        six[1],
    ]
    assert _ids(http, project="nowhere") == []


def test_stats_buckets_and_percentiles(http: httpx.Client, six: list[str]) -> None:
    reply = http.get("/api/v1/traces/stats", params={"bucket": 180})
    assert reply.status_code == 200, reply.text
    buckets = reply.json()
    # Traces start at 22:13:20 + i minutes; 3-minute buckets are aligned to the epoch, so
    # 22:12 holds i=0,1; 22:15 holds i=2,3,4; 22:18 holds i=5.
    assert [b["start"] for b in buckets] == [
        "2023-11-14T22:12:00Z",
        "2023-11-14T22:15:00Z",
        "2023-11-14T22:18:00Z",
    ]
    assert [b["requests"] for b in buckets] == [2, 3, 1]
    middle = buckets[1]  # traces 2, 3, 4: latencies 300, 400, 500
    assert middle["latency_p50_ms"] == 400.0
    assert middle["latency_p95_ms"] == pytest.approx(490.0)
    assert middle["latency_p99_ms"] == pytest.approx(498.0)
    assert middle["input_tokens"] == 3000 + 4000 + 5000
    assert middle["errors"] == 0
    assert buckets[2]["error_rate"] == 1.0

    per_model = http.get("/api/v1/traces/stats", params={"bucket": 3600, "per_model": "true"})
    by_model = {b["model"]: b for b in per_model.json()}
    assert set(by_model) == {"gpt-4o", "claude-3-haiku"}
    assert by_model["gpt-4o"]["requests"] == 3
    assert by_model["claude-3-haiku"]["errors"] == 1
    assert by_model["gpt-4o"]["cost_usd"] == pytest.approx(
        (1000 + 3000 + 5000) * 2.5e-6 + 3 * 100 * 10e-6
    )


def test_stats_refuses_too_many_buckets(http: httpx.Client) -> None:
    trace = new_trace_id()
    _ingest(http, span(trace, new_span_id(), start_ms=0), span(trace, new_span_id()))
    for i in range(3):
        _ingest(http, span(new_trace_id(), new_span_id(), start_ms=i * 10_000_000_000))
    # three traces ~115 days apart at 1-second buckets is fine: only non-empty buckets count
    assert http.get("/api/v1/traces/stats", params={"bucket": 1}).status_code == 200
    assert http.get("/api/v1/traces/stats", params={"bucket": 0}).status_code == 422


def test_detail_is_a_tree_with_orphans_at_the_top(http: httpx.Client) -> None:
    trace = new_trace_id()
    root, child, grandchild, orphan = (new_span_id() for _ in range(4))
    _ingest(
        http,
        span(trace, grandchild, name="grandchild", parent=child, start_ms=20),
        span(trace, root, name="root", duration_ms=500),
        span(trace, child, name="child", parent=root, start_ms=10),
        span(trace, orphan, name="orphan", parent=new_span_id(), start_ms=30),
    )
    detail = http.get(f"/api/v1/traces/{trace.hex().upper()}").json()
    assert [s["name"] for s in detail["spans"]] == ["root", "orphan"]
    [child_node] = detail["spans"][0]["children"]
    assert child_node["name"] == "child"
    assert [g["name"] for g in child_node["children"]] == ["grandchild"]
    assert detail["span_count"] == 4
    assert detail["duration_ms"] == 500.0


def test_detail_breaks_parent_cycles(http: httpx.Client) -> None:
    trace = new_trace_id()
    a, b = new_span_id(), new_span_id()
    _ingest(
        http,
        span(trace, a, name="a", parent=b, start_ms=0),
        span(trace, b, name="b", parent=a, start_ms=5),
    )
    detail = http.get(f"/api/v1/traces/{trace.hex()}").json()
    # "a" (first by start time) goes under "b"; "b" under "a" would close a loop, so "b" becomes
    # a root: nothing is lost and nothing loops.
    assert [s["name"] for s in detail["spans"]] == ["b"]
    assert [c["name"] for c in detail["spans"][0]["children"]] == ["a"]


def test_unknown_and_malformed_trace_ids(http: httpx.Client) -> None:
    _ingest(http, span(new_trace_id(), new_span_id()))
    missing = http.get(f"/api/v1/traces/{'ab' * 16}")
    assert missing.status_code == 404
    assert missing.json()["field"] == "trace_id"
    assert http.get("/api/v1/traces/not-a-trace-id").status_code == 422
    bad_time = http.get("/api/v1/traces", params={"start_after": "yesterday"})
    assert bad_time.status_code == 422
