"""Skipping a test for a missing server or browser, unless CI demands everything runs."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def require(condition: bool, reason: str) -> None:
    """Skip (or, under ``PODIUM_REQUIRE_ALL=1``, fail) unless ``condition`` holds."""
    if not condition:
        missing(reason)


def missing(reason: str) -> NoReturn:
    """Skip for ``reason``; under ``PODIUM_REQUIRE_ALL=1`` this is a failure instead."""
    if os.environ.get("PODIUM_REQUIRE_ALL") == "1":
        pytest.fail(f"required component missing (PODIUM_REQUIRE_ALL=1): {reason}")
    pytest.skip(reason)
