"""Alert rules: CRUD over REST, evaluation (for N evaluations, fire, resolve), webhooks with
retries against a real receiver, the background evaluator, the page and the CLI."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from podium.cli.main import app
from podium.server.app import Services
from podium.settings import Settings
from podium.store.clock import now_ms
from podium.tracing.alerts_service import AlertEvaluator
from podium.tracing.drift import DriftDetector
from podium.tracing.webhooks import WebhookSender
from tests.tracing.support import PROTOBUF, T0_NS, new_span_id, new_trace_id, request, span
from tests.tracing.test_drift import BILLING, WEATHER, english_only, hash_embed

T0_MS = T0_NS // 1_000_000
MINUTE_MS = 60_000


# -- a real webhook receiver on 127.0.0.1 ----------------------------------------------------


class Receiver:
    """What the receiver was sent, and the statuses it still has to answer."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = list(statuses)
        self.bodies: list[dict[str, Any]] = []
        self.answered: list[int] = []
        self.url = ""
        self.lock = threading.Lock()


@contextmanager
def webhook_receiver(*statuses: int) -> Iterator[Receiver]:
    """Serve a receiver answering ``statuses`` in order, then 200, until the block ends."""
    receiver = Receiver(list(statuses))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            with receiver.lock:
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.bodies.append(body)
                receiver.answered.append(status)
            self.send_response(status)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def ingest(http: httpx.Client, spans: list[Any], project: str = "shop") -> None:
    body = request(*spans).SerializeToString()
    reply = http.post(
        "/otlp/v1/traces", content=body, headers={**PROTOBUF, "X-Podium-Project": project}
    )
    assert reply.status_code == 200, reply.text


def calls(at_ms: int, n: int, duration_ms: int, *, errors: int = 0, text: str = "") -> list[Any]:
    """``n`` model calls starting at ``at_ms`` (epoch), ``errors`` of them failed."""
    attrs: dict[str, Any] = {"gen_ai.request.model": "m"}
    return [
        span(
            new_trace_id(),
            new_span_id(),
            start_ms=at_ms - T0_MS + i,
            duration_ms=duration_ms,
            attrs={**attrs, "gen_ai.prompt": f"{text} {i}"} if text else attrs,
            error=i < errors,
        )
        for i in range(n)
    ]


def rule(http: httpx.Client, **body: Any) -> dict[str, Any]:
    response = http.post("/api/v1/alerts/rules", json={"project": "shop", **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def events(http: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    response = http.get("/api/v1/alerts/events", params={"project": "shop", **params})
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["items"]
    return found


def fast_webhooks(services: Services) -> None:
    services.alerts.webhooks = WebhookSender(timeout_s=2, retries=3, backoff_s=0.01)


def test_rule_crud(http: httpx.Client) -> None:
    created = rule(
        http, name="slow", metric="p95_latency_ms", threshold=2000, window_s=300, for_count=2
    )
    assert created["state"] == "ok"
    assert created["comparator"] == ">"
    assert created["breaches"] == 0
    assert created["created_by"] == "local"
    duplicate = http.post(
        "/api/v1/alerts/rules",
        json={"project": "shop", "name": "slow", "metric": "cost", "threshold": 1},
    )
    assert duplicate.status_code == 409
    assert "podium alerts delete" in duplicate.json()["detail"]
    listed = http.get("/api/v1/alerts/rules", params={"project": "shop"}).json()["items"]
    assert [r["name"] for r in listed] == ["slow"]
    path = f"/api/v1/alerts/rules/{created['id']}"
    assert http.get(path, params={"project": "shop"}).json()["metric"] == "p95_latency_ms"
    assert http.get(path, params={"project": "other"}).status_code == 404
    assert http.delete(path, params={"project": "shop"}).status_code == 204
    missing = http.get(path, params={"project": "shop"})
    assert missing.status_code == 404
    assert "podium alerts list" in missing.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "metric": "p42", "threshold": 1}, "metric"),
        ({"name": "x", "metric": "cost", "threshold": 1, "comparator": "=="}, "comparator"),
        ({"name": "x", "metric": "cost", "threshold": 1, "window_s": 1}, "window_s"),
        ({"name": "x", "metric": "cost", "threshold": 1, "webhook_url": "ftp://x"}, "webhook_url"),
        ({"name": "/x", "metric": "cost", "threshold": 1}, "name"),
        (
            {"name": "x", "metric": "cost", "threshold": 1, "webhook_url": "http://a\u0000"},
            "webhook",
        ),
        ({"name": "x", "metric": "cost"}, "threshold"),
    ],
)
def test_invalid_rules_are_422_naming_the_field(
    http: httpx.Client, body: dict[str, Any], field: str
) -> None:
    response = http.post("/api/v1/alerts/rules", json={"project": "shop", **body})
    assert response.status_code == 422, response.text
    assert field in response.text


def test_fires_after_n_evaluations_posts_webhook_with_retries_and_resolves(
    http: httpx.Client, services: Services
) -> None:
    fast_webhooks(services)
    at = T0_MS + 10 * MINUTE_MS
    ingest(http, calls(at - MINUTE_MS, 20, 3000))
    with webhook_receiver(500, 503) as receiver:
        created = rule(
            http,
            name="p95 latency",
            metric="p95_latency_ms",
            threshold=2000,
            window_s=300,
            for_count=2,
            webhook_url=receiver.url,
        )
        assert services.alerts.evaluate("shop", at_ms=at) == []  # 1 of 2 breaching evaluations
        assert services.alerts.get_rule("shop", created["id"]).breaches == 1
        (fired,) = services.alerts.evaluate("shop", at_ms=at + 1000)
        assert fired.kind == "fired"
        assert fired.value == 3000.0
        assert (fired.delivery, fired.attempts, fired.delivery_error) == ("delivered", 3, None)
        assert receiver.answered == [500, 503, 200]
        body = receiver.bodies[-1]
        assert body["event"] == "fired"
        assert body["rule"] == "p95 latency"
        assert body["value"] == 3000.0
        assert body["threshold"] == 2000.0
        assert body["event_id"] == fired.id
        assert services.alerts.evaluate("shop", at_ms=at + 2000) == []  # still firing: no event
        # Ten minutes on, the window holds no traffic: no p95, so the rule resolves.
        (resolved,) = services.alerts.evaluate("shop", at_ms=at + 10 * MINUTE_MS)
        assert resolved.kind == "resolved"
        assert resolved.value is None
        assert (resolved.delivery, resolved.attempts) == ("delivered", 1)
        assert [b["event"] for b in receiver.bodies] == ["fired", "fired", "fired", "resolved"]
    listed = events(http)
    assert [(e["kind"], e["delivery"], e["attempts"]) for e in listed] == [
        ("resolved", "delivered", 1),
        ("fired", "delivered", 3),
    ]
    assert events(http, rule_id=created["id"] + 1) == []
    state = http.get(f"/api/v1/alerts/rules/{created['id']}", params={"project": "shop"}).json()
    assert state["state"] == "ok"
    assert state["last_value"] is None


def test_failed_deliveries_are_recorded(http: httpx.Client, services: Services) -> None:
    fast_webhooks(services)
    at = T0_MS + 10 * MINUTE_MS
    ingest(http, calls(at - MINUTE_MS, 10, 100, errors=5))
    with webhook_receiver(500, 500, 500, 500, 500) as down, webhook_receiver(404) as wrong:
        rule(http, name="errors", metric="error_rate", threshold=0.2, webhook_url=down.url)
        rule(http, name="busy", metric="request_count", threshold=5, webhook_url=wrong.url)
        rule(http, name="quiet", metric="request_count", comparator="<", threshold=1)
        found = {e.rule_name: e for e in services.alerts.evaluate("shop", at_ms=at)}
    assert set(found) == {"errors", "busy"}
    assert found["errors"].value == 0.5
    assert (found["errors"].delivery, found["errors"].attempts) == ("failed", 4)
    assert found["errors"].delivery_error == "HTTP 500: ok"
    # A 404 is the receiver's final answer: not retried.
    assert (found["busy"].delivery, found["busy"].attempts) == ("failed", 1)
    unreachable = WebhookSender(timeout_s=1, retries=1, backoff_s=0.01).send(
        "http://127.0.0.1:9/hook", {"x": 1}
    )
    assert unreachable.status == "failed"
    assert unreachable.attempts == 2
    assert unreachable.error is not None and "ConnectError" in unreachable.error


def test_drift_p_value_rule(http: httpx.Client, services: Services) -> None:
    services.monitoring.detector = DriftDetector(
        embed=hash_embed, detect_languages=english_only, permutations=300
    )
    hour = 60 * MINUTE_MS
    at = T0_MS + 8 * hour
    spans = []
    for h in range(7):  # seven reference hours about the weather
        spans += calls(T0_MS + h * hour, 10, 100, text=" ".join(WEATHER[h : h + 4]))
    spans += calls(at - hour, 30, 100, text=" ".join(BILLING[:4]))  # the current hour: billing
    ingest(http, spans)
    rule(http, name="drift", metric="drift_p_value", comparator="<", threshold=0.01, window_s=3600)
    (fired,) = services.alerts.evaluate("shop", at_ms=at)
    assert fired.kind == "fired"
    assert fired.value is not None and fired.value < 0.01
    assert fired.delivery == "none"


def test_rest_evaluate_uses_now_and_needs_alert_permission(
    http: httpx.Client, services: Services
) -> None:
    ingest(http, calls(now_ms() - 5000, 4, 100, errors=1))
    rule(http, name="any error", metric="error_count", comparator=">=", threshold=1, window_s=60)
    response = http.post("/api/v1/alerts/evaluate", params={"project": "shop"})
    assert response.status_code == 200, response.text
    (fired,) = response.json()
    assert (fired["rule_name"], fired["kind"], fired["value"]) == ("any error", "fired", 1.0)
    assert http.post("/api/v1/alerts/evaluate", params={"project": "shop"}).json() == []


def test_background_evaluator_runs_and_stops(http: httpx.Client, services: Services) -> None:
    ingest(http, calls(now_ms() - 5000, 3, 100))
    with webhook_receiver() as receiver:
        rule(http, name="traffic", metric="request_count", threshold=2, webhook_url=receiver.url)
        evaluator = AlertEvaluator(services.alerts, interval_s=0.05)
        evaluator.start()
        evaluator.start()  # idempotent
        deadline = time.monotonic() + 20
        while not receiver.bodies and time.monotonic() < deadline:
            time.sleep(0.05)
        evaluator.stop()
        assert not evaluator.running
        assert evaluator.runs >= 1
        assert [b["event"] for b in receiver.bodies] == ["fired"]
    evaluator.stop()  # idempotent


def test_alerts_page_lists_rules_and_events(http: httpx.Client, services: Services) -> None:
    assert "No alert rules in this project" in http.get("/alerts?project=shop").text
    at = T0_MS + 10 * MINUTE_MS
    ingest(http, calls(at - MINUTE_MS, 3, 100))
    rule(http, name="traffic", metric="request_count", threshold=2)
    rule(http, name="errors", metric="error_rate", threshold=0.5)
    services.alerts.evaluate("shop", at_ms=at)
    page = http.get("/alerts", params={"project": "shop"})
    assert page.status_code == 200
    assert 'data-rule="traffic" data-state="firing"' in page.text
    assert 'data-rule="errors" data-state="ok"' in page.text
    assert 'data-kind="fired"' in page.text
    assert "request_count &gt; 2" in page.text


def test_alerts_cli_in_process(settings: Settings, services: Services) -> None:
    env = {
        "PODIUM_URL": "",
        "PODIUM_HOME": str(settings.home),
        "PODIUM_DATABASE_URL": settings.resolved_database_url,
        "COLUMNS": "200",
    }
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(app, ["alerts", *args], env=env)
        assert result.exit_code == 0, (result.output, result.exception)
        return result.output

    out = run(
        "create", "-p", "cli", "--name", "p95", "--metric", "p95_latency_ms",
        "--threshold", "2000", "--window", "5m", "--for", "3",
    )  # fmt: skip
    assert "created alert rule" in out
    assert "p95_latency_ms > 2000 over 300s" in out
    (listed,) = json.loads(run("list", "-p", "cli", "--json"))
    assert (listed["name"], listed["window_s"], listed["for_count"]) == ("p95", 300, 3)
    assert "p95_latency_ms > 2000" in run("list", "-p", "cli")
    assert "no rule changed state" in run("evaluate", "-p", "cli")
    assert json.loads(run("events", "-p", "cli", "--json")) == []
    assert f"deleted alert rule {listed['id']}" in run("delete", str(listed["id"]), "-p", "cli")
    assert json.loads(run("list", "-p", "cli", "--json")) == []
    bad = runner.invoke(app, ["alerts", "create", "-n", "x", "-m", "cost", "-t", "1", "-w", "soon"])
    assert bad.exit_code == 2
