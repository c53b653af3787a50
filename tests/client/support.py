"""Helpers the SDK tests share: reading a run's metric history back through the REST API."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from podium.client import Client


def history(client: Client, run_id: str, key: str) -> list[dict[str, Any]]:
    """Every point of ``key`` in ``run_id``, in (step, timestamp) order."""
    points: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        page = client.get(
            f"/runs/{run_id}/metrics/{quote(key, safe='')}", offset=offset, limit=100_000
        )
        points.extend(page["points"])
        offset = page["next_offset"]
    return points


def steps(client: Client, run_id: str, key: str) -> list[int]:
    """The steps of ``key``'s points in order."""
    return [p["step"] for p in history(client, run_id, key)]
