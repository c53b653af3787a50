"""``start_run`` and ``ActiveRun`` (placeholder until implemented)."""

from __future__ import annotations

from typing import Any


class ActiveRun:
    """A run being logged to."""


def start_run(*args: Any, **kwargs: Any) -> ActiveRun:
    """Start a run."""
    raise NotImplementedError
