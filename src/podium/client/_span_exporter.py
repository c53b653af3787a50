"""Background export of finished SDK spans as OTLP/HTTP protobuf: ``SpanExporter``.

The application thread only appends a finished span to a bounded in-memory queue (one lock, one
append) and returns; it never waits for the network and never sees an exception from it. One
daemon thread per exporter turns the queue into ``POST /otlp/v1/traces`` requests:

- it sends every ``flush_interval`` seconds, at once when ``batch_size`` spans are waiting, on
  ``flush()`` and at interpreter exit (one ``atexit`` hook, bounded by ``EXIT_TIMEOUT``);
- when the queue holds ``queue_size`` spans, new spans are dropped and counted (``stats()``),
  so memory stays bounded however long the server is away;
- a transient failure (server unreachable, timeout, 5xx, 429) keeps the batch and retries it
  with exponential backoff up to ``max_backoff`` seconds; a 4xx drops the batch (counted as
  rejected) and logs the first such error.

Ingest is idempotent on (trace id, span id), so a batch re-sent after a lost reply is stored
once. This module imports ``opentelemetry.proto`` (protobuf); ``podium.client.tracing`` loads it
only when the first exporter is made, so ``import podium`` stays light.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from podium import errors
from podium.client._batcher import is_transient

log = logging.getLogger("podium.tracing")

EXIT_TIMEOUT = 5.0  # seconds the exit hook may spend delivering what is left
# Seconds the exit hook waits for a sender still being built first. In embedded mode that is
# building the app (imports, opening and migrating the database): local work that can take
# longer than EXIT_TIMEOUT on a busy machine but cannot hang on a vanished server.
SENDER_READY_TIMEOUT = 60.0
PROTOBUF = "application/x-protobuf"
_KINDS = {
    "internal": Span.SPAN_KIND_INTERNAL,
    "server": Span.SPAN_KIND_SERVER,
    "client": Span.SPAN_KIND_CLIENT,
    "producer": Span.SPAN_KIND_PRODUCER,
    "consumer": Span.SPAN_KIND_CONSUMER,
}
_STATUSES = {"unset": Status.STATUS_CODE_UNSET, "ok": Status.STATUS_CODE_OK}


@dataclass(frozen=True)
class FinishedSpan:
    """An ended span as the SDK hands it over: plain values, encoded by the sender thread."""

    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    parent_span_id: str | None
    name: str
    kind: str
    start_ns: int
    end_ns: int
    status: str  # "unset", "ok" or "error"
    status_message: str
    attributes: dict[str, Any]
    events: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)


@dataclass(frozen=True)
class ExporterStats:
    """Counters of one exporter since it started."""

    queued: int  # waiting in the queue or in the batch being sent
    sent: int  # acknowledged by the server
    dropped: int  # refused at the door because the queue was full
    rejected: int  # dropped because the server refused their batch (4xx)
    failures: int  # failed send attempts (each retried)
    last_error: str | None


Sender = Callable[[bytes], None]


class SpanExporter:
    """Queues finished spans and sends them in OTLP batches from a daemon thread.

    ``sender`` posts one encoded ``ExportTraceServiceRequest`` and raises ``podium.errors`` on
    failure; ``sender_factory`` builds it lazily in the sender thread (building the embedded app
    takes a moment, which must not fall on the application's thread).
    """

    def __init__(
        self,
        sender_factory: Callable[[], Sender],
        *,
        resource: Mapping[str, Any] | None = None,
        queue_size: int = 10_000,
        batch_size: int = 512,
        flush_interval: float = 1.0,
        backoff: float = 0.1,
        max_backoff: float = 10.0,
    ) -> None:
        if queue_size < 1 or batch_size < 1 or flush_interval <= 0:
            raise errors.InvalidInput(
                "queue_size and batch_size must be >= 1 and flush_interval > 0",
                field="queue_size",
            )
        self._sender_factory = sender_factory
        self._sender: Sender | None = None
        self._resource = dict(resource or {})
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._queue: deque[FinishedSpan] = deque()
        self._inflight = 0
        self._sent = 0
        self._dropped = 0
        self._rejected = 0
        self._failures = 0
        self._last_error: str | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._ready = threading.Event()  # the sender thread has tried to build its sender
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name="podium-spans", daemon=True)
        self._thread.start()
        _track(self)

    # -- the application's side --------------------------------------------------------------

    def export(self, span: FinishedSpan) -> None:
        """Queue ``span`` for sending; drop and count it when the queue is full. Never raises."""
        with self._lock:
            if self._stop.is_set() or len(self._queue) >= self._queue_size:
                self._dropped += 1
                return
            self._queue.append(span)
            full = len(self._queue) >= self._batch_size
        if full:
            self._wake.set()

    def stats(self) -> ExporterStats:
        """The exporter's counters now."""
        with self._lock:
            return ExporterStats(
                queued=len(self._queue) + self._inflight,
                sent=self._sent,
                dropped=self._dropped,
                rejected=self._rejected,
                failures=self._failures,
                last_error=self._last_error,
            )

    def flush(self, timeout: float | None = 10.0) -> bool:
        """Wait until every span queued before this call is sent or refused; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._wake.set()
        with self._lock:
            while self._queue or self._inflight:
                if not self._thread.is_alive():
                    return False
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                self._changed.wait(0.05 if remaining is None else min(0.05, remaining))
        return True

    def wait_until_ready(self, timeout: float) -> bool:
        """Wait until the sender thread has built its sender (or failed to); False on timeout."""
        return self._ready.wait(timeout)

    def shutdown(self, timeout: float = EXIT_TIMEOUT) -> bool:
        """Flush within ``timeout`` seconds, then stop the thread; later spans are dropped."""
        delivered = self.flush(timeout)
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=2)
        _untrack(self)
        return delivered

    # -- the sender thread -------------------------------------------------------------------

    def _run(self) -> None:
        # Build the sender now rather than at the first send: in embedded mode that builds the
        # app, which must not be left to the exit hook (imports then fail: the interpreter is
        # shutting down).
        try:
            self._sender = self._sender_factory()
        except Exception as exc:  # retried at the first send, where the failure is counted
            log.debug("podium: the span sender could not be made yet: %s", exc)
        finally:
            self._ready.set()
        while True:
            self._wake.wait(self._flush_interval)
            self._wake.clear()
            while True:
                with self._lock:
                    batch = [
                        self._queue.popleft()
                        for _ in range(min(self._batch_size, len(self._queue)))
                    ]
                    self._inflight = len(batch)
                if not batch:
                    break
                self._deliver(batch)
            if self._stop.is_set():
                self._close_sender()
                return

    def _close_sender(self) -> None:
        # The sender may hold connections (an httpx client it made): release them here, in the
        # only thread that uses it.
        close = getattr(self._sender, "close", None)
        if callable(close):
            try:
                close()
            except Exception:
                log.debug("podium: closing the span sender failed", exc_info=True)

    def _deliver(self, batch: list[FinishedSpan]) -> None:
        """Send one batch, retrying transient failures until it goes or the exporter stops."""
        delay = self._backoff
        try:
            body = encode(batch, self._resource)
        except Exception as exc:  # a value the encoder cannot take must not kill the thread
            self._resolve(len(batch), sent=False, error=f"cannot encode spans: {exc!r}")
            return
        while True:
            try:
                if self._sender is None:
                    self._sender = self._sender_factory()
                self._sender(body)
            except Exception as exc:
                if is_transient(exc) and not self._stop.is_set():
                    with self._lock:
                        self._failures += 1
                        self._last_error = str(exc)
                        self._changed.notify_all()
                    self._stop.wait(delay)
                    delay = min(delay * 2, self._max_backoff)
                    continue
                self._resolve(len(batch), sent=False, error=str(exc))
                return
            self._resolve(len(batch), sent=True, error=None)
            return

    def _resolve(self, count: int, *, sent: bool, error: str | None) -> None:
        with self._lock:
            if sent:
                self._sent += count
            else:
                if self._rejected == 0:
                    log.warning("podium: %d spans were not stored: %s", count, error)
                self._rejected += count
                self._last_error = error
            self._inflight = 0
            self._changed.notify_all()


# -- OTLP encoding -----------------------------------------------------------------------------


def encode(spans: Sequence[FinishedSpan], resource: Mapping[str, Any]) -> bytes:
    """One ``ExportTraceServiceRequest`` (protobuf bytes) holding ``spans``."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(_key_values(resource))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "podium"
    for span in spans:
        message = scope_spans.spans.add(
            trace_id=bytes.fromhex(span.trace_id),
            span_id=bytes.fromhex(span.span_id),
            parent_span_id=bytes.fromhex(span.parent_span_id) if span.parent_span_id else b"",
            name=span.name,
            kind=_KINDS.get(span.kind, Span.SPAN_KIND_INTERNAL),
            start_time_unix_nano=span.start_ns,
            end_time_unix_nano=span.end_ns,
        )
        message.attributes.extend(_key_values(span.attributes))
        for name, time_ns, attributes in span.events:
            message.events.add(
                name=name, time_unix_nano=time_ns, attributes=_key_values(attributes)
            )
        message.status.code = _STATUSES.get(span.status, Status.STATUS_CODE_ERROR)
        message.status.message = span.status_message
    return request.SerializeToString()


def _key_values(attributes: Mapping[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=str(k), value=_any_value(v)) for k, v in attributes.items()]


def _any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int) and -(2**63) <= value < 2**63:
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, list | tuple):
        return AnyValue(array_value=ArrayValue(values=[_any_value(v) for v in value]))
    return AnyValue(string_value=json.dumps(value, default=repr))


# -- the exit hook -----------------------------------------------------------------------------

_live: set[SpanExporter] = set()
_live_lock = threading.Lock()
_hook_registered = False


def _track(exporter: SpanExporter) -> None:
    global _hook_registered
    with _live_lock:
        _live.add(exporter)
        if not _hook_registered:
            atexit.register(shutdown_all_at_exit)
            _hook_registered = True


def _untrack(exporter: SpanExporter) -> None:
    with _live_lock:
        _live.discard(exporter)


def shutdown_all_at_exit() -> None:
    """Deliver what every live exporter still holds, within ``EXIT_TIMEOUT`` seconds in all.

    Senders still being built get up to ``SENDER_READY_TIMEOUT`` first, so a slow embedded
    start does not eat the delivery budget.
    """
    with _live_lock:
        exporters = [e for e in _live if e._pid == os.getpid()]
    ready_by = time.monotonic() + SENDER_READY_TIMEOUT
    for exporter in exporters:
        exporter.wait_until_ready(max(ready_by - time.monotonic(), 0.0))
    deadline = time.monotonic() + EXIT_TIMEOUT
    for exporter in exporters:
        if not exporter.shutdown(max(deadline - time.monotonic(), 0.05)):
            log.warning("podium: %d spans were not delivered at exit", exporter.stats().queued)
