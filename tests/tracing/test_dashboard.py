"""Dashboard data: ``/api/v1/traces/timeseries`` aggregates per bucket and series, and the page."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.tracing.support import (
    PROTOBUF,
    T0_NS,
    genai_attrs,
    new_span_id,
    new_trace_id,
    request,
    span,
)

T0_MS = T0_NS // 1_000_000
HOUR_MS = 3_600_000
SINCE = "2023-11-14T22:00:00Z"  # the bucket T0 (22:13:20) falls in starts at 22:00
UNTIL = "2023-11-15T01:00:00Z"


def ingest(http: httpx.Client, *spans: Any, project: str = "default") -> None:
    body = request(*spans).SerializeToString()
    response = http.post(
        "/otlp/v1/traces", content=body, headers={**PROTOBUF, "X-Podium-Project": project}
    )
    assert response.status_code == 200, response.text


def llm_span(
    offset_ms: int,
    duration_ms: int,
    model: str,
    *,
    error: bool = False,
    prompt: tuple[str, int] | None = None,
) -> Any:
    attrs = genai_attrs(model, input_tokens=100, output_tokens=10)
    if prompt is not None:
        attrs.update({"podium.prompt.name": prompt[0], "podium.prompt.version": prompt[1]})
    return span(
        new_trace_id(),
        new_span_id(),
        start_ms=offset_ms,
        duration_ms=duration_ms,
        attrs=attrs,
        error=error,
    )


@pytest.fixture
def traffic(http: httpx.Client) -> None:
    """Hour 0 (from 22:00): 4 gpt-4o traces (one failed) + 1 o3; hour 2: 2 gpt-4o."""
    ingest(
        http,
        llm_span(0, 100, "gpt-4o"),
        llm_span(1000, 200, "gpt-4o"),
        llm_span(2000, 300, "gpt-4o", error=True),
        llm_span(3000, 400, "gpt-4o"),
        llm_span(4000, 1000, "o3"),
        llm_span(2 * HOUR_MS, 50, "gpt-4o"),
        llm_span(2 * HOUR_MS + 10, 150, "gpt-4o"),
    )


def series(http: httpx.Client, **params: Any) -> dict[str, Any]:
    response = http.get(
        "/api/v1/traces/timeseries",
        params={"since": SINCE, "until": UNTIL, "bucket": 3600, **params},
    )
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data


@pytest.mark.usefixtures("traffic")
def test_totals_per_bucket_without_grouping(http: httpx.Client) -> None:
    data = series(http)
    assert data["buckets_ms"] == [T0_MS - 800_000 + i * HOUR_MS for i in range(3)]
    (everything,) = data["series"]
    assert everything["key"] == "all"
    assert everything["requests"] == [5, 0, 2]
    assert everything["errors"] == [1, 0, 0]
    assert everything["error_rate"] == [0.2, None, 0.0]
    assert everything["latency_p50_ms"] == [300.0, None, 100.0]
    # p95 of 100, 200, 300, 400, 1000 interpolates between 400 and 1000.
    assert everything["latency_p95_ms"] == pytest.approx([880.0, None, 145.0])
    assert everything["input_tokens"] == [500, 0, 200]
    assert everything["output_tokens"] == [50, 0, 20]
    assert everything["cost_usd"][1] == 0.0
    assert everything["cost_usd"][0] > 0


@pytest.mark.usefixtures("traffic")
def test_one_series_per_model_busiest_first(http: httpx.Client) -> None:
    data = series(http, group_by="model")
    assert [s["key"] for s in data["series"]] == ["gpt-4o", "o3"]
    gpt, o3 = data["series"]
    assert gpt["requests"] == [4, 0, 2]
    assert gpt["errors"] == [1, 0, 0]
    assert o3["requests"] == [1, 0, 0]
    assert o3["latency_p99_ms"] == [1000.0, None, None]


def test_one_series_per_prompt_version(http: httpx.Client) -> None:
    ingest(
        http,
        llm_span(0, 100, "gpt-4o", prompt=("support", 1)),
        llm_span(10, 100, "gpt-4o", prompt=("support", 2)),
        llm_span(20, 100, "gpt-4o", prompt=("support", 2)),
        llm_span(30, 100, "gpt-4o"),
    )
    data = series(http, group_by="prompt")
    by_key = {s["key"]: s["requests"][0] for s in data["series"]}
    assert by_key == {"support:v2": 2, "support:v1": 1, "(none)": 1}


def test_relative_times_and_unknown_project(http: httpx.Client) -> None:
    response = http.get(
        "/api/v1/traces/timeseries", params={"project": "nobody", "since": "6h", "bucket": 900}
    )
    assert response.status_code == 200
    data = response.json()
    assert data["series"] == []
    assert len(data["buckets_ms"]) in (24, 25)  # 6 h of 15 min buckets, aligned to the bucket


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"since": "1h", "until": "2h"}, "until"),
        ({"until": "later"}, "until"),
        ({"since": "99999999999d"}, "since"),
        ({"since": "30d", "bucket": 60}, "bucket"),
        ({"group_by": "user"}, "group_by"),
        ({"bucket": 0}, "bucket"),
    ],
)
def test_bad_parameters_are_422_naming_the_field(
    http: httpx.Client, params: dict[str, Any], field: str
) -> None:
    response = http.get("/api/v1/traces/timeseries", params=params)
    assert response.status_code == 422, response.text
    assert field in response.text


def test_dashboard_page_points_at_the_rest_data(http: httpx.Client) -> None:
    page = http.get("/traces/dashboard", params={"project": "p1", "since": "7d"})
    assert page.status_code == 200
    assert "Dashboard of p1" in page.text
    assert (
        'data-url="/api/v1/traces/timeseries?project=p1&amp;since=7d&amp;bucket=3600&amp;'
        'group_by=none"' in page.text
    )
    for figure in ("requests", "error_rate", "latency_p95_ms", "cost_usd", "output_tokens"):
        assert f'data-figure="{figure}"' in page.text
    assert http.get("/traces/dashboard", params={"since": "1y"}).status_code == 422
    assert http.get("/traces/dashboard", params={"group_by": "x"}).status_code == 422
