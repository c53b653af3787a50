"""Fixtures of the tracking tests: the service of a fresh Podium (on SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from podium.server.app import Services
from podium.tracking.service import TrackingService


@pytest.fixture
def tracking(services: Services) -> TrackingService:
    """The tracking service of a fresh Podium."""
    return services.tracking
