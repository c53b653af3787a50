"""Background batching of metric points: ``log_metric`` appends, a daemon thread sends.

Training loops log metrics thousands of times a second, so ``MetricBatcher.add`` only appends a
tuple to a list under a lock (about a microsecond) and returns. One daemon thread per batcher
turns that buffer into ``POST /runs/{id}/metrics`` requests of up to 100,000 points:

- it sends every ``flush_interval`` seconds, at once when ``max_batch`` points are waiting, on
  ``flush()`` and ``close()``, and at interpreter exit (one ``atexit`` hook for all batchers,
  bounded by ``EXIT_TIMEOUT`` so a vanished server never hangs the exit);
- a transient failure (server unreachable, timeout, 5xx, 429) keeps the points at the head of
  the buffer and retries them with exponential backoff, so order is kept and nothing is lost;
- a 4xx (the run was deleted, a value the server refuses) drops that batch and keeps the first
  such error; the next ``flush()``/``close()`` raises it as the original ``podium.errors`` class;
- once ``max_pending`` points are waiting, ``add`` blocks until the sender makes room, so memory
  stays bounded while the server is slow or away.

Delivery is at least once: when a connection drops after the server committed a batch but before
its reply arrived, the batch is sent again and those points are stored twice.

The wire body is written here rather than by ``httpx``'s ``json=``, because httpx refuses NaN and
infinity, which are legitimate metric values (a diverged loss) that the API accepts.
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import operator
import os
import re
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from podium import errors

if TYPE_CHECKING:
    from podium.client.api import Client

log = logging.getLogger("podium.client")

# One buffered point: (key, value, step, timestamp in epoch ms). Tuples, not dicts: they are
# built on the caller's hot path; the wire dicts are written by the sender thread.
Point = tuple[str, float, int, int]

MAX_REQUEST_POINTS = 100_000  # the API's limit per metrics request
MAX_REQUEST_BYTES = 8 * 1024 * 1024  # half the server's default body limit (PODIUM_MAX_BODY_BYTES)
MAX_PENDING = 1_000_000
MAX_STEP = 2**62
EXIT_TIMEOUT = 10.0  # seconds the exit hook may spend delivering what is left, for all batchers
_KEY = re.compile(r"[^\x00-\x1f]{1,250}")
_JSON_HEADERS = {"Content-Type": "application/json"}


class MetricBatcher:
    """Buffers one run's metric points and sends them from a background thread.

    ``add``/``add_many`` never do I/O (they block only for backpressure); ``flush`` waits until
    everything added before it is acknowledged by the server; ``close`` flushes and stops the
    thread. See the module docstring for retry and error rules.
    """

    def __init__(
        self,
        client: Client,
        run_id: str,
        *,
        flush_interval: float = 1.0,
        max_batch: int = 10_000,
        max_pending: int = MAX_PENDING,
        max_request_points: int = MAX_REQUEST_POINTS,
        max_request_bytes: int = MAX_REQUEST_BYTES,
        retry_timeout: float = 30.0,
        backoff: float = 0.05,
        max_backoff: float = 2.0,
        last_steps: Mapping[str, int] | None = None,
    ) -> None:
        if flush_interval <= 0:
            raise errors.InvalidInput("flush_interval must be > 0 seconds", field="flush_interval")
        if max_batch < 1:
            raise errors.InvalidInput("max_batch must be >= 1", field="max_batch")
        if max_pending < max_batch:
            raise errors.InvalidInput("max_pending must be >= max_batch", field="max_pending")
        self._client = client
        self._path = f"/runs/{run_id}/metrics"
        self.run_id = run_id
        self._flush_interval = flush_interval
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._max_request_points = min(max_request_points, MAX_REQUEST_POINTS)
        self._max_request_bytes = max_request_bytes
        self._retry_timeout = retry_timeout
        self._backoff = backoff
        self._max_backoff = max_backoff

        self._lock = threading.Lock()
        # Signalled by the sender whenever points are resolved or a send fails.
        self._changed = threading.Condition(self._lock)
        self._buffer: list[Point] = []
        # Per key, the step of the last point logged: the default step is one more.
        self._last_step: dict[str, int] = dict(last_steps or {})
        self._added = 0  # points ever added; a flush waits for ``_resolved`` to reach it
        self._resolved = 0  # points acknowledged or dropped, in buffer order
        self._dropped = 0
        self._error: errors.PodiumError | None = None  # first dropped batch's error, not raised yet
        self._failing_since: float | None = None  # monotonic time of the first failure in a row
        self._last_failure: BaseException | None = None
        self._closed = False  # no more points accepted
        self._kicked = False  # the sender was already woken for a full batch
        self._wake = threading.Event()
        self._stop = threading.Event()  # the sender exits once the buffer is empty
        self._abandon = threading.Event()  # the sender exits now, even with points left
        self._pid = os.getpid()
        self._thread = threading.Thread(
            target=self._run, name=f"podium-metrics-{run_id}", daemon=True
        )
        self._thread.start()
        _track(self)

    # -- the caller's side ------------------------------------------------------------------

    def add(
        self, key: str, value: float, step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Buffer one point; ``step=None`` is one more than this key's last step (0 first)."""
        # The hot path of a training loop: keep it to one lock, one dict lookup, one append.
        number = value if value.__class__ is float else _number(key, value)
        ts = time.time_ns() // 1_000_000 if timestamp is None else _timestamp(timestamp)
        if step is not None:
            step = _step(step)
        with self._lock:
            if self._closed:
                raise _closed_error(self.run_id)
            buffer = self._buffer
            if len(buffer) >= self._max_pending:
                self._wait_for_room(1)
            last = self._last_step.get(key)
            if last is None:
                _check_key(key)  # the key's first point
            if step is None:
                step = 0 if last is None else last + 1
            self._last_step[key] = step
            buffer.append((key, number, step, ts))
            self._added += 1
            if len(buffer) >= self._max_batch and not self._kicked:
                self._kicked = True
                self._wake.set()

    def add_many(
        self, metrics: Mapping[str, float], step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Buffer several points at one step (or each key's default step) and timestamp."""
        values = [(key, _number(key, value)) for key, value in metrics.items()]
        ts = time.time_ns() // 1_000_000 if timestamp is None else _timestamp(timestamp)
        if step is not None:
            step = _step(step)
        with self._lock:
            if self._closed:
                raise _closed_error(self.run_id)
            last_steps = self._last_step
            for key, _ in values:
                if key not in last_steps:
                    _check_key(key)
            if len(self._buffer) + len(values) > self._max_pending:
                self._wait_for_room(len(values))
            for key, number in values:
                if step is None:
                    last = last_steps.get(key)
                    point_step = 0 if last is None else last + 1
                else:
                    point_step = step
                last_steps[key] = point_step
                self._buffer.append((key, number, point_step, ts))
            self._added += len(values)
            if len(self._buffer) >= self._max_batch and not self._kicked:
                self._kicked = True
                self._wake.set()

    def _wait_for_room(self, count: int) -> None:
        # Called with the lock held. A batch larger than the whole bound still goes in once the
        # buffer is empty, so an oversized call cannot wait forever.
        self._wake.set()
        while (
            self._buffer
            and len(self._buffer) + count > self._max_pending
            and not self._abandon.is_set()
            and self._thread.is_alive()
        ):
            self._changed.wait(0.5)

    @property
    def pending(self) -> int:
        """Points buffered or in flight, not yet acknowledged."""
        with self._lock:
            return len(self._buffer)

    @property
    def dropped(self) -> int:
        """Points dropped so far because the server refused their batch with a 4xx."""
        with self._lock:
            return self._dropped

    def flush(self, timeout: float | None = None) -> None:
        """Block until every point added before this call is acknowledged.

        Raises the error of a batch the server refused since the last flush (the points of that
        batch are dropped). Raises ``ServiceUnavailable`` when the server has failed every
        attempt for ``retry_timeout`` seconds, or ``timeout`` seconds pass; the points then stay
        buffered and are still retried.
        """
        with self._lock:
            target = self._added
        self._wait_resolved(target, timeout)
        with self._lock:
            error, self._error = self._error, None
        if error is not None:
            raise error

    def close(self, timeout: float | None = None) -> None:
        """Flush, then stop the sender thread; no points are accepted afterwards.

        If the flush fails with ``ServiceUnavailable`` the batcher stays open, so ``close`` can
        be tried again; a refused batch's error is raised after the thread has stopped.
        """
        with self._lock:
            self._closed = True
            target = self._added
        try:
            self._wait_resolved(target, timeout)
        except errors.ServiceUnavailable:
            with self._lock:
                self._closed = False
            raise
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)
        _untrack(self)
        with self._lock:
            error, self._error = self._error, None
        if error is not None:
            raise error

    def abandon(self) -> int:
        """Stop the sender now, discarding what was not delivered; returns how many points."""
        with self._lock:
            self._closed = True
            lost = len(self._buffer)
            self._abandon.set()
            self._changed.notify_all()
        self._wake.set()
        self._thread.join(timeout=1)
        _untrack(self)
        return lost

    def _wait_resolved(self, target: int, timeout: float | None) -> None:
        start = time.monotonic()
        deadline = None if timeout is None else start + timeout
        self._wake.set()
        with self._lock:
            while self._resolved < target:
                now = time.monotonic()
                if not self._thread.is_alive():
                    raise errors.ServiceUnavailable(
                        f"the metric sender of run {self.run_id} has stopped with "
                        f"{len(self._buffer)} points undelivered: {self._last_failure}"
                    )
                failing = self._failing_since
                if failing is not None and now - max(failing, start) >= self._retry_timeout:
                    raise self._outage(f"has failed for {self._retry_timeout:g}s")
                if deadline is not None and now >= deadline:
                    raise self._outage(f"did not finish within {timeout:g}s")
                wait = 0.1 if deadline is None else min(0.1, deadline - now)
                self._changed.wait(max(wait, 0.001))

    def _outage(self, what: str) -> errors.ServiceUnavailable:
        # Called with the lock held.
        cause = f": {self._last_failure}" if self._last_failure is not None else ""
        return errors.ServiceUnavailable(
            f"sending metrics of run {self.run_id} {what}{cause}; {len(self._buffer)} points "
            "stay buffered and are retried in the background; check that the Podium server "
            "is up (PODIUM_URL), then call flush() again"
        )

    # -- the sender thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._abandon.is_set():
                if self._stop.is_set() and not self.pending:
                    return
                with self._lock:
                    full = len(self._buffer) >= self._max_batch
                if not full:
                    self._wake.wait(self._flush_interval)
                self._wake.clear()
                with self._lock:
                    self._kicked = False
                    target = self._resolved + len(self._buffer)
                self._send_until(target)
        except BaseException as exc:  # a bug here must not hang flush(): it checks is_alive()
            self._last_failure = exc
            log.exception("podium: the metric sender of run %s failed", self.run_id)

    def _send_until(self, target: int) -> None:
        """Send from the head of the buffer until ``target`` points are resolved."""
        delay = self._backoff
        while not self._abandon.is_set():
            with self._lock:
                if self._resolved >= target or not self._buffer:
                    return
                batch = self._buffer[: self._max_request_points]
            body, count = _encode(batch, self._max_request_bytes)
            try:
                self._client.request("POST", self._path, content=body, headers=_JSON_HEADERS)
            except Exception as exc:
                if isinstance(exc, errors.PayloadTooLarge) and count > 1:
                    # The server's body limit is below ours: halve the request size for good.
                    self._max_request_bytes = max(len(body) // 2, 1)
                    continue
                if is_transient(exc):
                    with self._lock:
                        if self._failing_since is None:
                            self._failing_since = time.monotonic()
                        self._last_failure = exc
                        self._changed.notify_all()
                    self._abandon.wait(delay)
                    delay = min(delay * 2, self._max_backoff)
                    continue
                self._drop(count, exc)
            else:
                with self._lock:
                    del self._buffer[:count]
                    self._resolved += count
                    self._failing_since = None
                    self._last_failure = None
                    self._changed.notify_all()
                delay = self._backoff

    def _drop(self, count: int, exc: Exception) -> None:
        error = (
            exc
            if isinstance(exc, errors.PodiumError)
            else errors.PodiumError(f"sending metrics failed: {exc!r}")
        )
        log.warning(
            "podium: dropped %d metric points of run %s: %s", count, self.run_id, error.message
        )
        with self._lock:
            del self._buffer[:count]
            self._resolved += count
            self._dropped += count
            self._failing_since = None
            if self._error is None:
                self._error = error
            self._changed.notify_all()


def is_transient(exc: BaseException) -> bool:
    """True for failures worth retrying: outages, 5xx and 429."""
    if isinstance(
        exc, errors.ServiceUnavailable | errors.RateLimited | httpx.TransportError | OSError
    ):
        return True
    if not isinstance(exc, errors.PodiumError):
        return False
    if exc.http_status is not None:
        return exc.http_status >= 500
    return type(exc) is errors.PodiumError


def _encode(batch: list[Point], max_bytes: int) -> tuple[bytes, int]:
    """The JSON body for the head of ``batch`` within ``max_bytes``; and how many points it has."""
    parts: list[str] = []
    size = 16
    keys: dict[str, str] = {}
    for key, value, step, ts in batch:
        encoded = keys.get(key)
        if encoded is None:
            encoded = keys[key] = json.dumps(key)
        part = f'{{"key":{encoded},"value":{_json_float(value)},"step":{step},"timestamp":{ts}}}'
        size += len(part) + 1
        if parts and size > max_bytes:
            break
        parts.append(part)
    body = '{"metrics":[' + ",".join(parts) + "]}"
    return body.encode(), len(parts)


def _json_float(value: float) -> str:
    if math.isfinite(value):
        return repr(value)
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"


def _number(key: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise errors.InvalidInput(
            f"metric {key!r} needs a number, got {value!r}", field="value"
        ) from None


def _step(step: Any) -> int:
    try:
        step = operator.index(step)
    except TypeError:
        raise errors.InvalidInput(f"step must be an integer, got {step!r}", field="step") from None
    if not 0 <= step <= MAX_STEP:
        raise errors.InvalidInput(f"step must be between 0 and 2**62, got {step}", field="step")
    return int(step)


def _timestamp(timestamp: Any) -> int:
    try:
        ts = operator.index(timestamp)
    except TypeError:
        raise errors.InvalidInput(
            f"timestamp must be integer epoch milliseconds, got {timestamp!r}", field="timestamp"
        ) from None
    if ts < 0:
        raise errors.InvalidInput("timestamp must be >= 0 epoch milliseconds", field="timestamp")
    return int(ts)


def _check_key(key: Any) -> None:
    # Checked once per key (then it is in ``_last_step``): a bad key would make the server
    # refuse the whole batch it travels in, so it is refused here, at the call.
    if not isinstance(key, str) or _KEY.fullmatch(key) is None:
        raise errors.InvalidInput(
            f"metric key {key!r} must be a string of 1 to 250 characters without control "
            "characters",
            field="key",
        )


def _closed_error(run_id: str) -> errors.Conflict:
    return errors.Conflict(
        f"run {run_id} has ended; log to a new run from podium.start_run()", field="run_id"
    )


# -- the exit hook ----------------------------------------------------------------------------

_live: set[MetricBatcher] = set()
_live_lock = threading.Lock()
_hook_registered = False


def _track(batcher: MetricBatcher) -> None:
    global _hook_registered
    with _live_lock:
        _live.add(batcher)
        if not _hook_registered:
            atexit.register(flush_all_at_exit)
            _hook_registered = True


def _untrack(batcher: MetricBatcher) -> None:
    with _live_lock:
        _live.discard(batcher)


def flush_all_at_exit(timeout: float | None = None) -> None:
    """Deliver what every open batcher still holds, within ``timeout`` seconds in all.

    Runs at interpreter exit (``timeout`` defaults to ``EXIT_TIMEOUT``). What cannot be
    delivered in time is discarded with a warning.
    """
    deadline = time.monotonic() + (EXIT_TIMEOUT if timeout is None else timeout)
    with _live_lock:
        # A forked child inherits the parent's batchers (without their threads): not its own.
        batchers = [b for b in _live if b._pid == os.getpid()]
    for batcher in batchers:
        remaining = max(deadline - time.monotonic(), 0.05)
        try:
            batcher.close(timeout=remaining)
        except errors.ServiceUnavailable as exc:
            lost = batcher.abandon()
            log.warning(
                "podium: %d metric points of run %s were lost: %s", lost, batcher.run_id, exc
            )
        except errors.PodiumError as exc:
            log.warning("podium: metrics of run %s: %s", batcher.run_id, exc)
