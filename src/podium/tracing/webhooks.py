"""Delivery of alert events to webhooks: one JSON POST, retried with exponential backoff.

A delivery succeeds on any 2xx answer. Connection errors, timeouts, 408, 429 and 5xx answers
are retried up to ``retries`` times, waiting ``backoff_s``, then twice that, and so on; any other
4xx answer is final (the receiver rejected the payload; retrying would not change that). The
outcome is returned, never raised: the caller records it on the event.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

_RETRIED_STATUS = frozenset({408, 429})


@dataclass(frozen=True)
class Delivery:
    """How a delivery ended: ``delivered`` or ``failed``, after how many attempts, and why."""

    status: str
    attempts: int
    error: str | None


class WebhookSender:
    """Posts JSON payloads to webhook URLs with retries."""

    def __init__(
        self,
        *,
        timeout_s: float = 5.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self._sleep = sleep

    def send(self, url: str, payload: dict[str, Any]) -> Delivery:
        """POST ``payload`` to ``url`` until it is accepted or the retries run out."""
        error = "not attempted"
        attempts = 0
        with httpx.Client(timeout=self.timeout_s, follow_redirects=False) as client:
            for attempt in range(self.retries + 1):
                if attempt:
                    self._sleep(self.backoff_s * 2 ** (attempt - 1))
                attempts += 1
                try:
                    response = client.post(url, json=payload)
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"[:500]
                    continue
                if response.is_success:
                    return Delivery("delivered", attempts, None)
                error = f"HTTP {response.status_code}: {response.text[:200]}"
                if response.status_code < 500 and response.status_code not in _RETRIED_STATUS:
                    break
        return Delivery("failed", attempts, error)
