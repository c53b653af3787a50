"""SDK helpers for datasets: import a file as a new version, read versions, export, diff.

    from podium.client import Client
    from podium.client import data

    with Client() as client:
        version = data.import_file(client, "qa", "qa.jsonl", project="support")
        for row in data.iter_rows(client, "qa", project="support"):
            ...

Uploads stream the file (``PUT /api/v1/datasets/{name}/content``); exports stream back in
chunks. Only the standard library and httpx, so ``import podium`` stays light.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from podium import errors
from podium.client.api import Client

FORMATS = ("jsonl", "csv", "parquet", "chat")
_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet"}


def dataset_path(name: str, *rest: str) -> str:
    """The REST path of dataset ``name`` (and a sub-resource)."""
    return "/datasets/" + "/".join(quote(part, safe="") for part in (name, *rest))


def guess_format(path: str | os.PathLike[str]) -> str:
    """The import format implied by a file name; ``InvalidInput`` when it cannot be told."""
    suffix = Path(path).suffix.lower()
    if suffix not in _SUFFIXES:
        raise errors.InvalidInput(
            f"cannot tell the format of {str(path)!r} from its extension; pass --format "
            f"({', '.join(FORMATS)})",
            field="format",
        )
    return _SUFFIXES[suffix]


def import_stream(
    client: Client,
    name: str,
    stream: IO[bytes],
    *,
    fmt: str = "jsonl",
    project: str = "default",
    message: str = "",
) -> dict[str, Any]:
    """Upload ``stream`` as dataset ``name``'s next version; the version JSON."""
    version: dict[str, Any] = client.request(
        "PUT",
        dataset_path(name, "content"),
        params={"project": project, "format": fmt, "message": message},
        content=_chunks(stream),
        headers={"Content-Type": "application/octet-stream"},
    )
    return version


def import_file(
    client: Client,
    name: str,
    path: str | os.PathLike[str],
    *,
    fmt: str | None = None,
    project: str = "default",
    message: str = "",
) -> dict[str, Any]:
    """Upload the file at ``path`` (format from its extension unless ``fmt``), streamed."""
    source = Path(path)
    if not source.is_file():
        raise errors.InvalidInput(f"{str(source)!r} is not a file", field="path")
    with source.open("rb") as stream:
        return import_stream(
            client, name, stream, fmt=fmt or guess_format(source), project=project, message=message
        )


def export(
    client: Client,
    name: str,
    *,
    version: int | None = None,
    fmt: str = "jsonl",
    project: str = "default",
) -> Iterator[bytes]:
    """The version's rows encoded as ``fmt``, in chunks (the latest version by default)."""
    params: dict[str, Any] = {"project": project, "format": fmt}
    if version is not None:
        params["version"] = version
    return client.download(dataset_path(name, "content"), params)


def iter_rows(
    client: Client,
    name: str,
    *,
    version: int | None = None,
    project: str = "default",
    search: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Every row of a version as ``{input, expected, metadata, row_hash}``, page by page."""
    return client.paginate(
        dataset_path(name, "rows"), project=project, version=version, search=search
    )


def diff(
    client: Client, name: str, base: int, other: int, *, project: str = "default", examples: int = 5
) -> dict[str, Any]:
    """Counts and examples of rows added, removed and changed from ``base`` to ``other``."""
    found: dict[str, Any] = client.get(
        dataset_path(name, "diff"), project=project, base=base, other=other, examples=examples
    )
    return found


def clean(
    client: Client,
    name: str,
    steps: list[dict[str, Any]],
    *,
    version: int | None = None,
    project: str = "default",
    message: str = "",
) -> dict[str, Any]:
    """Run the quality pipeline ``steps`` (``[{"name": ..., "params": {...}}]``) over a version;
    ``{"version": <the new version>, "reports": [<one per step>]}``."""
    body = {"project": project, "version": version, "steps": steps, "message": message}
    result: dict[str, Any] = client.post(dataset_path(name, "clean"), body)
    return result


def import_traces(
    client: Client,
    name: str,
    *,
    project: str = "default",
    message: str = "",
    **filters: Any,
) -> dict[str, Any]:
    """Import ``project``'s traces as dataset ``name``'s next version; the version JSON.

    ``filters``: ``since``/``until`` (ISO 8601 text or datetimes), ``model``, ``prompt_name``,
    ``prompt_version``, ``tags``, ``score_name``, ``min_score``, ``max_score``, ``errors``,
    ``spans`` (``root`` or ``llm``) and ``limit``; None values are left out.
    """
    body: dict[str, Any] = {"project": project, "message": message}
    for key, value in filters.items():
        if value is None:
            continue
        body[key] = value.isoformat() if hasattr(value, "isoformat") else value
    version: dict[str, Any] = client.post(dataset_path(name, "import-traces"), body)
    return version


def start_clean(
    client: Client,
    name: str,
    steps: list[dict[str, Any]],
    *,
    version: int | None = None,
    project: str = "default",
    message: str = "",
) -> dict[str, Any]:
    """Start the quality pipeline in the background; the job JSON (``id``, ``state``,
    ``steps`` with their progress). Follow it with ``wait_for_job``."""
    body = {"project": project, "version": version, "steps": steps, "message": message}
    job: dict[str, Any] = client.post(dataset_path(name, "clean"), body, params={"wait": "false"})
    return job


def get_job(client: Client, job_id: str) -> dict[str, Any]:
    """A pipeline job's current state and progress."""
    job: dict[str, Any] = client.get("/datasets/jobs/" + quote(job_id, safe=""))
    return job


def wait_for_job(
    client: Client,
    job_id: str,
    *,
    poll: float = 0.5,
    timeout: float | None = None,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Poll a pipeline job until it ends; the finished job (``version`` and ``reports`` set).

    ``on_progress`` hears every polled state. A failed job raises its error as the
    ``podium.errors`` class of its status; ``ServiceUnavailable`` after ``timeout`` seconds.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        job = get_job(client, job_id)
        if on_progress is not None:
            on_progress(job)
        if job["state"] == "succeeded":
            return job
        if job["state"] == "failed":
            raise errors.from_problem(job["error_status"] or 500, {"detail": job["error"]})
        if deadline is not None and time.monotonic() > deadline:
            raise errors.ServiceUnavailable(
                f"pipeline job {job_id} is still running after {timeout:g} s; check it with "
                f"`podium data job {job_id}`"
            )
        time.sleep(poll)


def _chunks(stream: IO[bytes], size: int = 1024 * 1024) -> Iterator[bytes]:
    while chunk := stream.read(size):
        yield chunk
