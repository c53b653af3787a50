"""Writes one tracing span per gateway request, off the hot path.

The serving path hands each finished request's span to ``SpanRecorder.record``, which only puts
it on a bounded queue (microseconds, never blocks); a daemon thread drains the queue in batches
and stores them through ``TracingService.store_spans`` (one transaction per project and batch).
When the queue is full the span is dropped and counted (``dropped``) rather than slowing the
requests down.
``flush`` waits until everything queued so far is stored (tests, graceful shutdown).
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from sqlalchemy.exc import SQLAlchemyError

from podium.errors import PodiumError
from podium.tracing.models import SpanRecord
from podium.tracing.service import TracingService

log = logging.getLogger("podium.gateway")
BATCH = 512
IDLE_WAIT_S = 0.2


class SpanRecorder:
    """A bounded queue of spans and the thread that stores them."""

    def __init__(self, tracing: TracingService, capacity: int = 10_000) -> None:
        self._tracing = tracing
        self._queue: queue.Queue[tuple[str, SpanRecord] | None] = queue.Queue(capacity)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.dropped = 0
        self.stored = 0

    def record(self, project: str, span: SpanRecord) -> None:
        """Queue ``span`` for ``project``; drop and count it when the queue is full."""
        self._start()
        try:
            self._queue.put_nowait((project, span))
        except queue.Full:
            self.dropped += 1

    def _start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="podium-gateway-spans", daemon=True
                )
                self._thread.start()

    def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until every span queued before this call is stored (or ``timeout_s`` passed)."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)

    def close(self) -> None:
        """Store what is queued, then stop the thread."""
        if self._thread is None or not self._thread.is_alive():
            return
        self.flush()
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=IDLE_WAIT_S)
            except queue.Empty:
                continue
            if first is None:
                self._queue.task_done()
                return
            batch = [first]
            while len(batch) < BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put_nowait(None)  # stop after this batch
                    self._queue.task_done()
                    break
                batch.append(item)
            try:
                self._store(batch)
            except (PodiumError, SQLAlchemyError, OSError) as exc:
                # Tracing must never take serving down: log, count as dropped, keep going.
                log.warning("dropped %d gateway spans: %s", len(batch), exc)
                self.dropped += len(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    def _store(self, batch: list[tuple[str, SpanRecord]]) -> None:
        by_project: dict[str, list[SpanRecord]] = {}
        for project, span in batch:
            by_project.setdefault(project, []).append(span)
        for project, spans in by_project.items():
            self.stored += self._tracing.store_spans(project, spans)
