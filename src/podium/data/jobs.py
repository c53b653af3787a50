"""Background pipeline jobs: an in-memory registry of ``CleanJob``s and the threads that run them.

``POST /datasets/{name}/clean?wait=false`` starts the quality pipeline in a thread of the server
process and answers at once with the job; ``GET /datasets/jobs/{id}`` reads its progress (the
state of every step, with its rows in and out) and, at the end, the new version and the step
reports, or the error. Jobs live in this process's memory only: a restarted server forgets them
(the versions they created stay), and with several server replicas a job is visible only on the
replica that runs it. The newest ``MAX_JOBS`` are kept.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from podium.data.models import CleanJob, DatasetVersion, StepProgress
from podium.data.steps.base import StepReport
from podium.errors import NotFound, PodiumError

MAX_JOBS = 1000
log = logging.getLogger(__name__)


class JobProgress:
    """What a running pipeline tells its job: a step started, or finished with its report."""

    def __init__(self, registry: JobRegistry, job_id: str) -> None:
        self._registry = registry
        self._id = job_id

    def started(self, index: int, rows_in: int) -> None:
        """Step ``index`` started on ``rows_in`` rows."""
        self._registry.update_step(self._id, index, StepProgress("", "running", rows_in, None, 0))

    def rows(self, index: int, done: int) -> None:
        """Step ``index`` has done ``done`` of its rows."""
        self._registry.update_rows(self._id, index, done)

    def finished(self, index: int, report: StepReport) -> None:
        """Step ``index`` finished."""
        self._registry.update_step(
            self._id,
            index,
            StepProgress("", "done", report.rows_in, report.rows_out, report.rows_in),
        )


Work = Callable[[JobProgress], tuple[DatasetVersion, list[StepReport]]]


class JobRegistry:
    """The process's pipeline jobs, newest last; thread-safe."""

    def __init__(self, max_jobs: int = MAX_JOBS) -> None:
        self._jobs: OrderedDict[str, CleanJob] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_jobs

    def start(
        self,
        *,
        project: str,
        dataset: str,
        source_version: int,
        steps: list[str],
        actor: str | None,
        work: Work,
    ) -> CleanJob:
        """Record a new running job and run ``work`` in a daemon thread; the job as started."""
        job = CleanJob(
            id=secrets.token_hex(16),
            project=project,
            dataset=dataset,
            source_version=source_version,
            state="running",
            steps=[StepProgress(name) for name in steps],
            created_at=datetime.now(UTC),
            created_by=actor,
        )
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > self._max:
                self._jobs.popitem(last=False)
        thread = threading.Thread(
            target=self._run, args=(job.id, work), name=f"podium-clean-{job.id[:8]}", daemon=True
        )
        thread.start()
        return job

    def get(self, job_id: str) -> CleanJob:
        """The job's current state; ``NotFound`` for an unknown (or forgotten) id."""
        with self._lock:
            found = self._jobs.get(job_id)
        if found is None:
            raise NotFound(
                f"pipeline job {job_id!r} does not exist; jobs are kept in the server's memory "
                "and forgotten on restart (the versions they made stay: `podium data show`)",
                field="job_id",
            )
        return found

    def update_step(self, job_id: str, index: int, progress: StepProgress) -> None:
        """Set the state and row counts of step ``index`` of a job (its name is kept)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return
            steps = list(job.steps)
            steps[index] = replace(progress, name=steps[index].name)
            self._jobs[job_id] = replace(job, steps=steps)

    def update_rows(self, job_id: str, index: int, done: int) -> None:
        """Set the rows done of step ``index`` of a job."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                return
            steps = list(job.steps)
            steps[index] = replace(steps[index], rows_done=done)
            self._jobs[job_id] = replace(job, steps=steps)

    def _finish(self, job_id: str, done: Callable[[CleanJob], CleanJob]) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                self._jobs[job_id] = done(replace(job, finished_at=datetime.now(UTC)))

    def _run(self, job_id: str, work: Work) -> None:
        try:
            version, reports = work(JobProgress(self, job_id))
        except PodiumError as exc:
            error, status = exc.message, exc.status
            self._finish(
                job_id, lambda j: replace(j, state="failed", error=error, error_status=status)
            )
        except Exception:  # the thread must record every failure, never die silently
            log.exception("pipeline job %s failed", job_id)
            internal = "the pipeline failed with an internal error; see the server log"
            self._finish(
                job_id, lambda j: replace(j, state="failed", error=internal, error_status=500)
            )
        else:
            self._finish(
                job_id, lambda j: replace(j, state="succeeded", result=version, reports=reports)
            )
