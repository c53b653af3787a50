"""Use cases of experiment tracking. Raises ``podium.errors``; knows nothing of HTTP or the CLI."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import IO

from podium.access.service import ProjectService
from podium.store.blobs import BlobStore
from podium.store.engine import Database
from podium.tracking.models import (
    Artifact,
    Experiment,
    MetricPoint,
    Run,
    RunComparison,
    RunDetail,
)
from podium.tracking.schemas import RunStatus


class TrackingService:
    """Experiments, runs, params, tags, metric series and artifacts."""

    def __init__(self, db: Database, blobs: BlobStore, projects: ProjectService) -> None:
        self._db = db
        self._blobs = blobs
        self._projects = projects

    # experiments
    def create_experiment(self, project: str, name: str, description: str = "") -> Experiment:
        """Create an experiment (the project is created if missing); ``Conflict`` if taken."""
        raise NotImplementedError

    def get_experiment(self, experiment_id: int) -> Experiment:
        """The experiment; ``NotFound``."""
        raise NotImplementedError

    def list_experiments(self, project: str, offset: int = 0, limit: int = 100) -> list[Experiment]:
        """A project's experiments by name (``limit + 1`` rows fetched by callers paging)."""
        raise NotImplementedError

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
        """Start a run (status RUNNING)."""
        raise NotImplementedError

    def get_run(self, run_id: str) -> RunDetail:
        """The run with params, tags, latest metrics, artifacts and children; ``NotFound``."""
        raise NotImplementedError

    def update_run(
        self,
        run_id: str,
        *,
        status: RunStatus | None = None,
        end_time: int | None = None,
        name: str | None = None,
    ) -> Run:
        """End or rename a run."""
        raise NotImplementedError

    def delete_run(self, run_id: str) -> None:
        """Delete a run and everything logged to it."""
        raise NotImplementedError

    def log_params(self, run_id: str, params: dict[str, str]) -> None:
        """Record params; ``Conflict`` if a key already holds a different value."""
        raise NotImplementedError

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        """Set (or overwrite) tags."""
        raise NotImplementedError

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag; ``NotFound`` if absent."""
        raise NotImplementedError

    def log_metrics(self, run_id: str, points: Sequence[MetricPoint]) -> int:
        """Append points in one transaction; returns how many were committed."""
        raise NotImplementedError

    def metric_history(
        self, run_id: str, key: str, offset: int = 0, limit: int = 10_000
    ) -> list[MetricPoint]:
        """A metric's points ordered by (step, timestamp)."""
        raise NotImplementedError

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
        """Runs matching the filter, sorted; ``InvalidFilter`` on a bad filter."""
        raise NotImplementedError

    def compare_runs(self, run_ids: Sequence[str]) -> RunComparison:
        """Params and latest metrics of several runs side by side."""
        raise NotImplementedError

    # artifacts
    def log_artifact(self, run_id: str, path: str, stream: IO[bytes]) -> Artifact:
        """Store a file under ``path`` in the run (streamed to the blob store)."""
        raise NotImplementedError

    def list_artifacts(self, run_id: str) -> list[Artifact]:
        """The run's artifacts by path."""
        raise NotImplementedError

    def open_artifact(self, run_id: str, path: str) -> tuple[Artifact, Iterator[bytes]]:
        """The artifact and its content in chunks; ``NotFound``."""
        raise NotImplementedError
