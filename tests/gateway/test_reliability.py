"""Retries, fallback chains, circuit breakers and the sticky weighted split, driven through the
fault-injecting upstream with the real ``openai`` SDK."""

from __future__ import annotations

import time
from collections import Counter

import openai
import pytest

from podium.gateway.models import RouteSpec, effective_weights, pick_weighted, sticky_point
from podium.gateway.reliability import CLOSED, HALF_OPEN, OPEN, CircuitBreaker, backoff_s
from tests.gateway.conftest import GatewayServer, backend_name, deployment
from tests.gateway.upstream import FaultyUpstream

HI = [{"role": "user", "content": "hi"}]


def _ask(gateway: GatewayServer, route: str, **extra: object) -> str:
    reply = gateway.client().chat.completions.create(model=route, messages=HI, **extra)  # type: ignore[call-overload]
    return str(reply.choices[0].message.content)


@pytest.mark.parametrize("mode", ["500", "429", "drop", "malformed"])
def test_retries_recover_from_transient_failures(
    shared_gateway: GatewayServer, upstream: FaultyUpstream, mode: str
) -> None:
    name, route = backend_name(), backend_name("r")
    upstream.set(name, mode, fail_times=2)
    shared_gateway.put_route(
        route, retries=2, backoff_ms=1, deployments=[deployment(upstream, name)]
    )
    assert _ask(shared_gateway, route) == f"hello from {name}"
    assert upstream.calls(name) == 3  # two failures, then the success


def test_retries_give_up_after_the_configured_attempts(
    shared_gateway: GatewayServer, upstream: FaultyUpstream
) -> None:
    name, route = backend_name(), backend_name("r")
    upstream.set(name, "500")
    shared_gateway.put_route(
        route, retries=3, backoff_ms=1, deployments=[deployment(upstream, name)]
    )
    with pytest.raises(openai.InternalServerError) as caught:
        _ask(shared_gateway, route)
    assert caught.value.status_code == 502
    assert upstream.calls(name) == 4


def test_streaming_retries_before_the_first_chunk(
    shared_gateway: GatewayServer, upstream: FaultyUpstream
) -> None:
    name, route = backend_name(), backend_name("r")
    upstream.set(name, "500", fail_times=1)
    shared_gateway.put_route(
        route, retries=1, backoff_ms=1, deployments=[deployment(upstream, name)]
    )
    stream = shared_gateway.client().chat.completions.create(model=route, messages=HI, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream) == f"hello from {name}"
    assert upstream.calls(name) == 2


def test_fallback_chain_on_5xx_and_429(
    shared_gateway: GatewayServer, upstream: FaultyUpstream
) -> None:
    down, limited, good = backend_name(), backend_name(), backend_name()
    upstream.set(down, "500")
    upstream.set(limited, "429")
    first, second, third = backend_name("r"), backend_name("r"), backend_name("r")
    shared_gateway.put_route(third, deployments=[deployment(upstream, good)])
    shared_gateway.put_route(second, retries=0, deployments=[deployment(upstream, limited)])
    shared_gateway.put_route(
        first,
        retries=1,
        backoff_ms=1,
        fallbacks=[second, third],
        deployments=[deployment(upstream, down)],
    )
    reply = shared_gateway.client().chat.completions.with_raw_response.create(
        model=first, messages=HI
    )
    assert reply.headers["x-podium-route"] == third
    assert reply.parse().choices[0].message.content == f"hello from {good}"
    assert reply.parse().model == first
    assert (upstream.calls(down), upstream.calls(limited), upstream.calls(good)) == (2, 1, 1)


def test_no_fallback_on_a_client_error(
    shared_gateway: GatewayServer, upstream: FaultyUpstream
) -> None:
    bad, good = backend_name(), backend_name()
    upstream.set(bad, "400")
    first, second = backend_name("r"), backend_name("r")
    shared_gateway.put_route(second, deployments=[deployment(upstream, good)])
    shared_gateway.put_route(first, fallbacks=[second], deployments=[deployment(upstream, bad)])
    with pytest.raises(openai.BadRequestError):
        _ask(shared_gateway, first)
    assert upstream.calls(good) == 0


def test_circuit_breaker_opens_skips_and_closes_after_a_probe(
    shared_gateway: GatewayServer, upstream: FaultyUpstream
) -> None:
    flaky, steady = backend_name(), backend_name()
    route = backend_name("r")
    upstream.set(flaky, "500")
    shared_gateway.put_route(
        route,
        retries=0,
        breaker_failures=3,
        breaker_cooldown_s=0.5,
        deployments=[deployment(upstream, flaky)],
    )
    for _ in range(3):
        with pytest.raises(openai.InternalServerError):
            _ask(shared_gateway, route)
    assert upstream.calls(flaky) == 3
    # Open: the deployment is not called at all, the client gets a 503 at once.
    with pytest.raises(openai.InternalServerError) as caught:
        _ask(shared_gateway, route)
    assert caught.value.status_code == 503
    assert "open circuit breaker" in caught.value.message
    assert upstream.calls(flaky) == 3
    status = shared_gateway.services.gateway.breakers.states()
    assert status[("default", route, flaky)] == OPEN

    # After the cooldown one probe goes through; it fails, so the breaker opens again.
    time.sleep(0.6)
    with pytest.raises(openai.InternalServerError):
        _ask(shared_gateway, route)
    assert upstream.calls(flaky) == 4
    with pytest.raises(openai.InternalServerError) as caught:
        _ask(shared_gateway, route)
    assert caught.value.status_code == 503

    # The upstream heals: the next probe succeeds and the breaker closes.
    upstream.set(flaky, "ok")
    time.sleep(0.6)
    assert _ask(shared_gateway, route) == f"hello from {flaky}"
    assert _ask(shared_gateway, route) == f"hello from {flaky}"
    assert shared_gateway.services.gateway.breakers.states()[("default", route, flaky)] == CLOSED
    del steady


def test_open_breaker_sends_traffic_to_the_other_deployment(
    shared_gateway: GatewayServer, upstream: FaultyUpstream
) -> None:
    bad, good = backend_name(), backend_name()
    route = backend_name("r")
    upstream.set(bad, "500")
    shared_gateway.put_route(
        route,
        retries=1,
        backoff_ms=1,
        breaker_failures=2,
        breaker_cooldown_s=60,
        deployments=[deployment(upstream, bad, weight=1), deployment(upstream, good, weight=1)],
    )
    answers = Counter(_ask(shared_gateway, route, user=f"u{i}") for i in range(30))
    # Every request succeeded; the bad deployment was tried until its breaker opened.
    assert answers == Counter({f"hello from {good}": 30})
    assert upstream.calls(bad) <= 4


def test_weighted_split_is_within_tolerance_and_sticky(
    shared_gateway: GatewayServer, upstream: FaultyUpstream
) -> None:
    a, b = backend_name(), backend_name()
    route = backend_name("r")
    shared_gateway.put_route(
        route, deployments=[deployment(upstream, a, weight=3), deployment(upstream, b, weight=1)]
    )
    client = shared_gateway.client()
    seen: dict[str, str] = {}
    counts: Counter[str] = Counter()
    users = 200
    for i in range(users):
        raw = client.chat.completions.with_raw_response.create(
            model=route, messages=HI, user=f"user-{i}"
        )
        seen[f"user-{i}"] = raw.headers["x-podium-deployment"]
        counts[raw.headers["x-podium-deployment"]] += 1
    # Chi-square against 75/25 with one degree of freedom: below 10.83 is p > 0.001.
    expected = {a: users * 0.75, b: users * 0.25}
    chi2 = sum((counts[k] - e) ** 2 / e for k, e in expected.items())
    assert chi2 < 10.83, counts
    # Stickiness: the same user (or session header) always lands on the same deployment.
    for i in range(0, users, 50):
        for _ in range(3):
            raw = client.chat.completions.with_raw_response.create(
                model=route, messages=HI, user=f"user-{i}"
            )
            assert raw.headers["x-podium-deployment"] == seen[f"user-{i}"]
    sessions = {
        client.chat.completions.with_raw_response.create(
            model=route, messages=HI, extra_headers={"x-podium-session": "s-42"}
        ).headers["x-podium-deployment"]
        for _ in range(5)
    }
    assert len(sessions) == 1


def test_split_math_and_canary_shares() -> None:
    spec = RouteSpec.model_validate(
        {
            "deployments": [
                {"name": "s", "model": "m", "base_url": "http://x/v1", "weight": 2},
                {"name": "c", "model": "m", "base_url": "http://x/v1", "role": "canary"},
            ],
            "canary": {"steps": [10, 50, 100]},
        }
    )
    assert [(d.name, w) for d, w in effective_weights(spec)] == [("s", 90.0), ("c", 10.0)]
    weights = effective_weights(spec)
    picks = Counter(pick_weighted(weights, i / 1000).name for i in range(1000))
    assert picks == Counter({"s": 900, "c": 100})
    assert sticky_point("alice") == sticky_point("alice") != sticky_point("bob")


def test_breaker_and_backoff_units() -> None:
    breaker = CircuitBreaker(failures=2, cooldown_s=0.05)
    breaker.record_failure()
    assert breaker.state == CLOSED and breaker.allow()
    breaker.record_failure()
    assert breaker.state == OPEN and not breaker.allow()
    time.sleep(0.06)
    assert breaker.state == HALF_OPEN
    assert breaker.allow() and not breaker.allow()  # one probe only
    breaker.record_success()
    assert breaker.state == CLOSED
    delays = [backoff_s(3, 100) for _ in range(200)]
    assert all(0 <= d <= 0.8 for d in delays) and max(delays) > 0.4  # full jitter up to 2^3·base
