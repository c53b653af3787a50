"""Rate limits and budgets under concurrent load, also across two server processes sharing one
database; answers are 429 with Retry-After in OpenAI's format."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from podium.gateway.models import Limits
from podium.settings import Settings
from tests.conftest import LiveServer
from tests.gateway.conftest import GatewayServer, backend_name, deployment
from tests.gateway.upstream import FaultyUpstream

BODY = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}


def _fire(
    urls: list[str], count: int, headers: dict[str, str] | None = None
) -> list[httpx.Response]:
    def one(i: int) -> httpx.Response:
        url = urls[i % len(urls)]
        return httpx.post(url + "/v1/chat/completions", json=BODY, headers=headers, timeout=30)

    with ThreadPoolExecutor(max_workers=12) as pool:
        return list(pool.map(one, range(count)))


def _away_from_a_minute_boundary(need_s: float) -> None:
    """Counters are per calendar minute: make sure the next ``need_s`` stay inside one."""
    second = time.time() % 60
    if second > 60 - need_s:
        time.sleep(60.5 - second)


@pytest.mark.slow
def test_requests_per_minute_across_two_processes(
    gateway: GatewayServer, settings: Settings, upstream: FaultyUpstream
) -> None:
    service = gateway.services.gateway.service
    gateway.put_route("chat", deployments=[deployment(upstream, backend_name())])
    service.set_limits(Limits(scope="project", project="default", requests_per_minute=15))
    # A second server process on the same database, started after the limits exist.
    env = {"PODIUM_HOME": str(settings.home)}
    if settings.database_url:
        env["PODIUM_DATABASE_URL"] = settings.database_url
    live_server = LiveServer(env, settings.home)
    live_server.start()
    _away_from_a_minute_boundary(10)
    try:
        replies = _fire([gateway.url, live_server.url], 40)
    finally:
        live_server.stop()
    statuses = sorted(r.status_code for r in replies)
    # Counted atomically in the shared database: exactly the limit, never one more.
    assert statuses.count(200) == 15, statuses
    assert statuses.count(429) == 25
    refused = next(r for r in replies if r.status_code == 429)
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    error = refused.json()["error"]
    assert error["type"] == "rate_limit_error" and error["code"] == "rate_limit_exceeded"
    assert "requests per minute (project): 15" in error["message"]


def test_key_limit_applies_to_that_key_only(
    gateway: GatewayServer, upstream: FaultyUpstream
) -> None:
    services = gateway.services
    gateway.put_route("chat", deployments=[deployment(upstream, backend_name())])
    services.access.create_user("ann", "a-long-password-1")
    from podium.access.models import Role

    services.access.set_member("default", "ann", Role.VIEWER)
    limited, limited_secret = services.access.create_key(
        username="ann", project="default", role=Role.VIEWER
    )
    _, free_secret = services.access.create_key(username="ann", project="default", role=Role.VIEWER)
    services.gateway.service.set_limits(
        Limits(scope=f"key:{limited.prefix}", project="default", requests_per_minute=4)
    )
    _away_from_a_minute_boundary(5)
    limited_replies = _fire([gateway.url], 10, {"Authorization": f"Bearer {limited_secret}"})
    assert sorted(r.status_code for r in limited_replies) == [200] * 4 + [429] * 6
    free_replies = _fire([gateway.url], 10, {"Authorization": f"Bearer {free_secret}"})
    assert [r.status_code for r in free_replies] == [200] * 10


def test_tokens_per_minute_and_daily_budget(
    gateway: GatewayServer, upstream: FaultyUpstream
) -> None:
    service = gateway.services.gateway.service
    name = backend_name()
    gateway.put_route(
        "chat",
        deployments=[deployment(upstream, name, model="gpt-4o")],  # a priced model
    )
    service.set_limits(Limits(scope="project", project="default", tokens_per_minute=30))
    _away_from_a_minute_boundary(5)
    codes = []
    for _ in range(4):
        codes.append(httpx.post(gateway.url + "/v1/chat/completions", json=BODY).status_code)
        gateway.services.gateway.recorder.flush()
        time.sleep(0.2)  # usage is charged just after the answer, off the hot path
    # 12 tokens a request: 0, 12 and 24 are under 30; the fourth sees 36 and is refused.
    assert codes == [200, 200, 200, 429]

    service.set_limits(
        Limits(scope="project", project="default", cost_per_day=0.00001)
    )  # gpt-4o: 5 in + 7 out tokens cost $0.0000825
    first = httpx.post(gateway.url + "/v1/chat/completions", json=BODY)
    time.sleep(0.3)
    second = httpx.post(gateway.url + "/v1/chat/completions", json=BODY)
    assert first.status_code == 200
    assert second.status_code == 429
    assert "daily budget" in second.json()["error"]["message"]
    assert int(second.headers["Retry-After"]) >= 1
