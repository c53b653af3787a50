"""Operator routes: health, Prometheus metrics, the OpenAPI spec."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families


def test_health_reports_database_and_schema(http: httpx.Client, backend: str) -> None:
    body = http.get("/api/v1/health").json()
    assert body["status"] == "ok"
    assert body["database"] == ("sqlite" if backend == "sqlite" else "postgresql")
    assert body["schema_revision"] is not None


def test_metrics_count_requests_by_route_template(http: httpx.Client) -> None:
    http.get("/api/v1/projects/one")
    http.get("/api/v1/projects/two")
    response = http.get("/metrics")
    assert response.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    samples = [
        s
        for s in families["podium_http_requests"].samples
        if s.name == "podium_http_requests_total"
    ]
    by_route = {(s.labels["route"], s.labels["status"]): s.value for s in samples}
    # Both lookups share one label set: the template, not the raw path.
    assert by_route[("/api/v1/projects/{name}", "404")] == 2
    assert "podium_http_request_duration_seconds" in families


def test_openapi_spec_is_complete(http: httpx.Client) -> None:
    spec = http.get("/api/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    assert "/api/v1/projects" in paths and "/api/v1/health" in paths
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert operation.get("tags"), f"{method.upper()} {path} has no tag"
            assert operation.get("responses"), f"{method.upper()} {path} documents no response"
