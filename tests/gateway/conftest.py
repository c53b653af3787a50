"""Fixtures of the gateway tests: the fault-injecting upstream and a real server on loopback.

``gateway`` runs the real app (``create_app(services)``) under uvicorn on a free port in a
thread, so the real ``openai`` SDK talks to it over TCP while the test can still reach the
services (route table, breakers, spans) directly.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import openai
import pytest
import uvicorn

from podium.gateway.models import Route, RouteSpec
from podium.server.app import Services, build, create_app
from podium.settings import Settings
from tests.gateway.upstream import FaultyUpstream
from tests.support.net import free_port, wait_http


@pytest.fixture(scope="session")
def upstream() -> Iterator[FaultyUpstream]:
    """One fault-injecting upstream for the session; tests use their own backend names."""
    server = FaultyUpstream()
    server.start()
    yield server
    server.stop()


def backend_name(prefix: str = "b") -> str:
    """A backend name no other test uses."""
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@dataclass
class GatewayServer:
    url: str
    services: Services
    server: uvicorn.Server
    clients: list[openai.OpenAI] = field(default_factory=list)

    def client(self, api_key: str = "sk-local", **kwargs: Any) -> openai.OpenAI:
        """The real OpenAI SDK pointed at the gateway (no SDK retries: we test ours)."""
        made = openai.OpenAI(base_url=self.url + "/v1", api_key=api_key, max_retries=0, **kwargs)
        self.clients.append(made)
        return made

    def put_route(self, name: str, project: str = "default", **spec: Any) -> Route:
        route = RouteSpec.model_validate(spec)
        return self.services.gateway.service.put_route(project, name, route, actor="test")


@contextmanager
def serving(services: Services) -> Iterator[GatewayServer]:
    """``create_app(services)`` under uvicorn on a free loopback port, in a thread."""
    port = free_port()
    config = uvicorn.Config(
        create_app(services), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/api/v1/health")
    running = GatewayServer(url, services, server)
    try:
        yield running
    finally:
        for made in running.clients:
            made.close()
        server.should_exit = True
        thread.join(10)


@pytest.fixture
def gateway(services: Services) -> Iterator[GatewayServer]:
    """A gateway over this test's services (both databases)."""
    with serving(services) as running:
        yield running


@pytest.fixture(scope="module")
def shared_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    """One SQLite-backed gateway for a whole module of wire-format tests (local mode).

    The serving path does not touch the database per request, so these tests need not run on
    both backends; each test puts the routes it uses.
    """
    home = tmp_path_factory.mktemp("gateway")
    services = build(Settings(home=home, password_hash_cost=10))
    try:
        with serving(services) as running:
            yield running
    finally:
        services.close()


def deployment(upstream: FaultyUpstream, name: str, **extra: Any) -> dict[str, Any]:
    """A deployment spec sending to upstream backend ``name``."""
    return {"name": name, "model": f"{name}-model", "base_url": upstream.base(name), **extra}
