"""Fixtures of the SDK tests: no run may outlive its test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from podium.client import runs


@pytest.fixture(autouse=True)
def no_open_runs() -> Iterator[None]:
    """Fail a test that leaves a run open (and close it, so the next test starts clean)."""
    yield
    with runs._open_lock:
        left = list(runs._open_runs)
        runs._open_runs.clear()
    runs._active_runs.set(())
    for run in left:
        run._batcher.abandon()
    assert not left, f"runs left open by the test: {left}"
