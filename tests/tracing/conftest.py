"""Fixtures for tracing tests: the access tests' ``team`` (members and keys of ``alpha``)."""

from tests.access.conftest import team  # noqa: F401
