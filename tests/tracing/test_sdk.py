"""The tracing SDK (``podium.observe``, ``span``, ``trace``) exporting to the real app."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import podium
from podium.access.models import Role
from podium.client import Client
from podium.server.app import Services
from podium.settings import Settings
from podium.tracing.models import TraceFilter
from tests.access.conftest import Team
from tests.conftest import LiveServer


def _only_trace(client: Client, **filters: Any) -> dict[str, Any]:
    assert podium.flush(60)
    [listed] = client.get("/traces", **filters)["items"]
    detail: dict[str, Any] = client.get(f"/traces/{listed['trace_id']}")
    return detail


@podium.observe
def _add(a: int, b: int = 2) -> int:
    with podium.span("inner", kind="client", attributes={"step": 1}) as s:
        s.set_output("fine")
    return a + b


def test_observe_records_nested_spans_inputs_outputs_and_duration(traced: Client) -> None:
    assert _add(1, b=5) == 6
    trace = _only_trace(traced)
    [root] = trace["spans"]
    assert root["name"] == "_add"
    assert json.loads(root["input_text"]) == {"a": 1, "b": 5}
    assert root["output_text"] == "6"
    assert root["status"] == "unset"
    assert root["service_name"] == "tests"
    [inner] = root["children"]
    assert (inner["name"], inner["kind"], inner["output_text"]) == ("inner", "client", "fine")
    assert inner["attributes"]["step"] == 1
    assert inner["parent_span_id"] == root["span_id"]
    assert trace["span_count"] == 2
    assert 0 <= inner["duration_ms"] <= root["duration_ms"]


@podium.observe(name="boom")
def _fail() -> None:
    raise ValueError("no such thing")


def test_an_exception_marks_the_span_failed_and_is_reraised(traced: Client) -> None:
    with pytest.raises(ValueError, match="no such thing"):
        _fail()
    trace = _only_trace(traced)
    [root] = trace["spans"]
    assert trace["error"] is True
    assert (root["name"], root["status"]) == ("boom", "error")
    assert root["status_message"] == "ValueError: no such thing"
    [event] = root["events"]
    assert event["name"] == "exception"
    assert event["attributes"]["exception.type"] == "ValueError"
    assert "raise ValueError" in event["attributes"]["exception.stacktrace"]


@podium.observe
async def _child(n: int) -> int:
    await asyncio.sleep(0.01)
    return n * 10


@podium.observe(name="fan-out")
async def _fan_out() -> list[int]:
    return list(await asyncio.gather(_child(1), _child(2), _child(3)))


def test_async_functions_and_tasks_nest_under_their_parent(traced: Client) -> None:
    assert asyncio.run(_fan_out()) == [10, 20, 30]
    [root] = _only_trace(traced)["spans"]
    assert root["name"] == "fan-out"
    assert root["output_text"] == "[10, 20, 30]"
    assert sorted(c["output_text"] for c in root["children"]) == ["10", "20", "30"]
    assert {c["name"] for c in root["children"]} == {"_child"}


def test_async_with_span(traced: Client) -> None:
    async def main() -> None:
        async with podium.span("outer") as outer:
            async with podium.span("inner"):
                assert podium.current_span() is not outer
            assert podium.current_span() is outer
        assert podium.current_span() is None

    asyncio.run(main())
    [root] = _only_trace(traced)["spans"]
    assert [c["name"] for c in root["children"]] == ["inner"]


@podium.observe
def _tokens(count: int) -> Iterator[str]:
    for i in range(count):
        with podium.span(f"token-{i}"):
            yield f"t{i}"


def test_a_generator_span_ends_when_it_is_consumed(traced: Client) -> None:
    stream = _tokens(3)
    assert podium.flush(5)
    assert traced.get("/traces")["items"] == []  # nothing ended yet
    assert list(stream) == ["t0", "t1", "t2"]
    [root] = _only_trace(traced)["spans"]
    assert root["output_text"] == '["t0", "t1", "t2"]'
    assert sorted(c["name"] for c in root["children"]) == ["token-0", "token-1", "token-2"]


def test_trace_attributes_usage_and_prompt_link(traced: Client) -> None:
    with podium.trace("request", session_id="s-1", user_id="alice", tags=["beta"]) as t:
        with podium.span("llm", kind="client") as s:
            s.set_usage(model="gpt-4o", input_tokens=1000, output_tokens=500, provider="openai")
            s.set_prompt("greeter", 3)
        t.set_trace(tags=["vip"])
    trace = _only_trace(traced, user="alice", session="s-1")
    assert trace["name"] == "request"
    assert (trace["session_id"], trace["user_id"]) == ("s-1", "alice")
    assert trace["model"] == "gpt-4o"
    assert (trace["input_tokens"], trace["output_tokens"]) == (1000, 500)
    assert trace["cost_usd"] == pytest.approx(1000 * 2.5e-6 + 500 * 10e-6)
    assert (trace["prompt_name"], trace["prompt_version"]) == ("greeter", 3)
    [llm] = trace["spans"][0]["children"]
    assert llm["provider"] == "openai"
    assert trace["spans"][0]["attributes"]["podium.tags"] == ["beta", "vip"]


def test_disabled_tracing_records_nothing(client: Client) -> None:
    podium.configure_tracing(enabled=False)
    try:
        assert _add(1) == 3
        assert podium.tracing_stats() is None
        assert podium.flush(1)
    finally:
        podium.shutdown_tracing()
        podium.configure_tracing(client=client)
        podium.shutdown_tracing()


@pytest.mark.slow
def test_server_down_the_app_keeps_running_drops_are_counted_and_later_spans_arrive(
    live_server: LiveServer,
) -> None:
    podium.configure_tracing(
        url=live_server.url, queue_size=50, batch_size=10, flush_interval=0.05, max_backoff=0.2
    )
    try:
        live_server.kill()
        began = time.monotonic()
        for i in range(2000):
            with podium.span(f"while-down-{i}"):
                pass
        assert time.monotonic() - began < 2.0  # never waits for the network
        assert not podium.flush(0.5)  # nothing can be delivered now
        stats = podium.tracing_stats()
        assert stats is not None
        assert stats.sent == 0
        assert stats.queued <= 50 + 10  # the queue plus the batch being retried
        assert stats.dropped >= 2000 - 60
        assert stats.failures >= 1

        live_server.start()
        assert podium.flush(60)  # the backlog that was kept goes first
        with podium.span("after-restart"):
            pass
        assert podium.flush(60)
        stats = podium.tracing_stats()
        assert stats is not None
        assert stats.queued == 0
        assert stats.sent + stats.dropped == 2001
        with Client(live_server.url) as api:
            names = {t["name"] for t in api.paginate("/traces", limit=1000)}
        assert "after-restart" in names
        assert len(names) == stats.sent
    finally:
        podium.shutdown_tracing()


def test_a_bad_environment_turns_tracing_off_without_raising(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    podium.shutdown_tracing()
    monkeypatch.setenv("PODIUM_TRACE_QUEUE_SIZE", "lots")
    try:
        assert _add(2) == 4  # the span ends, the exporter cannot be made: nothing raises
        assert podium.tracing_stats() is None
    finally:
        podium.configure_tracing(enabled=True, queue_size=1)
        podium.shutdown_tracing()


def _keyed_client(remote_http: httpx.Client, key: str) -> Client:
    return Client(
        http=httpx.Client(
            transport=remote_http._transport,
            base_url="http://podium.test/api/v1",
            headers={"Authorization": f"Bearer {key}"},
        )
    )


def test_an_api_key_sends_into_its_project_and_refused_batches_are_counted(
    remote_http: httpx.Client, team: Team
) -> None:
    viewer = _keyed_client(remote_http, team.keys[Role.VIEWER])
    podium.configure_tracing(client=viewer, flush_interval=0.05)
    try:
        with podium.span("refused"):
            pass
        assert podium.flush(60)
        stats = podium.tracing_stats()
        assert stats is not None
        assert (stats.sent, stats.rejected) == (0, 1)
        assert stats.last_error is not None and "tracing:write" in stats.last_error

        editor = _keyed_client(remote_http, team.keys[Role.EDITOR])
        podium.configure_tracing(client=editor, flush_interval=0.05)
        with podium.span("stored"):
            pass
        assert podium.flush(60)
        [listed] = editor.get("/traces", project="alpha")["items"]
        assert listed["name"] == "stored"
    finally:
        podium.shutdown_tracing()


EXITING_APP = """
import podium


@podium.observe
def work(n):
    return n + 1

with podium.trace("short-lived", user_id="cron"):
    work(1)
# no flush: the exit hook delivers what is queued
"""


def test_spans_queued_at_exit_are_delivered_in_embedded_mode(
    services: Services, settings: Settings
) -> None:
    env = {
        **os.environ,
        "PODIUM_HOME": str(settings.home),
        "PODIUM_DATABASE_URL": settings.database_url or "",
        "PODIUM_TRACE_FLUSH_INTERVAL": "60",  # only the exit hook can have sent them
    }
    env.pop("PODIUM_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", EXITING_APP], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "not delivered" not in done.stderr, done.stderr
    listed_traces = services.tracing.list_traces("default", TraceFilter(), 0, 10)
    assert len(listed_traces) == 1, (listed_traces, done.stderr)
    [listed] = listed_traces
    assert (listed.name, listed.user_id, listed.span_count) == ("short-lived", "cron", 2)


def test_the_exit_hook_waits_for_a_sender_still_being_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Building the sender (in embedded mode: the whole app) may take longer than the delivery
    budget on a busy machine; the exit hook waits for it first, then delivers."""
    import threading
    import time

    from podium.client import _span_exporter as exporting

    monkeypatch.setattr(exporting, "EXIT_TIMEOUT", 0.5)
    bodies: list[bytes] = []
    built = threading.Event()

    def slow_factory() -> Any:
        time.sleep(3.0)  # longer than the delivery budget and the thread join after it
        built.set()
        return bodies.append

    exporter = exporting.SpanExporter(slow_factory, flush_interval=60)
    now = time.time_ns()
    exporter.export(
        exporting.FinishedSpan(
            trace_id="ab" * 16,
            span_id="cd" * 8,
            parent_span_id=None,
            name="late",
            kind="internal",
            start_ns=now,
            end_ns=now + 1000,
            status="ok",
            status_message="",
            attributes={},
        )
    )
    assert not built.is_set()
    exporting.shutdown_all_at_exit()
    assert built.is_set()
    assert len(bodies) == 1 and exporter.stats().sent == 1
