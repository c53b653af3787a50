"""Web pages of the evals part: the experiment list, one experiment (aggregates, probe groups,
items) and the comparison of two experiments with a chart of each scorer's delta and its
confidence interval (uPlot, vendored) and the per-item changes.

Every page needs only ``evals:read``; they are GET pages with no forms that change anything.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from podium.access.authz import Permission, from_query
from podium.access.models import DEFAULT_PROJECT
from podium.errors import NotFound, PodiumError
from podium.evals.service import EvalService
from podium.pages import int_param, part_error_page

PAGE_SIZE = 50
ITEMS_SHOWN = 200


def build_router(service: EvalService, templates: Jinja2Templates) -> APIRouter:
    """The eval pages, bound to ``service`` and the shared ``templates``."""
    read = Permission("evals", "read", project=from_query())
    router = APIRouter(include_in_schema=False, dependencies=[Depends(read)])

    error = part_error_page(templates, "/evals", "Back to the eval experiments")

    @router.get("/evals", response_class=HTMLResponse)
    def experiments_page(request: Request) -> HTMLResponse:
        project = request.query_params.get("project") or DEFAULT_PROJECT
        offset = int_param(request.query_params.get("offset"), 0)
        try:
            found = service.list_experiments(project, offset=offset, limit=PAGE_SIZE + 1)
        except NotFound:
            found = []
        except PodiumError as exc:
            return error(request, exc, project)
        context = {
            "project": project,
            "experiments": found[:PAGE_SIZE],
            "offset": offset,
            "next_url": "/evals?" + urlencode({"project": project, "offset": offset + PAGE_SIZE})
            if len(found) > PAGE_SIZE
            else None,
        }
        return templates.TemplateResponse(request, "evals/experiments.html", context)

    @router.get("/evals/compare", response_class=HTMLResponse)
    def compare_page(request: Request) -> HTMLResponse:
        project = request.query_params.get("project") or DEFAULT_PROJECT
        base = (request.query_params.get("base") or "").strip()
        candidate = (request.query_params.get("candidate") or "").strip()
        try:
            if not base or not candidate:
                raise NotFound(
                    "pick two experiments to compare: /evals/compare?base=ID&candidate=ID",
                    field="base",
                )
            comparison = service.compare(project, base, candidate)
        except PodiumError as exc:
            return error(request, exc, project)
        chart = [
            {"scorer": s.scorer, "delta": s.delta, "low": s.ci_low, "high": s.ci_high}
            for s in comparison.scorers
        ]
        context = {"project": project, "comparison": comparison, "chart": chart}
        return templates.TemplateResponse(request, "evals/compare.html", context)

    @router.get("/evals/{eval_id}", response_class=HTMLResponse)
    def experiment_page(request: Request, eval_id: str) -> HTMLResponse:
        project = request.query_params.get("project") or DEFAULT_PROJECT
        try:
            experiment = service.get_experiment(project, eval_id)
            items = service.list_items(project, eval_id, 0, ITEMS_SHOWN)
        except PodiumError as exc:
            return error(request, exc, project)
        context = {"project": project, "experiment": experiment, "items": items}
        return templates.TemplateResponse(request, "evals/experiment.html", context)

    return router
