"""``/metrics`` exports per-project trace figures and alert states in valid Prometheus text."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from podium.server.app import Services
from podium.store.clock import now_ms
from tests.tracing.support import PROTOBUF, T0_NS, genai_attrs, new_span_id, new_trace_id, span
from tests.tracing.support import request as otlp_request

T0_MS = T0_NS // 1_000_000


def samples(http: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_recent_figures_per_project_and_alert_states(
    http: httpx.Client, services: Services
) -> None:
    start = now_ms() - 10_000
    spans = [
        span(
            new_trace_id(),
            new_span_id(),
            start_ms=start - T0_MS + i,
            duration_ms=100 * (i + 1),
            attrs=genai_attrs("gpt-4o", input_tokens=10, output_tokens=5),
            error=i == 0,
        )
        for i in range(4)
    ]
    # An old trace, outside the window: not counted.
    spans.append(span(new_trace_id(), new_span_id(), attrs=genai_attrs("gpt-4o")))
    body = otlp_request(*spans).SerializeToString()
    headers = {**PROTOBUF, "X-Podium-Project": "shop"}
    assert http.post("/otlp/v1/traces", content=body, headers=headers).status_code == 200
    services.projects.ensure("idle")
    created = http.post(
        "/api/v1/alerts/rules",
        json={"project": "shop", "name": "busy", "metric": "request_count", "threshold": 3},
    )
    assert created.status_code == 201
    assert http.post("/api/v1/alerts/evaluate", params={"project": "shop"}).status_code == 200

    found = samples(http)
    shop = (("project", "shop"),)
    assert found[("podium_trace_requests", shop)] == 4
    assert found[("podium_trace_errors", shop)] == 1
    assert found[("podium_trace_error_rate", shop)] == 0.25
    assert found[("podium_trace_tokens", (("direction", "input"), ("project", "shop")))] == 40
    assert found[("podium_trace_tokens", (("direction", "output"), ("project", "shop")))] == 20
    assert found[("podium_trace_cost_usd", shop)] > 0
    p50 = found[("podium_trace_latency_ms", (("project", "shop"), ("quantile", "0.5")))]
    assert p50 == 250.0
    assert found[("podium_trace_window_seconds", ())] == 300
    firing = (("metric", "request_count"), ("project", "shop"), ("rule", "busy"))
    assert found[("podium_alert_firing", firing)] == 1
    # Every project appears, with zeros when idle; no latency quantiles without traffic.
    assert found[("podium_trace_requests", (("project", "idle"),))] == 0
    assert not any(
        name == "podium_trace_latency_ms" and ("project", "idle") in labels
        for name, labels in found
    )
    # The server's own request metrics are still there.
    assert any(name.startswith("podium_http_requests") for name, _ in found)
