"""``start_run`` and ``ActiveRun``: experiment tracking from a training script.

    import podium

    with podium.start_run(experiment="baseline", params={"lr": 0.01}) as run:
        for step in range(1000):
            run.log_metrics({"loss": loss, "acc": acc}, step=step)
        run.log_artifact("model.safetensors")

A run records where it came from (git commit, command line, user), takes params and tags at
once (they are rare, and a params conflict should surface at the call), and hands metrics to a
``MetricBatcher`` that sends them in the background (``_batcher.py`` has the rules). The runs
started in a thread or async task form a stack held in a ``ContextVar``: ``nested=True`` makes
the new run a child of the innermost one, and ``active_run()`` returns it.

Runs still open when the interpreter exits are ended by an ``atexit`` hook (FINISHED, or FAILED
/ KILLED when an uncaught exception / KeyboardInterrupt ended the program), within a bound.
"""

from __future__ import annotations

import atexit
import getpass
import logging
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import quote

import httpx

from podium import errors
from podium.client import _batcher
from podium.client._batcher import MetricBatcher
from podium.client.api import Client

log = logging.getLogger("podium.client")

_END_STATUSES = ("FINISHED", "FAILED", "KILLED")
_CHUNK = 1024 * 1024
_GIT_TIMEOUT = 2.0
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")

# The runs started in this thread / task, innermost last; ended runs are skipped on read.
_active_runs: ContextVar[tuple[ActiveRun, ...]] = ContextVar("podium_active_runs", default=())


class ActiveRun:
    """A run being logged to; made by ``start_run``. A context manager that ends the run.

    Leaving the ``with`` block ends the run FINISHED; an exception ends it FAILED (and
    propagates); a ``KeyboardInterrupt`` ends it KILLED.
    """

    def __init__(
        self,
        client: Client,
        info: dict[str, Any],
        *,
        owns_client: bool = False,
        flush_interval: float = 1.0,
        max_batch: int = 10_000,
        last_steps: Mapping[str, int] | None = None,
    ) -> None:
        self.id: str = info["id"]
        self.info: dict[str, Any] = info
        self._client = client
        self._owns_client = owns_client
        self._path = f"/runs/{quote(self.id, safe='')}"
        self._batcher = MetricBatcher(
            client,
            quote(self.id, safe=""),
            flush_interval=flush_interval,
            max_batch=max_batch,
            last_steps=last_steps,
        )
        self._ended = False
        self._end_lock = threading.Lock()
        self._pid = os.getpid()
        with _open_lock:
            _open_runs.add(self)

    @property
    def client(self) -> Client:
        """The ``Client`` this run talks through."""
        return self._client

    @property
    def ended(self) -> bool:
        """True once ``end()`` has completed."""
        return self._ended

    # -- params and tags: sent at once ------------------------------------------------------

    def log_param(self, key: str, value: Any) -> None:
        """Record one param (stringified); ``Conflict`` if it already holds another value."""
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record params (values stringified); write-once: ``Conflict`` on a different value."""
        if params:
            self._client.post(f"{self._path}/params", {"params": _strings(params)})

    def set_tag(self, key: str, value: Any) -> None:
        """Set one tag (stringified); tags can be overwritten."""
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set several tags (values stringified)."""
        if tags:
            self._client.post(f"{self._path}/tags", {"tags": _strings(tags)})

    # -- metrics: buffered, sent in the background ------------------------------------------

    def log_metric(
        self, key: str, value: float, step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Buffer one metric point; returns at once (the background sender delivers it).

        ``step=None`` means one more than the last step logged for ``key`` in this run by this
        process (0 for the first). ``timestamp`` is epoch milliseconds, now when None. Blocks
        only while more than a million points wait for the server (backpressure).
        """
        self._batcher.add(key, value, step, timestamp)

    def log_metrics(
        self, metrics: Mapping[str, float], step: int | None = None, timestamp: int | None = None
    ) -> None:
        """Buffer several metric points at one step (each key's default step when None)."""
        self._batcher.add_many(metrics, step, timestamp)

    def flush(self, timeout: float | None = None) -> None:
        """Block until every metric logged so far is acknowledged by the server.

        Raises the error of a batch the server refused since the last flush (as its
        ``podium.errors`` class; that batch's points are dropped), or ``ServiceUnavailable``
        when the server stays unreachable (the points stay buffered and are retried).
        """
        self._batcher.flush(timeout)

    # -- artifacts --------------------------------------------------------------------------

    def log_artifact(
        self, local_path: str | os.PathLike[str], artifact_path: str | None = None
    ) -> Any:
        """Upload a file as ``artifact_path/<file name>`` (or ``<file name>``); streams it.

        Returns the artifact JSON ``{path, sha256, size, created_at}``.
        """
        source = Path(local_path)
        if not source.is_file():
            raise errors.InvalidInput(
                f"{str(source)!r} is not a file; pass the path of a file to upload (use "
                "log_artifacts for a folder)",
                field="local_path",
            )
        return self._upload(source, _join(artifact_path, source.name))

    def log_artifacts(
        self, local_dir: str | os.PathLike[str], artifact_path: str | None = None
    ) -> list[Any]:
        """Upload every file under ``local_dir``, keeping sub-folders; returns their JSON."""
        root = Path(local_dir)
        if not root.is_dir():
            raise errors.InvalidInput(
                f"{str(root)!r} is not a folder; pass a folder (use log_artifact for a file)",
                field="local_dir",
            )
        uploaded = []
        for source in sorted(p for p in root.rglob("*") if p.is_file()):
            uploaded.append(
                self._upload(source, _join(artifact_path, source.relative_to(root).as_posix()))
            )
        return uploaded

    def _upload(self, source: Path, path: str) -> Any:
        with source.open("rb") as stream:
            # A generator plus an explicit Content-Length: httpx streams the file in chunks
            # (never reading it whole) without chunked transfer encoding.
            return self._client.request(
                "PUT",
                f"{self._path}/artifacts/content",
                params={"path": path},
                content=_chunks(stream),
                headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(source.stat().st_size),
                },
            )

    # -- lifecycle --------------------------------------------------------------------------

    def refresh(self) -> dict[str, Any]:
        """Fetch the run from the server (with artifacts and child run ids) into ``info``."""
        self.info = self._client.get(self._path)
        return self.info

    def end(self, status: str = "FINISHED") -> None:
        """Flush the metrics and mark the run ``status`` (FINISHED, FAILED or KILLED).

        Calling it again does nothing. If the server cannot be reached the run stays open (so
        ``end`` can be retried) and ``ServiceUnavailable`` is raised; an error of a refused
        metrics batch is raised after the run has been ended.
        """
        self._end(status, timeout=None)

    def _end(self, status: str, timeout: float | None) -> None:
        status = status.upper()
        if status not in _END_STATUSES:
            raise errors.InvalidInput(
                f"status must be one of {', '.join(_END_STATUSES)}, got {status!r}", field="status"
            )
        with self._end_lock:
            if self._ended:
                return
            refused: errors.PodiumError | None = None
            try:
                self._batcher.close(timeout)
            except errors.ServiceUnavailable:
                raise  # nothing is lost yet: the run stays open and end() can be retried
            except errors.PodiumError as exc:
                refused = exc  # the run is still ended; the caller learns of the lost batch
            try:
                self.info = self._client.request(
                    "PATCH", self._path, json={"status": status, "end_time": _now_ms()}
                )
            except errors.PodiumError as exc:
                if _batcher.is_transient(exc):
                    raise
                # The run is gone or out of reach for good (deleted, no permission): retrying
                # cannot help, so this object is done with it either way.
                self._release()
                raise
            self._release()
        if refused is not None:
            raise refused

    def _release(self) -> None:
        self._ended = True
        with _open_lock:
            _open_runs.discard(self)
        stack = _active_runs.get()
        if self in stack:
            _active_runs.set(tuple(run for run in stack if run is not self))
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        status = _status_for(exc)
        if exc is None:
            self.end(status)
            return
        try:
            self.end(status)
        except Exception as end_error:
            # The body's exception matters more; keep it, and say why the run stayed open.
            log.warning("podium: could not end run %s: %s", self.id, end_error)
            exc.add_note(f"podium: run {self.id} could not be ended {status}: {end_error}")

    def __repr__(self) -> str:
        return f"ActiveRun(id={self.id!r}, name={self.info.get('name')!r})"


def start_run(
    name: str | None = None,
    *,
    project: str = "default",
    experiment: str = "default",
    params: Mapping[str, Any] | None = None,
    tags: Mapping[str, Any] | None = None,
    parent_run_id: str | None = None,
    nested: bool = False,
    client: Client | None = None,
    log_git: bool = True,
    flush_interval: float = 1.0,
    max_batch: int = 10_000,
    run_id: str | None = None,
) -> ActiveRun:
    """Start a run (status RUNNING) and make it the active run of this thread / task.

    ``client`` defaults to ``Client()``: the server at ``PODIUM_URL``, or embedded in-process
    mode when it is unset. ``nested=True`` makes the run a child of ``active_run()`` (and
    reuses its client); ``parent_run_id`` names a parent explicitly. ``log_git`` records the
    commit of the repository in the working folder. Metrics are sent every ``flush_interval``
    seconds or as soon as ``max_batch`` points wait. ``run_id`` attaches to an existing run
    instead of creating one (to log from several processes, or to resume): it is set RUNNING
    and each metric's default step continues after the run's latest step.

    Raises ``NotFound`` for an unknown ``parent_run_id`` / ``run_id``, ``InvalidInput`` for bad
    values, ``ServiceUnavailable`` when the server cannot be reached.
    """
    parent = active_run()
    owns_client = False
    if client is None and nested and parent is not None:
        client = parent.client
    elif client is None:
        client = Client()
        owns_client = True
    if nested and parent_run_id is None and parent is not None:
        parent_run_id = parent.id
    try:
        last_steps: dict[str, int] = {}
        if run_id is not None:
            info = _attach(client, run_id, params, tags)
            last_steps = {key: int(m["step"]) for key, m in (info.get("metrics") or {}).items()}
        else:
            body: dict[str, Any] = {
                "project": project,
                "experiment": experiment,
                "name": name,
                "parent_run_id": parent_run_id,
                "git_commit": git_commit() if log_git else None,
                "command": _command(),
                "user": _user(),
                "start_time": _now_ms(),
                "params": _strings(params or {}),
                "tags": _strings(tags or {}),
            }
            info = client.post("/runs", {k: v for k, v in body.items() if v is not None})
        run = ActiveRun(
            client,
            info,
            owns_client=owns_client,
            flush_interval=flush_interval,
            max_batch=max_batch,
            last_steps=last_steps,
        )
    except BaseException:
        if owns_client:
            client.close()
        raise
    _register_exit_hook()
    _active_runs.set((*_active_runs.get(), run))
    return run


def active_run() -> ActiveRun | None:
    """The innermost run started (and not ended) in this thread / task, or None."""
    for run in reversed(_active_runs.get()):
        if not run.ended:
            return run
    return None


def git_commit(cwd: str | os.PathLike[str] | None = None) -> str | None:
    """The commit checked out in ``cwd``'s git repository; None outside one or without git."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and _COMMIT.fullmatch(commit) else None


def _attach(
    client: Client, run_id: str, params: Mapping[str, Any] | None, tags: Mapping[str, Any] | None
) -> dict[str, Any]:
    path = f"/runs/{quote(run_id, safe='')}"
    info: dict[str, Any] = client.get(path)
    if info.get("status") != "RUNNING":
        client.request("PATCH", path, json={"status": "RUNNING"})
    if params:
        client.post(f"{path}/params", {"params": _strings(params)})
    if tags:
        client.post(f"{path}/tags", {"tags": _strings(tags)})
    if params or tags or info.get("status") != "RUNNING":
        info = client.get(path)
    return info


def _status_for(exc: BaseException | None) -> str:
    if exc is None:
        return "FINISHED"
    if isinstance(exc, KeyboardInterrupt):
        return "KILLED"
    if isinstance(exc, SystemExit) and exc.code in (None, 0):
        return "FINISHED"
    return "FAILED"


def _strings(values: Mapping[str, Any]) -> dict[str, str]:
    return {str(key): str(value) for key, value in values.items()}


def _join(folder: str | None, name: str) -> str:
    folder = (folder or "").strip("/")
    return f"{folder}/{name}" if folder else name


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK):
        yield chunk


def _command() -> str | None:
    return shlex.join(sys.argv) if any(sys.argv) else None


def _user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers: not worth failing a run for
        return None


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


# -- the exit hook ----------------------------------------------------------------------------

_open_runs: set[ActiveRun] = set()
_open_lock = threading.Lock()
_hook_registered = False


def _register_exit_hook() -> None:
    global _hook_registered
    with _open_lock:
        if not _hook_registered:
            atexit.register(end_runs_at_exit)
            _hook_registered = True


def end_runs_at_exit(timeout: float | None = None) -> None:
    """End every run still open, within ``timeout`` seconds in all (runs at interpreter exit).

    ``timeout`` defaults to ``_batcher.EXIT_TIMEOUT``. The status is FAILED when an uncaught
    exception is ending the program, KILLED for a KeyboardInterrupt, FINISHED otherwise.
    Failures are logged, never raised.
    """
    status = _status_for(getattr(sys, "last_value", None))
    deadline = time.monotonic() + (_batcher.EXIT_TIMEOUT if timeout is None else timeout)
    with _open_lock:
        # A forked child inherits the parent's runs; they are the parent's to end.
        runs = [run for run in _open_runs if run._pid == os.getpid()]
    for run in runs:
        remaining = max(deadline - time.monotonic(), 0.05)
        # An exit must not wait on a dead server for the default 60 s read timeout.
        run.client.http.timeout = httpx.Timeout(min(remaining, 5.0))
        try:
            run._end(status, timeout=remaining)
        except Exception as exc:
            lost = run._batcher.abandon()
            log.warning(
                "podium: could not end run %s at exit (%d metric points lost): %s",
                run.id,
                lost,
                exc,
            )
