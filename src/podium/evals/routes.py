"""REST routes of the evals part: ``/api/v1/evals``.

Suites run client-side (``podium eval run`` or ``podium.evals.run_suite``) and report here:

- ``POST /evals/experiments`` opens an experiment (a tracking run) or resumes the unfinished one
  of the same suite, target and dataset version; ``POST …/{eval_id}/items`` stores item results
  in batches; ``POST …/{eval_id}/finish`` computes aggregates and ends the run.
- ``GET /evals/experiments`` (``suite=``, ``label=``), ``GET …/{eval_id}`` and its ``/items``.
- ``PUT …/{eval_id}/label`` marks an experiment (``production``: the baseline CI gates use).
- ``GET /evals/compare?base=…&candidate=…`` per-scorer deltas with paired-bootstrap CIs.
- ``GET|PUT /evals/judge-cache/{request_hash}``: judge answers cached by request hash.

Experiments are addressed by id (the run id) inside the project given as the ``project`` query
parameter. Permissions: ``evals:read`` to look, ``evals:write`` to report results,
``evals:label`` (admin) to move a label such as ``production``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status

from podium.access.authz import Permission, from_body, from_query
from podium.access.models import DEFAULT_PROJECT
from podium.evals.models import Comparison, Experiment, ItemResult
from podium.evals.schemas import (
    HASH,
    NAME,
    ComparisonPublic,
    ExperimentPublic,
    ExperimentStart,
    ExperimentStarted,
    FinishBody,
    ItemPublic,
    ItemsAdd,
    ItemsStored,
    JudgeAnswer,
    LabelBody,
)
from podium.evals.service import EvalService
from podium.wire import Page, page_of

ProjectParam = Annotated[
    str, Query(min_length=1, max_length=200, description="Project that owns the experiment.")
]
EvalId = Annotated[
    str, Path(min_length=1, max_length=64, description="Experiment id (its tracking run id).")
]
Ref = Annotated[str, Query(min_length=1, max_length=200, description="Experiment id or label.")]
Offset = Annotated[
    int, Query(ge=0, le=1_000_000_000, description="Items to skip; pass back next_offset.")
]
Limit = Annotated[int, Query(ge=1, le=1000, description="Largest page size.")]


def experiment_public(found: Experiment) -> ExperimentPublic:
    """The wire form of an experiment."""
    return ExperimentPublic.model_validate(found, from_attributes=True)


def comparison_public(found: Comparison) -> ComparisonPublic:
    """The wire form of a comparison."""
    return ComparisonPublic.model_validate(found, from_attributes=True)


def build_router(evals: EvalService) -> APIRouter:
    """The evals router, bound to its service."""
    router = APIRouter(prefix="/evals", tags=["evals"])
    read = [Depends(Permission("evals", "read", project=from_query()))]
    write = [Depends(Permission("evals", "write", project=from_query()))]
    label = [Depends(Permission("evals", "label", project=from_query()))]
    create = [Depends(Permission("evals", "write", project=from_body()))]

    @router.post(
        "/experiments",
        status_code=status.HTTP_201_CREATED,
        response_model=ExperimentStarted,
        responses={200: {"model": ExperimentStarted, "description": "Resumed an experiment."}},
        dependencies=create,
    )
    def start_experiment(body: ExperimentStart, response: Response) -> ExperimentStarted:
        """Open an experiment: 201, or 200 with ``resumed: true`` for an unfinished one."""
        found, resumed = evals.start_experiment(
            body.project,
            suite=body.suite,
            target=body.target,
            target_hash=body.target_hash,
            dataset=body.dataset,
            dataset_version=body.dataset_version,
            scorers=body.scorers,
            prompt=body.prompt,
            prompt_version=body.prompt_version,
            params=body.params,
        )
        response.status_code = status.HTTP_200_OK if resumed else status.HTTP_201_CREATED
        return ExperimentStarted(experiment=experiment_public(found), resumed=resumed)

    @router.get("/experiments", response_model=Page[ExperimentPublic], dependencies=read)
    def list_experiments(
        project: ProjectParam = DEFAULT_PROJECT,
        suite: Annotated[str | None, Query(pattern=NAME)] = None,
        label: Annotated[str | None, Query(pattern=NAME, max_length=64)] = None,
        offset: Offset = 0,
        limit: Limit = 100,
    ) -> Page[ExperimentPublic]:
        """The project's experiments, newest first."""
        found = evals.list_experiments(
            project, suite=suite, label=label, offset=offset, limit=limit + 1
        )
        return page_of([experiment_public(e) for e in found], offset, limit)

    @router.get("/experiments/{eval_id}", response_model=ExperimentPublic, dependencies=read)
    def get_experiment(
        eval_id: EvalId, project: ProjectParam = DEFAULT_PROJECT
    ) -> ExperimentPublic:
        """One experiment with its aggregates."""
        return experiment_public(evals.get_experiment(project, eval_id))

    @router.get("/experiments/{eval_id}/items", response_model=Page[ItemPublic], dependencies=read)
    def list_items(
        eval_id: EvalId,
        project: ProjectParam = DEFAULT_PROJECT,
        offset: Offset = 0,
        limit: Limit = 100,
    ) -> Page[ItemPublic]:
        """The experiment's item results in dataset order."""
        found = evals.list_items(project, eval_id, offset, limit + 1)
        items = [ItemPublic.model_validate(i, from_attributes=True) for i in found]
        return page_of(items, offset, limit)

    @router.post("/experiments/{eval_id}/items", response_model=ItemsStored, dependencies=write)
    def add_items(
        eval_id: EvalId, body: ItemsAdd, project: ProjectParam = DEFAULT_PROJECT
    ) -> ItemsStored:
        """Store a batch of item results (an item already stored is overwritten)."""
        items = [ItemResult(**i.model_dump()) for i in body.items]
        return ItemsStored(stored=evals.add_items(project, eval_id, items))

    @router.post(
        "/experiments/{eval_id}/finish", response_model=ExperimentPublic, dependencies=write
    )
    def finish(
        eval_id: EvalId, body: FinishBody, project: ProjectParam = DEFAULT_PROJECT
    ) -> ExperimentPublic:
        """Compute the aggregates, log them as the run's metrics and end the run."""
        return experiment_public(evals.finish(project, eval_id, body.aggregates))

    @router.put("/experiments/{eval_id}/label", response_model=ExperimentPublic, dependencies=label)
    def set_label(
        eval_id: EvalId, body: LabelBody, project: ProjectParam = DEFAULT_PROJECT
    ) -> ExperimentPublic:
        """Label the experiment (e.g. ``production``); the suite's previous holder loses it."""
        return experiment_public(evals.set_label(project, eval_id, body.label))

    @router.get("/compare", response_model=ComparisonPublic, dependencies=read)
    def compare(
        base: Ref,
        candidate: Ref,
        project: ProjectParam = DEFAULT_PROJECT,
        resamples: Annotated[int, Query(ge=100, le=20_000)] = 2000,
        seed: Annotated[int, Query(ge=0, le=2**32 - 1)] = 0,
    ) -> ComparisonPublic:
        """Compare two experiments (ids or labels) item by item, with paired-bootstrap CIs."""
        found = evals.compare(project, base, candidate, resamples=resamples, seed=seed)
        return comparison_public(found)

    @router.get("/judge-cache/{request_hash}", response_model=JudgeAnswer, dependencies=read)
    def get_judge_answer(
        request_hash: Annotated[str, Path(pattern=HASH)],
        project: ProjectParam = DEFAULT_PROJECT,
    ) -> JudgeAnswer:
        """A cached judge answer; 404 when the request was never answered."""
        return JudgeAnswer(answer=evals.judge_answer(project, request_hash))

    @router.put(
        "/judge-cache/{request_hash}",
        status_code=status.HTTP_204_NO_CONTENT,
        dependencies=write,
    )
    def put_judge_answer(
        request_hash: Annotated[str, Path(pattern=HASH)],
        body: JudgeAnswer,
        project: ProjectParam = DEFAULT_PROJECT,
    ) -> Response:
        """Keep a judge answer (the first one stored for a hash wins)."""
        evals.put_judge_answer(project, request_hash, body.answer)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router
