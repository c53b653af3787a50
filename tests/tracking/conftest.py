"""Fixtures of the tracking tests.

``tracking`` is the service of a fresh Podium per test (SQLite and PostgreSQL, via ``services``).
``shared_tracking`` is one Podium per module and backend, for read-only tests over a seeded
set: seeding once instead of per test keeps the many search cases fast.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from podium.server.app import Services, build
from podium.settings import Settings
from podium.tracking.service import TrackingService
from tests.conftest import BACKENDS, drop_postgres_database, fresh_postgres_database


@pytest.fixture
def tracking(services: Services) -> TrackingService:
    """The tracking service of a fresh Podium."""
    return services.tracking


@pytest.fixture(scope="module", params=BACKENDS)
def shared_tracking(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TrackingService]:
    """A tracking service shared by a module's tests (do not write to it after seeding)."""
    home = tmp_path_factory.mktemp("shared")
    if request.param == "sqlite":
        url = f"sqlite:///{home / 'podium.db'}"
    else:
        url = fresh_postgres_database(request.getfixturevalue("postgres_server"))
    services = build(Settings(home=home / "home", database_url=url))
    yield services.tracking
    services.close()
    if request.param != "sqlite":
        drop_postgres_database(request.getfixturevalue("postgres_server"), url)
