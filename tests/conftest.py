"""Fixtures every part's tests share.

``settings`` is parametrised over both metadata databases, so every test that uses it (or
``services``, ``api``, ``client``) runs on SQLite and on a real PostgreSQL server started here.
Each test gets a fresh database: on PostgreSQL a copy of a migrated template, which is fast.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from podium.client import Client
from podium.client._transport import InProcessTransport
from podium.server.app import Services, build, create_app
from podium.settings import Settings
from podium.store.engine import open_database
from podium.store.migrate import upgrade
from tests.support.net import free_port, wait_http
from tests.support.postgres import PostgresServer, pg_bindir, remove_abandoned_servers
from tests.support.requirements import missing
from tests.support.s3 import S3Server

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

BACKENDS = ["sqlite", "postgres"]
PG_TEMPLATE = "podium_template"


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One PostgreSQL server per test process, with a migrated template database."""
    if pg_bindir() is None:
        missing("PostgreSQL is not installed (apt-get install postgresql)")
    remove_abandoned_servers("/tmp/podium-pg-*")
    server = PostgresServer(Path(f"/tmp/podium-pg-{uuid.uuid4().hex[:8]}"))
    server.start()
    admin = create_engine(server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {PG_TEMPLATE}"))
    template = open_database(server.database_url(PG_TEMPLATE))
    upgrade(template)
    template.dispose()
    admin.dispose()
    yield server
    server.stop()


def fresh_postgres_database(server: PostgresServer) -> str:
    """A new, migrated database on ``server``; returns its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name} TEMPLATE {PG_TEMPLATE}"))
    admin.dispose()
    return server.database_url(name)


def drop_postgres_database(server: PostgresServer, url: str) -> None:
    """Drop a test's database (closing what still holds it), so disk use stays flat."""
    name = url.rsplit("/", 1)[1]
    admin = create_engine(server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The metadata database this test runs on."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh database URL on ``backend``, dropped again after the test on PostgreSQL."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'podium.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = fresh_postgres_database(server)
    yield url
    drop_postgres_database(server, url)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Settings for an isolated Podium: its own home, database and blob folder."""
    # The lowest scrypt cost keeps user-heavy tests fast; the hashing code path is the same.
    return Settings(home=tmp_path / "home", database_url=database_url, password_hash_cost=10)


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    """Every service of a Podium built from ``settings``."""
    built = build(settings)
    yield built
    built.close()


@pytest.fixture
def http(services: Services) -> Iterator[httpx.Client]:
    """An HTTP client for the REST API, driving the real app in-process."""
    transport = InProcessTransport(create_app(services))
    with httpx.Client(transport=transport, base_url="http://podium.test") as client:
        yield client


@pytest.fixture
def client(http: httpx.Client) -> Client:
    """The SDK ``Client`` over the in-process app."""
    sdk_http = httpx.Client(transport=http._transport, base_url="http://podium.test/api/v1")
    return Client(http=sdk_http)


class LiveServer:
    """A ``podium server`` subprocess on a free loopback port."""

    def __init__(self, env: dict[str, str], home: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env, "PODIUM_PORT": str(self.port), "PODIUM_HOST": "127.0.0.1"}
        self.env.pop("PODIUM_URL", None)
        self.home = home
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "podium.cli.main", "server"],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        wait_http(self.url + "/api/v1/health", self.proc)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def live_server(settings: Settings) -> Iterator[LiveServer]:
    """A real ``podium server`` process over ``settings``' database and home."""
    env = {"PODIUM_HOME": str(settings.home)}
    if settings.database_url:
        env["PODIUM_DATABASE_URL"] = settings.database_url
    server = LiveServer(env, settings.home)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """An S3-compatible server on loopback, with fake credentials in the environment."""
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    server = S3Server()
    try:
        server.start()
    except (OSError, RuntimeError, TimeoutError) as exc:
        missing(f"cannot start the S3-compatible server (pip install 'moto[server]'): {exc}")
    yield server
    server.stop()


@pytest.fixture
def remote_http(services: Services) -> Iterator[httpx.Client]:
    """Like ``http``, but requests arrive as from a loopback HTTP client, not in-process:
    authentication applies once users exist."""
    transport = InProcessTransport(create_app(services), embedded=False)
    with httpx.Client(transport=transport, base_url="http://podium.test") as client:
        yield client
