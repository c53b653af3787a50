"""Load + fault: OTLP batches stream in while the server is SIGKILLed and restarted.

Client threads send pre-encoded protobuf batches and, like OTLP exporters, re-send a batch
until it is acknowledged. Afterwards every acknowledged span is stored exactly once, and each
trace's aggregates count exactly the spans stored for it.
"""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from sqlalchemy import func, select

from podium.settings import Settings
from podium.store.engine import open_database
from podium.tracing.sql import trace_spans, traces
from tests.conftest import LiveServer
from tests.tracing.support import PROTOBUF, genai_attrs, new_span_id, new_trace_id, request, span

pytestmark = pytest.mark.slow

CLIENTS = 3
SPANS_PER_BATCH = 50
ACKED_BEFORE_KILL = 10  # more than this many batches are acknowledged before the crash
ACKED_AFTER_RESTART = 5  # and at least this many by the restarted server
WAIT_S = 60.0  # generous: a loaded machine is slow, but a stuck run still fails
HTTP_TIMEOUT_S = 30.0


def _batch() -> tuple[bytes, str, list[str]]:
    trace = new_trace_id()
    spans = [
        span(trace, new_span_id(), start_ms=i, attrs=genai_attrs(input_tokens=1, output_tokens=1))
        for i in range(SPANS_PER_BATCH)
    ]
    return request(*spans).SerializeToString(), trace.hex(), [s.span_id.hex() for s in spans]


def test_acknowledged_spans_survive_a_sigkill_exactly_once(
    live_server: LiveServer, settings: Settings
) -> None:
    acked: dict[str, list[str]] = {}  # trace id -> span ids acknowledged
    lock = threading.Lock()
    stop = threading.Event()
    retries = [0]

    def client() -> None:
        with httpx.Client(timeout=HTTP_TIMEOUT_S) as http:
            while not stop.is_set():
                body, trace_id, span_ids = _batch()
                given_up = time.monotonic() + 2 * WAIT_S
                # Re-send until acknowledged, as OTLP exporters do; a crash may have stored it.
                while True:
                    try:
                        reply = http.post(
                            live_server.url + "/otlp/v1/traces", content=body, headers=PROTOBUF
                        )
                        if reply.status_code == 200:
                            with lock:
                                acked[trace_id] = span_ids
                            break
                    except httpx.HTTPError:
                        pass
                    with lock:
                        retries[0] += 1
                    time.sleep(0.05)
                    if time.monotonic() > given_up:
                        raise AssertionError("the server never came back")

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]

    def wait_for_acks(count: int, when: str) -> None:
        # Wait for a number of acknowledgements, not a fixed time: a loaded machine is slow.
        deadline = time.monotonic() + WAIT_S
        while True:
            with lock:
                seen = len(acked)
            if seen >= count:
                return
            assert all(t.is_alive() for t in threads), "a client thread failed"
            assert time.monotonic() < deadline, (
                f"{when}: {seen} of {count} batches acknowledged within {WAIT_S:.0f}s"
            )
            time.sleep(0.02)

    for thread in threads:
        thread.start()
    try:
        wait_for_acks(ACKED_BEFORE_KILL + 1, "before the kill")
        live_server.kill()  # while the clients are still sending
        live_server.start()
        with lock:
            acked_before_restart = len(acked)
        wait_for_acks(acked_before_restart + ACKED_AFTER_RESTART, "after the restart")
    finally:
        stop.set()
        for thread in threads:
            thread.join(3 * WAIT_S)
    assert not any(t.is_alive() for t in threads)

    assert retries[0] > 0, "the kill should have interrupted some exports"
    assert len(acked) > ACKED_BEFORE_KILL + ACKED_AFTER_RESTART
    assert settings.database_url is not None
    db = open_database(settings.database_url)
    try:
        with db.read() as conn:
            stored = {
                (row.trace_id, row.span_id)
                for row in conn.execute(select(trace_spans.c.trace_id, trace_spans.c.span_id))
            }
            span_counts: dict[str, int] = dict(
                conn.execute(
                    select(trace_spans.c.trace_id, func.count()).group_by(trace_spans.c.trace_id)
                ).all()
            )
            aggregates = {
                row.trace_id: (row.span_count, row.input_tokens)
                for row in conn.execute(
                    select(traces.c.trace_id, traces.c.span_count, traces.c.input_tokens)
                )
            }
    finally:
        db.dispose()
    for trace_id, span_ids in acked.items():
        assert {(trace_id, s) for s in span_ids} <= stored
        assert span_counts[trace_id] == SPANS_PER_BATCH
    # Aggregates counted each stored span once, even for batches that were re-sent.
    assert aggregates == {t: (n, n) for t, n in span_counts.items()}
