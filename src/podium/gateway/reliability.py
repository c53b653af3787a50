"""Circuit breakers and retry backoff for the gateway's calls to providers.

A breaker guards one deployment. Closed, it counts consecutive failures; after ``failures`` of
them it opens and the router skips the deployment. After ``cooldown_s`` it lets one probe through
(half-open): a success closes it, a failure opens it for another cooldown. Breakers live in the
process (each replica learns on its own, which is what a breaker should do).

Backoff is exponential with full jitter: attempt ``n`` sleeps a uniform time in
``[0, base * 2**n]`` (capped), which spreads retries from many clients instead of synchronising
them.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"
MAX_BACKOFF_S = 10.0


@dataclass
class CircuitBreaker:
    """The state of one deployment's breaker."""

    failures: int
    cooldown_s: float
    consecutive: int = 0
    opened_at: float | None = None
    probing: bool = False

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half_open`` (cooldown over, probe allowed)."""
        if self.opened_at is None:
            return CLOSED
        if time.monotonic() - self.opened_at >= self.cooldown_s:
            return HALF_OPEN
        return OPEN

    def allow(self) -> bool:
        """Whether a request may go to the deployment now (claims the probe when half-open)."""
        state = self.state
        if state == CLOSED:
            return True
        if state == HALF_OPEN and not self.probing:
            self.probing = True
            return True
        return False

    def record_success(self) -> None:
        """A call succeeded: close the breaker."""
        self.consecutive = 0
        self.opened_at = None
        self.probing = False

    def record_failure(self) -> None:
        """A call failed: count it, opening (or re-opening) the breaker at the threshold."""
        self.consecutive += 1
        if self.probing or self.consecutive >= self.failures:
            self.opened_at = time.monotonic()
        self.probing = False


class Breakers:
    """The breakers of every deployment, keyed by (project, route, deployment)."""

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str, str], CircuitBreaker] = {}

    def get(self, key: tuple[str, str, str], failures: int, cooldown_s: float) -> CircuitBreaker:
        """The breaker for ``key``, created closed (its thresholds follow the route's spec)."""
        breaker = self._by_key.get(key)
        if breaker is None:
            breaker = self._by_key[key] = CircuitBreaker(failures, cooldown_s)
        else:
            breaker.failures, breaker.cooldown_s = failures, cooldown_s
        return breaker

    def states(self) -> dict[tuple[str, str, str], str]:
        """Every known breaker's state."""
        return {key: breaker.state for key, breaker in self._by_key.items()}


def backoff_s(attempt: int, base_ms: float) -> float:
    """Full-jitter delay before retry number ``attempt`` (0-based), in seconds."""
    cap = min(MAX_BACKOFF_S, base_ms / 1000 * 2**attempt)
    return random.uniform(0, cap)  # noqa: S311  jitter, not cryptography
