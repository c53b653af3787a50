"""Response cache, tracing spans, PII guardrail and automatic canary rollback (both databases
where the database is involved)."""

from __future__ import annotations

import time

import httpx
import pytest

from podium.gateway.guardrails import luhn_ok, redact_text
from podium.tracing import sql as tracing_sql
from podium.tracing.models import TraceFilter
from tests.gateway.conftest import GatewayServer, backend_name, deployment
from tests.gateway.upstream import FaultyUpstream

HI = [{"role": "user", "content": "hi"}]


def test_exact_match_cache_with_ttl(
    shared_gateway: GatewayServer, upstream: FaultyUpstream
) -> None:
    name, route = backend_name(), backend_name("r")
    shared_gateway.put_route(route, cache_ttl_s=0.5, deployments=[deployment(upstream, name)])
    client = shared_gateway.client()
    first = client.chat.completions.with_raw_response.create(model=route, messages=HI)
    second = client.chat.completions.with_raw_response.create(model=route, messages=HI)
    other = client.chat.completions.with_raw_response.create(
        model=route, messages=[{"role": "user", "content": "bye"}]
    )
    assert [r.headers["x-podium-cache"] for r in (first, second, other)] == ["miss", "hit", "miss"]
    assert second.parse().choices[0].message.content == first.parse().choices[0].message.content
    assert upstream.calls(name) == 2
    # Streams are never cached; an expired entry is fetched again.
    list(client.chat.completions.create(model=route, messages=HI, stream=True))
    assert upstream.calls(name) == 3
    time.sleep(0.6)
    again = client.chat.completions.with_raw_response.create(model=route, messages=HI)
    assert again.headers["x-podium-cache"] == "miss"
    assert upstream.calls(name) == 4


def test_every_request_becomes_a_span(gateway: GatewayServer, upstream: FaultyUpstream) -> None:
    services = gateway.services
    good, bad = backend_name(), backend_name()
    upstream.set(bad, "500")
    services.prompts.create_prompt(
        "default", "support", template="You are support.", labels=["production"]
    )
    gateway.put_route(
        "chat", deployments=[deployment(upstream, good, model="gpt-4o", prompt="support")]
    )
    gateway.put_route("broken", retries=1, backoff_ms=1, deployments=[deployment(upstream, bad)])
    client = gateway.client()
    client.chat.completions.create(model="chat", messages=HI, user="alice")
    list(client.chat.completions.create(model="chat", messages=HI, stream=True))
    with pytest.raises(Exception, match="500"):
        client.chat.completions.create(model="broken", messages=HI)
    # The bound prompt went in front of the client's messages.
    assert upstream.backends[good].last_body["messages"][0] == {
        "role": "system",
        "content": "You are support.",
    }
    services.gateway.recorder.flush()
    project = services.projects.by_name("default")
    with services.db.read() as conn:
        traces = tracing_sql.list_traces(conn, project.id, TraceFilter(), 0, 10)
        spans = [s for t in traces for s in tracing_sql.spans_of(conn, t.trace_id)]
    by_route = sorted(spans, key=lambda s: (s.attributes["gateway.route"], s.start_time))
    assert [(s.attributes["gateway.route"], s.status) for s in by_route] == [
        ("broken", "error"),
        ("chat", "ok"),
        ("chat", "ok"),
    ]
    broken, chat, streamed = by_route
    assert broken.attributes["gateway.attempts"] == 2
    assert broken.attributes["http.status_code"] == 502
    assert "500" in broken.status_message
    assert chat.model == "gpt-4o" and chat.operation == "chat"
    assert (chat.input_tokens, chat.output_tokens) == (5, 7)
    assert chat.cost_usd == pytest.approx((5 * 2.5 + 7 * 10.0) / 1e6)
    assert chat.user_id == "alice"
    assert (chat.prompt_name, chat.prompt_version) == ("support", 1)
    assert chat.attributes["gateway.deployment"] == good
    assert (streamed.input_tokens, streamed.output_tokens) == (5, 7)  # counted on streams too
    assert services.gateway.recorder.dropped == 0


def test_pii_redaction_hook(shared_gateway: GatewayServer, upstream: FaultyUpstream) -> None:
    name, route = backend_name(), backend_name("r")
    shared_gateway.put_route(
        route, guardrails=["pii_redaction"], deployments=[deployment(upstream, name)]
    )
    text = (
        "mail jo@example.com, call +1 415 555 0100, card 4111 1111 1111 1111, order 1234567890123"
    )
    shared_gateway.client().chat.completions.create(
        model=route, messages=[{"role": "user", "content": text}]
    )
    sent = upstream.backends[name].last_body["messages"][0]["content"]
    assert sent == "mail [EMAIL], call [PHONE], card [CARD], order 1234567890123"


def test_luhn_and_redaction_units() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert redact_text("no pii here, 42 apples") == "no pii here, 42 apples"
    assert redact_text("5500-0000-0000-0004") == "[CARD]"


def test_regressing_canary_is_rolled_back_automatically(
    gateway: GatewayServer, upstream: FaultyUpstream
) -> None:
    services = gateway.services
    stable, canary = backend_name(), backend_name()
    upstream.set(canary, "500")
    gateway.put_route(
        "chat",
        retries=0,
        breaker_failures=1000,
        deployments=[deployment(upstream, stable), deployment(upstream, canary, role="canary")],
        canary={"steps": [50, 100], "min_requests": 5, "window_s": 60},
    )
    for i in range(24):
        httpx.post(
            gateway.url + "/v1/chat/completions",
            json={"model": "chat", "messages": HI, "user": f"u{i}"},
        )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        route = services.gateway.service.get_route("default", "chat")
        if route.spec.canary is not None and route.spec.canary.state == "rolled_back":
            break
        time.sleep(0.1)
    assert route.spec.canary is not None and route.spec.canary.state == "rolled_back"
    events = services.gateway.service.history("default", "chat")
    assert events[0].action == "canary_rolled_back" and events[0].actor == "gateway"
    assert "canary error rate 100.0%" in events[0].details["reason"]
    audited = services.audit.search(project="default")
    assert any(e.action == "gateway.canary_rolled_back" for e in audited)
    # From now on every user gets the stable deployment.
    calls = upstream.calls(canary)
    time.sleep(1.1)
    for i in range(10):
        reply = httpx.post(
            gateway.url + "/v1/chat/completions",
            json={"model": "chat", "messages": HI, "user": f"u{i}"},
        )
        assert reply.status_code == 200
    assert upstream.calls(canary) == calls


def test_redaction_keeps_dates_and_plain_numbers() -> None:
    assert redact_text("on 2024-05-01 ship 1234567890123") == "on 2024-05-01 ship 1234567890123"
    assert redact_text("ring (030) 1234-5678") == "ring [PHONE]"


def test_healthy_canary_is_promoted_on_schedule_and_slow_one_rolled_back(
    shared_gateway: GatewayServer, upstream: FaultyUpstream
) -> None:
    service = shared_gateway.services.gateway.service
    stable, canary, slow = backend_name(), backend_name(), backend_name()
    upstream.set(slow, "slow", delay_s=0.15)
    healthy, laggy = backend_name("r"), backend_name("r")
    rollout = {"steps": [50, 100], "min_requests": 3, "window_s": 60}
    shared_gateway.put_route(
        healthy,
        deployments=[deployment(upstream, stable), deployment(upstream, canary, role="canary")],
        canary={**rollout, "promote_every_s": 0.3},
    )
    shared_gateway.put_route(
        laggy,
        deployments=[deployment(upstream, stable), deployment(upstream, slow, role="canary")],
        canary={**rollout, "max_latency_ratio": 3},
    )
    client = shared_gateway.client()
    time.sleep(0.3)
    deadline = time.monotonic() + 15
    done: set[str] = set()
    i = 0
    while len(done) < 2 and time.monotonic() < deadline:
        for route in (healthy, laggy):
            client.chat.completions.create(model=route, messages=HI, user=f"u{i}")
        i += 1
        for route in (healthy, laggy):
            canary_spec = service.get_route("default", route).spec.canary
            assert canary_spec is not None
            if canary_spec.state != "rolling" or canary_spec.step > 0:
                done.add(route)
    promoted = service.get_route("default", healthy).spec.canary
    assert promoted is not None and promoted.percent == 100.0
    rolled = service.get_route("default", laggy).spec.canary
    assert rolled is not None and rolled.state == "rolled_back"
    (event,) = [e for e in service.history("default", laggy) if e.action == "canary_rolled_back"]
    assert "p95 latency" in event.details["reason"] and event.actor == "gateway"
    assert service.history("default", healthy)[0].details["reason"].startswith("scheduled")
