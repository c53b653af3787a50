"""The metric batcher against a real HTTP server on loopback that injects faults."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from podium import errors
from podium.client import Client
from podium.client._batcher import MetricBatcher
from tests.client.fault_server import FaultServer
from tests.support.net import free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


@pytest.fixture
def api(server: FaultServer) -> Iterator[Client]:
    with Client(server.url) as client:
        yield client


def batcher(api: Client, **kwargs: object) -> MetricBatcher:
    options: dict[str, object] = {"flush_interval": 0.05, "backoff": 0.001, "max_backoff": 0.01}
    options.update(kwargs)
    return MetricBatcher(api, "r1", **options)  # type: ignore[arg-type]


def as_tuples(points: list[dict[str, object]]) -> list[tuple[object, ...]]:
    return [(p["key"], p["value"], p["step"], p["timestamp"]) for p in points]


def test_faults_are_retried_and_every_point_arrives_once_in_order(
    server: FaultServer, api: Client
) -> None:
    for _ in range(4):
        server.faults.extend([("status", 503), "drop", ("status", 500), "ok", ("status", 502)])
    b = batcher(api, max_batch=400, max_request_points=300)
    expected = []
    for i in range(5_000):
        key = f"k{i % 3}"
        b.add(key, i * 0.5, timestamp=1_000 + i)
        expected.append((key, i * 0.5, i // 3, 1_000 + i))
    b.flush()
    assert as_tuples(server.points) == expected
    assert b.pending == 0
    assert b.dropped == 0
    assert not server.faults  # every injected fault was met and survived
    b.close()


def test_a_4xx_drops_its_batch_and_the_next_flush_raises_it(
    server: FaultServer, api: Client
) -> None:
    server.faults.append(("status", 404))
    b = batcher(api)
    b.add_many({"a": 1.0, "b": 2.0})
    with pytest.raises(errors.NotFound, match="injected 404"):
        b.flush()
    assert b.dropped == 2
    assert server.points == []
    b.flush()  # raised once, then cleared
    b.add("a", 3.0)
    b.close()
    assert as_tuples(server.points)[0][:3] == ("a", 3.0, 1)


def test_a_422_keeps_its_class_and_field(server: FaultServer, api: Client) -> None:
    server.faults.append(("status", 422))
    b = batcher(api)
    b.add("a", 1.0)
    with pytest.raises(errors.InvalidInput) as raised:
        b.close()
    assert raised.value.field == "metrics.0.key"


def test_flush_interval_sends_without_a_flush_call(server: FaultServer, api: Client) -> None:
    b = batcher(api, flush_interval=0.1)
    for i in range(3):
        b.add("loss", float(i))
    assert server.wait_for(3, timeout=10)
    assert [p["step"] for p in server.points] == [0, 1, 2]
    b.close()


def test_a_long_interval_waits_until_the_batch_is_full(server: FaultServer, api: Client) -> None:
    b = batcher(api, flush_interval=60, max_batch=100)
    for i in range(99):
        b.add("loss", float(i))
    time.sleep(0.3)
    assert server.points == []
    assert b.pending == 99
    b.add("loss", 99.0)  # the 100th point wakes the sender
    assert server.wait_for(100, timeout=10)
    assert len(server.points) == 100
    b.close()


def test_logging_does_not_wait_for_a_slow_server(server: FaultServer, api: Client) -> None:
    server.gate.clear()  # every request hangs until the gate opens
    b = batcher(api, max_batch=100)

    def produce() -> None:
        for i in range(20_000):
            b.add("loss", float(i))

    producer = threading.Thread(target=produce)
    producer.start()
    producer.join(30)  # a log call waiting on the network would hang here until the gate opens
    assert not producer.is_alive(), "log calls waited for the server"
    assert b.pending == 20_000
    server.gate.set()
    b.flush()
    assert [p["step"] for p in server.points] == list(range(20_000))
    b.close()


def test_backpressure_blocks_logging_at_max_pending(server: FaultServer, api: Client) -> None:
    server.gate.clear()
    b = batcher(api, max_batch=100, max_pending=1_000)
    logged = []

    def produce() -> None:
        for i in range(1_500):
            b.add("loss", float(i))
            logged.append(i)

    producer = threading.Thread(target=produce)
    producer.start()
    deadline = time.monotonic() + 10
    while len(logged) < 1_000 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    assert producer.is_alive(), "logging past max_pending should block"
    assert len(logged) == 1_000
    assert b.pending == 1_000
    server.gate.set()
    producer.join(10)
    assert not producer.is_alive()
    b.flush()
    assert [p["step"] for p in server.points] == list(range(1_500))
    b.close()


def test_flush_gives_up_on_a_dead_server_and_keeps_the_points(
    server: FaultServer, api: Client
) -> None:
    server.always = ("status", 503)
    b = batcher(api, retry_timeout=0.3)
    for i in range(10):
        b.add("loss", float(i))
    start = time.monotonic()
    with pytest.raises(errors.ServiceUnavailable, match="10 points stay buffered"):
        b.flush()
    assert time.monotonic() - start < 10
    assert b.pending == 10
    server.always = None  # the server recovers
    b.flush()
    assert [p["step"] for p in server.points] == list(range(10))
    b.close()


def test_a_small_server_body_limit_splits_batches(api: Client) -> None:
    with FaultServer(max_body=3_000) as small, Client(small.url) as small_api:
        b = batcher(small_api)
        for i in range(500):
            b.add("loss", float(i))
        b.flush()
        assert [p["step"] for p in small.points] == list(range(500))
        assert max(small.body_sizes) <= 3_000
        b.close()


def test_nan_and_infinity_are_sent(server: FaultServer, api: Client) -> None:
    b = batcher(api)
    b.add_many({"nan": math.nan, "inf": math.inf, "ninf": -math.inf, "int": 3})
    b.close()
    values = {p["key"]: p["value"] for p in server.points}
    assert math.isnan(values["nan"])
    assert values["inf"] == math.inf
    assert values["ninf"] == -math.inf
    assert values["int"] == 3.0


def test_default_steps_follow_each_keys_last_step(server: FaultServer, api: Client) -> None:
    b = batcher(api, last_steps={"resumed": 41})
    b.add("a", 0.0)
    b.add("a", 0.0)
    b.add("a", 0.0, step=10)
    b.add("a", 0.0)
    b.add("b", 0.0)
    b.add_many({"a": 0.0, "b": 0.0})
    b.add_many({"a": 0.0, "b": 0.0}, step=5)
    b.add_many({"a": 0.0, "b": 0.0})
    b.add("resumed", 0.0)
    b.close()
    steps = [(p["key"], p["step"]) for p in server.points]
    assert steps == [
        ("a", 0),
        ("a", 1),
        ("a", 10),
        ("a", 11),
        ("b", 0),
        ("a", 12),
        ("b", 1),
        ("a", 5),
        ("b", 5),
        ("a", 6),
        ("b", 6),
        ("resumed", 42),
    ]


@pytest.mark.parametrize(
    ("key", "value", "step", "field"),
    [
        ("", 1.0, None, "key"),
        ("x" * 251, 1.0, None, "key"),
        ("bad\nkey", 1.0, None, "key"),
        ("loss", "high", None, "value"),
        ("loss", 1.0, -1, "step"),
        ("loss", 1.0, 1.5, "step"),
    ],
)
def test_bad_points_are_refused_at_the_call(
    api: Client, key: str, value: object, step: object, field: str
) -> None:
    b = batcher(api)
    with pytest.raises(errors.InvalidInput) as raised:
        b.add(key, value, step)  # type: ignore[arg-type]
    assert raised.value.field == field
    assert b.pending == 0
    b.close()


def test_logging_after_close_is_a_conflict(api: Client) -> None:
    b = batcher(api)
    b.close()
    with pytest.raises(errors.Conflict, match="has ended"):
        b.add("loss", 1.0)


def test_close_is_bounded_when_nothing_listens() -> None:
    with Client(f"http://127.0.0.1:{free_port()}") as dead:
        b = batcher(dead)
        b.add("loss", 1.0)
        start = time.monotonic()
        with pytest.raises(errors.ServiceUnavailable):
            b.close(timeout=0.5)
        assert time.monotonic() - start < 10
        assert b.abandon() == 1


EXIT_SCRIPT = """
import sys
import podium.client._batcher as batcher_module
from podium.client import Client
from podium.client._batcher import MetricBatcher

batcher_module.EXIT_TIMEOUT = 1.0
batcher = MetricBatcher(Client(sys.argv[1]), "r1", flush_interval=60)
for i in range(1000):
    batcher.add("loss", float(i))
# no flush, no close: the exit hook delivers (or gives up within EXIT_TIMEOUT)
"""


def run_script(url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(EXIT_SCRIPT), url],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


def test_the_exit_hook_delivers_what_is_buffered(server: FaultServer) -> None:
    done = run_script(server.url)
    assert done.returncode == 0, done.stderr
    assert [p["step"] for p in server.points] == list(range(1000))


def test_the_exit_hook_gives_up_on_a_dead_server() -> None:
    start = time.monotonic()
    done = run_script(f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - start < 20
    assert "1000 metric points of run r1 were lost" in done.stderr
