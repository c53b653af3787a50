"""The trace retention job: deletes traces older than ``PODIUM_TRACE_RETENTION_DAYS``.

A daemon thread wakes every ``interval_s`` seconds and calls ``TracingService.prune``, which
deletes in batches of a few hundred traces per transaction, so ingest (a writer too) never waits
long behind it. With ``days == 0`` the job does nothing and starts no thread. A failed round is
logged and retried at the next wake-up; it never stops the server.
"""

from __future__ import annotations

import logging
import threading

from podium.store.clock import now_ms
from podium.tracing.service import PruneResult, TracingService

log = logging.getLogger("podium.tracing.retention")
DAY_MS = 86_400_000


class RetentionJob:
    """Prunes traces older than ``days`` every ``interval_s`` seconds while started."""

    def __init__(self, tracing: TracingService, days: int, interval_s: float) -> None:
        self._tracing = tracing
        self.days = days
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_result: PruneResult | None = None

    @property
    def running(self) -> bool:
        """Whether the background thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def run_once(self) -> PruneResult:
        """Prune now; returns what was deleted (nothing when retention is off)."""
        if self.days <= 0:
            return PruneResult(0, 0)
        result = self._tracing.prune(now_ms() - self.days * DAY_MS)
        self.last_result = result
        if result.traces:
            log.info(
                "retention: deleted %d traces (%d spans) older than %d days",
                result.traces,
                result.spans,
                self.days,
            )
        return result

    def start(self) -> None:
        """Start the thread (once); does nothing when retention is off."""
        if self.days <= 0 or self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, name="podium-trace-retention", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread, waiting up to ``timeout_s`` for a round in progress."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # the next round retries; the server must keep serving
                log.exception("retention: pruning old traces failed")
            self._stop.wait(self.interval_s)
