"""Fixtures for tracing tests: the access tests' ``team`` (members and keys of ``alpha``), and
``traced``: the SDK's spans sent to the in-process app behind ``client``."""

from collections.abc import Iterator

import pytest

import podium
from podium.client import Client
from tests.access.conftest import team  # noqa: F401


@pytest.fixture
def traced(client: Client) -> Iterator[Client]:
    """Spans go to the in-process app behind ``client``; the exporter stops afterwards."""
    podium.configure_tracing(client=client, flush_interval=0.05, service_name="tests")
    yield client
    podium.shutdown_tracing()
