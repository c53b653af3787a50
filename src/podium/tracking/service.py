"""Use cases of experiment tracking. Raises ``podium.errors``; knows nothing of HTTP or the CLI.

``TrackingService`` validates what callers send (keys, value sizes, artifact paths), runs each
use case in one transaction through ``podium.tracking.sql``, and turns absent rows into
``NotFound`` and write-once violations into ``Conflict``. The metric hot path
(``log_metrics``) is one write transaction with two ``executemany`` statements, whatever the
batch size.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator, Sequence
from typing import IO, Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from podium.access.service import ProjectService, check_name
from podium.errors import Conflict, InvalidInput, NotFound
from podium.store.blobs import BlobStore
from podium.store.clock import now_ms
from podium.store.engine import Database
from podium.tracking import search_sql, sql
from podium.tracking.filters import parse_filter, parse_order_by
from podium.tracking.models import (
    TERMINAL_STATUSES,
    Artifact,
    Experiment,
    MetricPoint,
    Run,
    RunComparison,
    RunDetail,
)
from podium.tracking.schemas import RunStatus

MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_RUN_NAME_LENGTH = 250
MAX_ARTIFACT_PATH_LENGTH = 1000
MAX_STEP = 2**62
MIN_COMPARE, MAX_COMPARE = 2, 50

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ADJECTIVES = (
    "amber", "bold", "brave", "bright", "calm", "clever", "cosmic", "crisp", "daring", "eager",
    "fancy", "fierce", "gentle", "glad", "golden", "grand", "happy", "humble", "jolly", "keen",
    "lively", "lucky", "mellow", "merry", "nimble", "noble", "proud", "quick", "quiet", "rapid",
    "shiny", "silent", "smart", "sunny", "swift", "tidy", "vivid", "warm", "wise", "zesty",
)  # fmt: skip
_ANIMALS = (
    "ant", "badger", "bat", "bear", "beaver", "bison", "cat", "cobra", "crane", "crow", "deer",
    "dolphin", "eagle", "falcon", "ferret", "finch", "fox", "gecko", "goat", "hare", "hawk",
    "heron", "ibis", "koala", "lemur", "lion", "lynx", "moose", "newt", "otter", "owl", "panda",
    "puffin", "quail", "raven", "seal", "shark", "sloth", "tiger", "whale", "wolf", "yak",
)  # fmt: skip


def generate_run_name() -> str:
    """A readable run name such as ``brave-otter-42``."""
    return f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_ANIMALS)}-{secrets.randbelow(100):02d}"


def _valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and not _CONTROL.search(key)


def check_key(kind: str, key: str, field: str) -> str:
    """Return ``key`` if it is 1-250 characters without control characters."""
    if not _valid_key(key):
        raise InvalidInput(
            f"{kind} key {key[:60]!r} is not valid: use 1-{MAX_KEY_LENGTH} characters "
            "without control characters (tabs, newlines…)",
            field=field,
        )
    return key


def check_artifact_path(path: str) -> str:
    """Return ``path`` if it is a safe relative path such as ``model/weights.bin``."""
    fix = "use a relative path such as 'model/weights.bin'"
    problem = None
    if not path:
        problem = "is empty"
    elif len(path) > MAX_ARTIFACT_PATH_LENGTH:
        problem = f"is longer than {MAX_ARTIFACT_PATH_LENGTH} characters"
    elif path.startswith("/"):
        problem = "starts with '/'"
    elif "\\" in path:
        problem = "contains a backslash (use '/')"
    elif _CONTROL.search(path):
        problem = "contains control characters"
    elif any(part in ("", ".", "..") for part in path.split("/")):
        problem = "contains an empty, '.' or '..' segment"
    if problem is not None:
        raise InvalidInput(f"artifact path {path[:80]!r} {problem}; {fix}", field="path")
    return path


def _check_values(kind: str, values: dict[str, str], max_length: int) -> None:
    field_prefix = f"{kind}s"
    for key, value in values.items():
        field = f"{field_prefix}.{key}"
        check_key(kind, key, field)
        if len(value) > max_length:
            raise InvalidInput(
                f"{kind} {key!r} has a value of {len(value)} characters; the limit is "
                f"{max_length} (log long text as an artifact instead)",
                field=field,
            )


def _status(value: str) -> RunStatus:
    try:
        return RunStatus(value)
    except ValueError:
        raise InvalidInput(
            f"unknown run status {value!r}: use one of {', '.join(RunStatus)}", field="status"
        ) from None


def _run_not_found(run_id: str, field: str = "run_id") -> NotFound:
    return NotFound(
        f"run {run_id!r} does not exist; find run ids with `podium runs list`", field=field
    )


_RUN_PROJECT_CACHE = 100_000


class TrackingService:
    """Experiments, runs, params, tags, metric series and artifacts."""

    def __init__(self, db: Database, blobs: BlobStore, projects: ProjectService) -> None:
        self._db = db
        self._blobs = blobs
        self._projects = projects
        self._run_projects: dict[str, str] = {}

    # experiments
    def create_experiment(self, project: str, name: str, description: str = "") -> Experiment:
        """Create an experiment (the project is created if missing); ``Conflict`` if taken."""
        check_name("experiment", name)
        project_id = self._project_id(project)
        with self._db.write() as conn:
            return sql.insert_experiment(conn, project_id, name, description)

    def get_experiment(self, experiment_id: int) -> Experiment:
        """The experiment; ``NotFound``."""
        with self._db.read() as conn:
            return sql.get_experiment(conn, experiment_id)

    def list_experiments(self, project: str, offset: int = 0, limit: int = 100) -> list[Experiment]:
        """A project's experiments by name (``limit + 1`` rows fetched by callers paging)."""
        project_id = self._projects.by_name(project).id
        with self._db.read() as conn:
            return sql.list_experiments(conn, project_id, offset, limit)

    def project_of_run(self, run_id: str) -> str:
        """The project that owns a run (cached: it never changes); ``NotFound``."""
        cached = self._run_projects.get(run_id)
        if cached is not None:
            return cached
        with self._db.read() as conn:
            project = sql.project_of_run(conn, run_id)
        if project is None:
            raise _run_not_found(run_id)
        if len(self._run_projects) >= _RUN_PROJECT_CACHE:
            self._run_projects.clear()  # crude but bounded; lookups are one indexed query
        self._run_projects[run_id] = project
        return project

    def project_of_experiment(self, experiment_id: str) -> str:
        """The project that owns an experiment; ``NotFound``."""
        if not experiment_id.isdigit():
            raise InvalidInput(
                f"experiment_id must be an integer, got {experiment_id!r}", field="experiment_id"
            )
        with self._db.read() as conn:
            project = (
                sql.project_of_experiment(conn, int(experiment_id))
                if len(experiment_id) < 19
                else None
            )
        if project is None:
            raise NotFound(f"experiment {experiment_id} does not exist", field="experiment_id")
        return project

    def _project_id(self, project: str) -> int:
        """The project's id, created if missing."""
        try:
            return self._projects.ensure(project).id
        except Conflict:
            # ProjectService.ensure can lose a creation race on PostgreSQL; the winner's
            # project is the one we want.
            return self._projects.by_name(project).id

    def _ensure_experiment(self, conn: Connection, project_id: int, name: str) -> int:
        """The experiment's id, created if missing: a unique constraint plus one retry."""
        found = sql.find_experiment(conn, project_id, name)
        if found is not None:
            return found.id
        try:
            return sql.insert_experiment(conn, project_id, name, "").id
        except Conflict:
            # A concurrent writer created it first (PostgreSQL; SQLite serialises writers).
            found = sql.find_experiment(conn, project_id, name)
            if found is None:  # pragma: no cover - the conflict proves it exists
                raise
            return found.id

    # runs
    def create_run(
        self,
        *,
        project: str = "default",
        experiment: str = "default",
        name: str | None = None,
        parent_run_id: str | None = None,
        git_commit: str | None = None,
        command: str | None = None,
        user: str | None = None,
        start_time: int | None = None,
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
    ) -> Run:
        """Start a run (status RUNNING), creating its project and experiment if missing.

        Raises ``NotFound`` (field ``parent_run_id``) for an unknown parent and
        ``InvalidInput`` for bad names, keys or values.
        """
        check_name("experiment", experiment)
        if name is not None:
            self._check_run_name(name)
        params = params or {}
        tags = tags or {}
        _check_values("param", params, MAX_PARAM_VALUE_LENGTH)
        _check_values("tag", tags, MAX_TAG_VALUE_LENGTH)
        project_id = self._project_id(project)
        run_id = uuid.uuid4().hex
        with self._db.write() as conn:
            if parent_run_id is not None and not sql.run_exists(conn, parent_run_id):
                raise _run_not_found(parent_run_id, field="parent_run_id")
            experiment_id = self._ensure_experiment(conn, project_id, experiment)
            sql.insert_run(
                conn,
                run_id=run_id,
                experiment_id=experiment_id,
                name=name or generate_run_name(),
                start_time=start_time if start_time is not None else now_ms(),
                parent_run_id=parent_run_id,
                git_commit=git_commit,
                command=command,
                user=user,
            )
            sql.insert_params(conn, run_id, params)
            sql.upsert_tags(conn, run_id, tags)
            return sql.get_runs(conn, [run_id])[run_id]

    @staticmethod
    def _check_run_name(name: str) -> None:
        if not name or len(name) > MAX_RUN_NAME_LENGTH or _CONTROL.search(name):
            raise InvalidInput(
                f"run name {name[:60]!r} is not valid: use 1-{MAX_RUN_NAME_LENGTH} characters "
                "without control characters",
                field="name",
            )

    def get_run(self, run_id: str) -> RunDetail:
        """The run with params, tags, latest metrics, artifacts and children; ``NotFound``."""
        with self._db.read() as conn:
            found = sql.get_run_detail(conn, run_id)
        if found is None:
            raise _run_not_found(run_id)
        return found

    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | None = None,
        end_time: int | None = None,
        name: str | None = None,
    ) -> Run:
        """End or rename a run.

        A terminal status without ``end_time`` ends the run now (a run already ended keeps its
        end time); going back to RUNNING clears the end time. ``InvalidInput`` when
        ``end_time`` is before the start.
        """
        if name is not None:
            self._check_run_name(name)
        if status is not None:
            status = _status(status)
        with self._db.write() as conn:
            found = sql.run_times(conn, run_id)
            if found is None:
                raise _run_not_found(run_id)
            current_status, start, current_end = found
            values: dict[str, Any] = {}
            if name is not None:
                values["name"] = name
            if status is not None:
                values["status"] = status.value
                if status in TERMINAL_STATUSES and end_time is None:
                    was_ended = RunStatus(current_status) in TERMINAL_STATUSES
                    values["end_time"] = current_end if was_ended and current_end else now_ms()
                elif status is RunStatus.RUNNING and end_time is None:
                    values["end_time"] = None
            if end_time is not None:
                if end_time < start:
                    raise InvalidInput(
                        f"end_time {end_time} is before the run's start_time {start}; "
                        "send epoch milliseconds after the start",
                        field="end_time",
                    )
                values["end_time"] = end_time
            sql.update_run(conn, run_id, values)
            return sql.get_runs(conn, [run_id])[run_id]

    def delete_run(self, run_id: str) -> None:
        """Delete a run and everything recorded for it (artifact blobs stay: they may be shared).

        Child runs are kept and lose their parent. ``NotFound`` if the run does not exist.
        """
        with self._db.write() as conn:
            if not sql.delete_run(conn, run_id):
                raise _run_not_found(run_id)

    def log_params(self, run_id: str, params: dict[str, str]) -> None:
        """Record params; ``Conflict`` if a key already holds a different value.

        Params are write-once: logging the same value again is fine. The whole batch is
        refused when one key conflicts.
        """
        _check_values("param", params, MAX_PARAM_VALUE_LENGTH)
        with self._db.write() as conn:
            if not sql.run_exists(conn, run_id):
                raise _run_not_found(run_id)
            stored = sql.insert_params(conn, run_id, params)
            for key, value in sorted(params.items()):
                if stored.get(key) != value:
                    raise Conflict(
                        f"param {key!r} of run {run_id} is already {stored.get(key)!r} and "
                        f"cannot become {value!r}: params are write-once; log the new value "
                        "under another key or start a new run",
                        field=f"params.{key}",
                    )

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        """Set (or overwrite) tags."""
        _check_values("tag", tags, MAX_TAG_VALUE_LENGTH)
        with self._db.write() as conn:
            if not sql.run_exists(conn, run_id):
                raise _run_not_found(run_id)
            sql.upsert_tags(conn, run_id, tags)

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag; ``NotFound`` if the run or the tag is absent."""
        with self._db.write() as conn:
            if not sql.run_exists(conn, run_id):
                raise _run_not_found(run_id)
            if not sql.delete_tag(conn, run_id, key):
                raise NotFound(f"run {run_id} has no tag {key!r}", field="key")

    def log_metrics(self, run_id: str, points: Sequence[MetricPoint]) -> int:
        """Append points in one transaction; returns how many were committed.

        ``NotFound`` for an unknown run. Runs that already ended still accept points (as in
        MLflow: late evaluation results are common). NaN and infinities are stored as given.
        """
        # Keys repeat across a batch: check each distinct key once, name the first bad point.
        bad = {key for key in {p.key for p in points} if not _valid_key(key)}
        for i, point in enumerate(points):
            if point.key in bad:
                check_key("metric", point.key, f"metrics.{i}.key")
            if not 0 <= point.step <= MAX_STEP:
                raise InvalidInput(
                    f"metric step {point.step} is out of range 0..2**62", field=f"metrics.{i}.step"
                )
        if not points:
            if not self._exists(run_id):
                raise _run_not_found(run_id)
            return 0
        try:
            with self._db.write() as conn:
                if not sql.run_exists(conn, run_id):
                    raise _run_not_found(run_id)
                sql.insert_metrics(conn, run_id, points)
        except IntegrityError:
            # The run was deleted between the check and the insert (PostgreSQL).
            raise _run_not_found(run_id) from None
        return len(points)

    def _exists(self, run_id: str) -> bool:
        with self._db.read() as conn:
            return sql.run_exists(conn, run_id)

    def metric_history(
        self,
        run_id: str,
        key: str,
        offset: int = 0,
        limit: int = 10_000,
        max_points: int | None = None,
    ) -> list[MetricPoint]:
        """A metric's points ordered by (step, timestamp), optionally downsampled for charts.

        With ``max_points`` (at least 2), a longer series keeps its first and last points and
        evenly spaced ones between; ``offset``/``limit`` page over the result. ``NotFound`` for
        an unknown run; a key never logged gives no points.
        """
        if max_points is not None and max_points < 2:
            raise InvalidInput("max_points must be at least 2", field="max_points")
        with self._db.read() as conn:
            if not sql.run_exists(conn, run_id):
                raise _run_not_found(run_id)
            return sql.metric_history(conn, run_id, key, offset, limit, max_points)

    def search_runs(
        self,
        *,
        project: str = "default",
        experiments: Sequence[str] | None = None,
        filter: str = "",
        order_by: Sequence[str] = (),
        offset: int = 0,
        limit: int = 100,
    ) -> list[Run]:
        """Runs matching the filter, sorted; ``InvalidFilter`` on a bad filter.

        ``NotFound`` for an unknown project or experiment name. See ``podium.tracking.filters``
        for the language.
        """
        conditions = parse_filter(filter)
        order = parse_order_by(order_by)
        project_id = self._projects.by_name(project).id
        with self._db.read() as conn:
            experiment_ids: list[int] | None = None
            if experiments:
                found = sql.experiment_ids(conn, project_id, experiments)
                missing = [name for name in experiments if name not in found]
                if missing:
                    raise NotFound(
                        f"experiment {missing[0]!r} does not exist in project {project!r}; "
                        "list them with `GET /api/v1/experiments?project=" + project + "`",
                        field="experiments",
                    )
                experiment_ids = sorted(set(found.values()))
            return search_sql.search_runs(
                conn,
                project_id=project_id,
                experiment_ids=experiment_ids,
                conditions=conditions,
                order=order,
                offset=offset,
                limit=limit,
            )

    def compare_runs(self, run_ids: Sequence[str]) -> RunComparison:
        """Params and latest metrics of 2 to 50 runs side by side; ``NotFound`` naming a bad id.

        ``differing_params`` lists the keys whose values are not all equal (a param missing
        from some runs counts as differing).
        """
        ids = list(dict.fromkeys(run_ids))
        if not MIN_COMPARE <= len(ids) <= MAX_COMPARE:
            raise InvalidInput(
                f"compare {MIN_COMPARE} to {MAX_COMPARE} distinct runs; got {len(ids)}",
                field="run_ids",
            )
        with self._db.read() as conn:
            found = sql.get_runs(conn, ids)
        for run_id in ids:
            if run_id not in found:
                raise _run_not_found(run_id, field="run_ids")
        ordered = [found[run_id] for run_id in ids]
        param_keys = sorted({key for run in ordered for key in run.params})
        metric_keys = sorted({key for run in ordered for key in run.metrics})
        params = {key: {run.id: run.params.get(key) for run in ordered} for key in param_keys}
        metrics: dict[str, dict[str, float | None]] = {
            key: {
                run.id: (run.metrics[key].value if key in run.metrics else None) for run in ordered
            }
            for key in metric_keys
        }
        differing = [key for key in param_keys if len(set(params[key].values())) > 1]
        return RunComparison(
            runs=ordered, params=params, metrics=metrics, differing_params=differing
        )

    # artifacts
    def check_artifact_upload(self, run_id: str, path: str) -> None:
        """Fail early (``InvalidInput``/``NotFound``) before an upload's bytes are read."""
        check_artifact_path(path)
        if not self._exists(run_id):
            raise _run_not_found(run_id)

    def log_artifact(self, run_id: str, path: str, stream: IO[bytes]) -> Artifact:
        """Store a file under ``path`` in the run (streamed to the blob store).

        Logging the same path again points it at the new content. ``InvalidInput`` for an
        unsafe path, ``NotFound`` for an unknown run.
        """
        self.check_artifact_upload(run_id, path)
        # Streamed outside any transaction: a large upload must not hold a database lock.
        blob = self._blobs.put(stream)
        with self._db.write() as conn:
            if not sql.run_exists(conn, run_id):
                raise _run_not_found(run_id)
            return sql.upsert_artifact(conn, run_id, path, blob.sha256, blob.size)

    def list_artifacts(self, run_id: str) -> list[Artifact]:
        """The run's artifacts by path."""
        with self._db.read() as conn:
            if not sql.run_exists(conn, run_id):
                raise _run_not_found(run_id)
            return sql.list_artifacts(conn, run_id)

    def open_artifact(self, run_id: str, path: str) -> tuple[Artifact, Iterator[bytes]]:
        """The artifact and its content in chunks; ``NotFound``."""
        with self._db.read() as conn:
            if not sql.run_exists(conn, run_id):
                raise _run_not_found(run_id)
            artifact = sql.get_artifact(conn, run_id, path)
        if artifact is None:
            raise NotFound(
                f"run {run_id} has no artifact at {path!r}; list them with "
                f"GET /api/v1/runs/{run_id}/artifacts",
                field="path",
            )
        return artifact, self._blobs.open(artifact.sha256)
