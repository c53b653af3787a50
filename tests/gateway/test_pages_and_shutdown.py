"""The gateway pages, and graceful shutdown letting an in-flight stream finish."""

from __future__ import annotations

import threading
import time

import httpx

from podium.server.app import Services
from tests.gateway.conftest import GatewayServer, backend_name, deployment, serving
from tests.gateway.upstream import FaultyUpstream

PAGE = {"Accept": "text/html"}


def test_routes_and_route_pages(http: httpx.Client) -> None:
    spec = {
        "deployments": [
            {"name": "stable", "model": "m1", "base_url": "http://127.0.0.1:9/v1", "prompt": "p"},
            {"name": "next", "model": "m2", "base_url": "http://127.0.0.1:9/v1", "role": "canary"},
        ],
        "canary": {"steps": [10, 100]},
    }
    assert http.put("/api/v1/gateway/routes/chat", json=spec).status_code == 200
    http.post("/api/v1/gateway/routes/chat/canary/rollback", json={"reason": "too slow"})
    listing = http.get("/gateway", headers=PAGE)
    assert listing.status_code == 200
    assert 'data-route="chat"' in listing.text
    assert "stable 100%" in listing.text and "next 0%" in listing.text
    assert "rolled_back (0%)" in listing.text
    page = http.get("/gateway/routes/chat", headers=PAGE)
    assert page.status_code == 200
    assert 'data-canary-state="rolled_back"' in page.text
    assert "p@production" in page.text
    assert "canary_rolled_back" in page.text and "too slow" in page.text
    missing = http.get("/gateway/routes/nope", headers=PAGE)
    assert missing.status_code == 404
    assert "podium gateway routes list" in missing.text
    empty = http.get("/gateway", params={"project": "elsewhere"}, headers=PAGE)
    assert "No routes in this project yet" in empty.text


def test_shutdown_lets_in_flight_streams_finish(
    services: Services, upstream: FaultyUpstream
) -> None:
    name = backend_name()
    upstream.set(name).chunk_delay_s = 0.4
    events: list[str] = []
    first = threading.Event()

    def stream(gateway: GatewayServer) -> None:
        body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "stream": True}
        with httpx.stream("POST", gateway.url + "/v1/chat/completions", json=body) as reply:
            for line in reply.iter_lines():
                if line:
                    events.append(line)
                    first.set()

    with serving(services) as gateway:
        gateway.put_route("chat", deployments=[deployment(upstream, name)])
        reader = threading.Thread(target=stream, args=(gateway,))
        reader.start()
        assert first.wait(10)
        gateway.server.should_exit = True  # what SIGTERM does
        time.sleep(0.2)
        # No new requests are accepted while the stream drains.
        try:
            refused = httpx.get(gateway.url + "/api/v1/health", timeout=1).status_code != 200
        except httpx.HTTPError:
            refused = True
        reader.join(10)
    assert refused
    assert events[-1] == "data: [DONE]"
    assert sum(1 for e in events if '"content"' in e) == 3
