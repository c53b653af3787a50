"""SDK helpers for the model registry: register a run's model, move aliases, look versions up.

Thin wrappers over ``/api/v1/models``; each returns the server's JSON as a dict and raises
``podium.errors``. Each takes an optional ``client``; without one it opens a ``Client()`` for
the call (``PODIUM_URL``, or embedded mode) and closes it afterwards.

    from podium.client import registry

    version = registry.register_model("summarizer", run_id=run.id, artifact_path="model")
    registry.set_alias("summarizer", "production", version["version"], reason="eval passed")
    live = registry.load_version("summarizer", "production")
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import quote

from podium import errors
from podium.client.api import Client


def register_model(
    name: str,
    *,
    run_id: str | None = None,
    artifact_path: str | None = None,
    artifact_sha256: str | None = None,
    project: str = "default",
    framework: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    description: str = "",
    model_card: str = "",
    client: Client | None = None,
) -> dict[str, Any]:
    """Add a version of model ``name`` (the model is created first if it does not exist).

    The version's file is the run's artifact ``artifact_path`` (with ``run_id``) or a blob
    already stored (``artifact_sha256``); a version may have no file. ``description`` describes
    the version, and the model too when this call creates it. Returns the version JSON.
    """
    with _client(client) as api:
        with suppress(errors.Conflict):  # registered before: add a version to it
            api.post("/models", {"project": project, "name": name, "description": description})
        body = {
            "source_run_id": run_id,
            "artifact_path": artifact_path,
            "artifact_sha256": artifact_sha256,
            "framework": framework,
            "metadata": dict(metadata or {}),
            "description": description,
            "model_card": model_card,
        }
        version: dict[str, Any] = api.post(
            f"{_model(name)}/versions",
            {k: v for k, v in body.items() if v is not None},
            params={"project": project},
        )
        return version


def set_alias(
    name: str,
    alias: str,
    version: int,
    *,
    reason: str = "",
    project: str = "default",
    client: Client | None = None,
) -> dict[str, Any]:
    """Point ``alias`` (e.g. ``production``) at ``version``; the move is recorded with ``reason``.

    Returns the alias JSON; ``NotFound`` for an unknown model or version.
    """
    with _client(client) as api:
        alias_json: dict[str, Any] = api.request(
            "PUT",
            f"{_model(name)}/aliases/{quote(alias, safe='')}",
            json={"version": version, "reason": reason},
            params={"project": project},
        )
        return alias_json


def rollback_alias(
    name: str,
    alias: str,
    *,
    reason: str = "",
    project: str = "default",
    client: Client | None = None,
) -> dict[str, Any]:
    """Move ``alias`` back to the version it pointed at before its last move.

    Returns the alias JSON; ``Conflict`` when the alias has no earlier position.
    """
    with _client(client) as api:
        alias_json: dict[str, Any] = api.post(
            f"{_model(name)}/aliases/{quote(alias, safe='')}/rollback",
            {"reason": reason},
            params={"project": project},
        )
        return alias_json


def load_version(
    name: str,
    alias_or_version: str | int,
    *,
    project: str = "default",
    client: Client | None = None,
) -> dict[str, Any]:
    """The version JSON of model ``name`` by alias (``"production"``) or number (``3``/``"3"``).

    ``NotFound`` for an unknown model, alias or version.
    """
    if isinstance(alias_or_version, int) or alias_or_version.isdigit():
        path = f"{_model(name)}/versions/{int(alias_or_version)}"
    else:
        path = f"{_model(name)}/aliases/{quote(alias_or_version, safe='')}"
    with _client(client) as api:
        version: dict[str, Any] = api.get(path, project=project)
        return version


def _model(name: str) -> str:
    return f"/models/{quote(name, safe='')}"


@contextmanager
def _client(client: Client | None) -> Iterator[Client]:
    if client is not None:
        yield client
        return
    with Client() as owned:
        yield owned
