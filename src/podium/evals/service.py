"""Use cases of the evals part: record experiments, their items, and compare two of them.

Suites run client-side and report here: ``start_experiment`` opens a tracking run (or resumes
the unfinished experiment of the same suite, target and dataset version), ``add_items`` stores
item results as they finish, ``finish`` computes the aggregates, logs them as the run's metrics
and ends the run. ``compare`` pairs the items two experiments share and runs the paired
bootstrap per scorer. Knows nothing of HTTP; raises ``podium.errors``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from podium.access.service import ProjectService, check_name
from podium.errors import Conflict, InvalidInput, NotFound
from podium.evals import sql
from podium.evals.models import (
    FINISHED,
    ORIGINAL,
    RUNNING,
    Comparison,
    Experiment,
    ItemChange,
    ItemResult,
    ScorerComparison,
)
from podium.evals.stats import paired_bootstrap
from podium.store.clock import now_ms
from podium.store.engine import Database
from podium.tracking.models import MetricPoint
from podium.tracking.schemas import RunStatus
from podium.tracking.service import TrackingService

# Score changes smaller than this count as unchanged (float noise from different runs).
EPSILON = 1e-9
MAX_CHANGED_ITEMS = 1000


class EvalService:
    """Experiments (tracking runs with per-item results), comparisons and the judge cache."""

    def __init__(self, db: Database, projects: ProjectService, tracking: TrackingService) -> None:
        self._db = db
        self._projects = projects
        self._tracking = tracking

    # -- experiments ------------------------------------------------------------------------

    def start_experiment(
        self,
        project: str,
        *,
        suite: str,
        target: str,
        target_hash: str,
        dataset: str,
        dataset_version: int,
        scorers: Mapping[str, bool],
        prompt: str | None = None,
        prompt_version: int | None = None,
        params: Mapping[str, str] | None = None,
        user: str | None = None,
    ) -> tuple[Experiment, bool]:
        """A new experiment, or the unfinished one of the same suite, target and dataset version
        (``True`` as second value: the caller skips the items it already holds)."""
        check_name("suite", suite)
        if not scorers:
            raise InvalidInput("a suite needs at least one scorer", field="scorers")
        project_id = self._projects.ensure(project).id
        with self._db.read() as conn:
            running = sql.find_running(
                conn, project_id, suite, target_hash, dataset, dataset_version
            )
            if running is not None:
                found = sql.get_experiment(conn, running)
                if found is not None and found.scorers == dict(scorers):
                    return found, True
        run_params = {
            "suite": suite,
            "target": target,
            "target_hash": target_hash,
            "dataset": dataset,
            "dataset_version": str(dataset_version),
            **({"prompt": prompt, "prompt_version": str(prompt_version)} if prompt else {}),
            **(params or {}),
        }
        run = self._tracking.create_run(
            project=project,
            experiment=f"eval-{suite}",
            name=target[:200],
            user=user,
            params=run_params,
            tags={"podium.kind": "eval", "podium.eval.suite": suite},
        )
        with self._db.write() as conn:
            sql.insert_experiment(
                conn,
                project_id,
                {
                    "run_id": run.id,
                    "suite": suite,
                    "target": target,
                    "target_hash": target_hash,
                    "dataset": dataset,
                    "dataset_version": dataset_version,
                    "prompt": prompt,
                    "prompt_version": prompt_version,
                    "scorers": dict(scorers),
                    "status": RUNNING,
                    "label": None,
                    "created_at": now_ms(),
                    "finished_at": None,
                    "metrics": {},
                    "summary": {},
                },
            )
            created = sql.get_experiment(conn, run.id)
        assert created is not None
        return created, False

    def get_experiment(self, project: str, experiment_id: str) -> Experiment:
        """The experiment; ``NotFound`` when it does not exist in ``project``."""
        with self._db.read() as conn:
            found = sql.get_experiment(conn, experiment_id)
        if found is None or found.project != project:
            raise NotFound(
                f"eval experiment {experiment_id!r} does not exist in project {project!r}; "
                "list them with: podium eval list",
                field="experiment_id",
            )
        return found

    def list_experiments(
        self,
        project: str,
        *,
        suite: str | None = None,
        label: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> list[Experiment]:
        """The project's experiments, newest first (of one suite / with one label if given)."""
        project_id = self._projects.by_name(project).id
        with self._db.read() as conn:
            return sql.list_experiments(
                conn, project_id, suite=suite, label=label, offset=offset, limit=limit
            )

    def resolve(self, project: str, ref: str, suite: str | None = None) -> Experiment:
        """An experiment by id, or by label (``production``: the newest experiment with that
        label, of ``suite`` when given); ``NotFound`` naming how to set the label."""
        with self._db.read() as conn:
            found = sql.get_experiment(conn, ref)
        if found is not None and found.project == project:
            return found
        try:
            labelled = self.list_experiments(project, suite=suite, label=ref, limit=1)
        except NotFound:  # no such project: the message below says what to do
            labelled = []
        if labelled:
            return labelled[0]
        of_suite = f" of suite {suite!r}" if suite else ""
        raise NotFound(
            f"no eval experiment {ref!r}{of_suite} in project {project!r}: give an experiment id, "
            f"or label one with: podium eval label <experiment-id> {ref}",
            field="baseline",
        )

    def set_label(self, project: str, experiment_id: str, label: str) -> Experiment:
        """Give the experiment ``label`` (e.g. ``production``), taking it off the suite's others."""
        check_name("label", label)
        found = self.get_experiment(project, experiment_id)
        project_id = self._projects.by_name(project).id
        with self._db.write() as conn:
            sql.clear_label(conn, project_id, found.suite, label)
            sql.update_experiment(conn, experiment_id, label=label)
        self._tracking.set_tags(experiment_id, {"podium.eval.label": label})
        return self.get_experiment(project, experiment_id)

    # -- items ------------------------------------------------------------------------------

    def add_items(self, project: str, experiment_id: str, items: Sequence[ItemResult]) -> int:
        """Store item results; an item already present is overwritten (a resumed run completing
        it). ``Conflict`` once the experiment is finished. Returns how many were stored."""
        found = self.get_experiment(project, experiment_id)
        if found.status != RUNNING:
            raise Conflict(
                f"eval experiment {experiment_id} is finished; run the suite again to start a "
                "new one",
                field="experiment_id",
            )
        unique = {item.key: item for item in items}
        with self._db.write() as conn:
            present = sql.item_keys(conn, experiment_id, list(unique))
            sql.insert_items(
                conn, experiment_id, [i for k, i in unique.items() if k not in present]
            )
            for key in present:
                sql.replace_item(conn, experiment_id, unique[key])
        return len(unique)

    def list_items(
        self, project: str, experiment_id: str, offset: int = 0, limit: int | None = None
    ) -> list[ItemResult]:
        """The experiment's item results in dataset order."""
        self.get_experiment(project, experiment_id)
        with self._db.read() as conn:
            return sql.list_items(conn, experiment_id, offset, limit)

    def finish(
        self, project: str, experiment_id: str, aggregates: Mapping[str, Any] | None = None
    ) -> Experiment:
        """Compute the aggregates, log them as the run's metrics and end the run.

        Metrics: each scorer's mean over the original items, ``error_rate``, and the numbers
        of ``aggregates`` (what aggregate scorers computed client-side) flattened to
        ``scorer.metric``. The summary adds per-group means and their disparity for probes.
        """
        found = self.get_experiment(project, experiment_id)
        items = self.list_items(project, experiment_id)
        originals = [i for i in items if i.variant == ORIGINAL]
        means = {name: _mean(i.scores.get(name) for i in originals) for name in found.scorers}
        metrics = {k: v for k, v in means.items() if v is not None}
        metrics["error_rate"] = sum(i.error is not None for i in originals) / (len(originals) or 1)
        for scorer, values in (aggregates or {}).items():
            if isinstance(values, Mapping):
                for key, value in values.items():
                    if isinstance(value, int | float) and not isinstance(value, bool):
                        metrics[f"{scorer}.{key}"] = float(value)
        summary = {
            "items": len(originals),
            "errors": sum(i.error is not None for i in originals),
            "aggregates": dict(aggregates or {}),
            **_probe_summary(items, list(found.scorers)),
        }
        at = now_ms()
        clean = {k: v for k, v in metrics.items() if math.isfinite(v)}
        self._tracking.log_metrics(
            experiment_id, [MetricPoint(k, v, 0, at) for k, v in sorted(clean.items())]
        )
        with self._db.write() as conn:
            sql.update_experiment(
                conn,
                experiment_id,
                status=FINISHED,
                finished_at=at,
                metrics=clean,
                summary=summary,
            )
        self._tracking.update_run(experiment_id, status=RunStatus.FINISHED, end_time=at)
        return self.get_experiment(project, experiment_id)

    # -- comparison -------------------------------------------------------------------------

    def compare(
        self,
        project: str,
        base_id: str,
        candidate_id: str,
        *,
        resamples: int = 2000,
        seed: int = 0,
    ) -> Comparison:
        """Pair the original items both experiments graded; per scorer the mean delta
        (candidate - base), its paired-bootstrap 95% CI, the verdict and per-item changes."""
        base = self.resolve(project, base_id)
        candidate = self.resolve(project, candidate_id)
        base_items = {i.key: i for i in self.list_items(project, base.id) if i.variant == ORIGINAL}
        cand_items = [
            i
            for i in self.list_items(project, candidate.id)
            if i.variant == ORIGINAL and i.key in base_items
        ]
        shared = [s for s in candidate.scorers if s in base.scorers]
        results = []
        for scorer in shared:
            higher = candidate.scorers[scorer]
            pairs = [
                (base_items[i.key], i)
                for i in cand_items
                if scorer in base_items[i.key].scores and scorer in i.scores
            ]
            b = [p[0].scores[scorer] for p in pairs]
            c = [p[1].scores[scorer] for p in pairs]
            interval = paired_bootstrap(
                b, c, higher_is_better=higher, resamples=resamples, seed=seed
            )
            changes = [
                ItemChange(
                    new.key,
                    new.input,
                    old.scores[scorer],
                    new.scores[scorer],
                    _change(old.scores[scorer], new.scores[scorer], higher),
                )
                for old, new in pairs
            ]
            counts = defaultdict(int, {"improved": 0, "regressed": 0, "unchanged": 0})
            for change in changes:
                counts[change.change] += 1
            results.append(
                ScorerComparison(
                    scorer=scorer,
                    higher_is_better=higher,
                    base_mean=_mean(b) or 0.0,
                    candidate_mean=_mean(c) or 0.0,
                    delta=interval.delta,
                    ci_low=interval.low,
                    ci_high=interval.high,
                    verdict=interval.verdict,
                    improved=counts["improved"],
                    regressed=counts["regressed"],
                    unchanged=counts["unchanged"],
                    # The items that moved come first: they are what a reviewer reads.
                    items=sorted(changes, key=lambda x: x.change == "unchanged")[
                        :MAX_CHANGED_ITEMS
                    ],
                )
            )
        return Comparison(base, candidate, len(cand_items), results)

    # -- judge cache ------------------------------------------------------------------------

    def judge_answer(self, project: str, request_hash: str) -> str:
        """The cached judge answer; ``NotFound`` when the request was never answered."""
        project_id = self._projects.by_name(project).id
        with self._db.read() as conn:
            found = sql.get_judge_answer(conn, project_id, request_hash)
        if found is None:
            raise NotFound(f"no cached judge answer {request_hash}", field="request_hash")
        return found

    def put_judge_answer(self, project: str, request_hash: str, answer: str) -> None:
        """Keep a judge answer under its request hash (the first answer stored wins)."""
        project_id = self._projects.ensure(project).id
        with self._db.write() as conn:
            sql.put_judge_answer(conn, project_id, request_hash, answer, now_ms())


def _mean(values: Any) -> float | None:
    present = [float(v) for v in values if v is not None]
    return sum(present) / len(present) if present else None


def _change(base: float, candidate: float, higher_is_better: bool) -> str:
    delta = candidate - base if higher_is_better else base - candidate
    if delta > EPSILON:
        return "improved"
    if delta < -EPSILON:
        return "regressed"
    return "unchanged"


def _probe_summary(items: Sequence[ItemResult], scorers: list[str]) -> dict[str, Any]:
    """Per probe group, each scorer's mean; per scorer the disparity (max - min group mean).

    Groups are the probe variants' groups (e.g. ``gender:female``) plus ``original``; nothing
    is reported when the suite ran no probes."""
    if all(i.variant == ORIGINAL for i in items):
        return {}
    by_group: dict[str, list[ItemResult]] = defaultdict(list)
    for item in items:
        by_group[item.group or item.variant].append(item)
    groups = {
        group: {s: m for s in scorers if (m := _mean(i.scores.get(s) for i in members)) is not None}
        for group, members in sorted(by_group.items())
    }
    disparity = {}
    for scorer in scorers:
        means = [g[scorer] for g in groups.values() if scorer in g]
        if len(means) > 1:
            disparity[scorer] = max(means) - min(means)
    return {"groups": groups, "disparity": disparity}
