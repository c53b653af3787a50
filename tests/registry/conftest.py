"""Fixtures of the registry tests: a run with a logged artifact, through the real tracking part."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest

from podium.server.app import Services

WEIGHTS = b"\x00weights\xff" * 1000 + b"tail"


@dataclass(frozen=True)
class LoggedRun:
    """A run that logged ``model/weights.bin`` (``WEIGHTS``) and ``README.md``."""

    id: str
    path: str
    sha256: str
    content: bytes


@pytest.fixture
def logged_run(services: Services) -> LoggedRun:
    """A finished run with two artifacts, made with the tracking service."""
    run = services.tracking.create_run(project="default", experiment="training", name="train-1")
    artifact = services.tracking.log_artifact(run.id, "model/weights.bin", io.BytesIO(WEIGHTS))
    services.tracking.log_artifact(run.id, "README.md", io.BytesIO(b"# notes\n"))
    return LoggedRun(run.id, "model/weights.bin", artifact.sha256, WEIGHTS)
