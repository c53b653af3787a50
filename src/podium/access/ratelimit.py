"""Failed-login throttling: a sliding window per username and per client address.

Kept in the server process's memory: cheap, and enough to stop online guessing against one
replica; with several replicas each enforces its own window (documented in docs/access.md).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque


class LoginThrottle:
    """Allows at most ``limit`` failures per key within ``window`` seconds."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _prune(self, key: str, now: float) -> deque[float]:
        entries = self._failures[key]
        while entries and now - entries[0] > self.window:
            entries.popleft()
        return entries

    def retry_after(self, *keys: str) -> float:
        """Seconds until a blocked key may try again; 0 when none of ``keys`` is blocked."""
        now = time.monotonic()
        wait = 0.0
        with self._lock:
            for key in keys:
                entries = self._prune(key, now)
                if len(entries) >= self.limit:
                    wait = max(wait, self.window - (now - entries[0]))
        return wait

    def failed(self, *keys: str) -> None:
        """Record a failure against every key."""
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._prune(key, now).append(now)

    def succeeded(self, key: str) -> None:
        """Forget a key's failures (a successful login for that user)."""
        with self._lock:
            self._failures.pop(key, None)
