"""Web pages of experiment tracking: the runs table, a run's page, and runs compared.

Routes here render ``templates/tracking/*.html`` from what ``TrackingService`` returns; they
read the query string leniently (a bad ``offset`` falls back to the first page) because a
person typed it, and turn a user's mistake (a filter that does not parse, an unknown run) into
a page that says what to fix, never a 500. Metric series are sent with the page as JSON and
drawn by ``static/podium.js`` with uPlot; long series are thinned to ``CHART_POINTS`` points.
Sortable column headers name their field in the search language (``metrics.eval/loss``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from podium.access.authz import Permission, from_query, from_query_list
from podium.access.models import DEFAULT_PROJECT
from podium.errors import InvalidInput, NotFound, PodiumError
from podium.pages import error_page
from podium.tracking.filters import Field, FieldKind
from podium.tracking.models import Experiment, Run, RunDetail
from podium.tracking.service import TrackingService

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
# Columns of the runs table: at most this many param and metric keys (the rest are on the
# run's page), so a run with hundreds of params keeps the table readable.
MAX_KEY_COLUMNS = 8
# Points drawn per series: longer series are thinned by the service (first, last, evenly
# spaced between).
CHART_POINTS = 1000
MAX_CHILD_RUNS = 100

ChartData = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class SortState:
    """The ``order_by`` the table is sorted by, parsed into the column and its direction."""

    column: str
    descending: bool

    @property
    def clause(self) -> str:
        """The ``order_by`` clause for the service."""
        return f"{self.column} {'DESC' if self.descending else 'ASC'}"


def build_router(service: TrackingService, templates: Jinja2Templates) -> APIRouter:
    """The tracking pages, bound to ``service`` and the shared ``templates``."""
    router = APIRouter(include_in_schema=False)

    async def run_project(request: Request) -> str | None:
        # An unknown run falls through to the page's own friendly 404.
        try:
            return await run_in_threadpool(service.project_of_run, request.path_params["run_id"])
        except NotFound:
            return None

    read_query = Depends(Permission("tracking", "read", project=from_query()))
    compare = Permission(
        "tracking", "read", project=from_query_list("run_ids", service.project_of_run)
    )

    @router.get("/runs", response_class=HTMLResponse, dependencies=[read_query])
    def runs_page(request: Request) -> HTMLResponse:
        query = request.query_params
        project = query.get("project") or DEFAULT_PROJECT
        experiment = query.get("experiment") or ""
        filter_text = query.get("filter") or ""
        sort = _parse_sort(query.get("order_by") or "")
        offset = _int_param(query, "offset", 0, lo=0, hi=10**9)
        limit = _int_param(query, "limit", PAGE_SIZE, lo=1, hi=MAX_PAGE_SIZE)

        experiments: list[Experiment] = []
        runs: list[Run] = []
        search_error: PodiumError | None = None
        missing_project = False
        try:
            experiments = service.list_experiments(project, limit=1000)
        except NotFound:
            missing_project = True
        else:
            try:
                runs = service.search_runs(
                    project=project,
                    experiments=[experiment] if experiment else None,
                    filter=filter_text,
                    order_by=[sort.clause] if sort else [],
                    offset=offset,
                    limit=limit + 1,
                )
            except PodiumError as error:
                # A typo in the filter box (InvalidFilter), a bad sort or an unknown experiment:
                # shown above the table, with the form still holding what the user typed.
                if error.status >= 500:
                    raise
                search_error = error

        has_next = len(runs) > limit
        runs = runs[:limit]
        param_keys = _varying_keys([r.params for r in runs])

        def url(**changes: str | int | None) -> str:
            return _url_with("/runs", query, changes)

        context = {
            "project": project,
            "experiments": experiments,
            "experiment": experiment,
            # One experiment (or one picked): its name on every row would be noise.
            "show_experiment": not experiment and len(experiments) > 1,
            "filter_text": filter_text,
            "search_error": search_error,
            "missing_project": missing_project,
            "runs": runs,
            "param_keys": param_keys,
            "hidden_params": len({k for r in runs for k in r.params}) - len(param_keys),
            "metric_keys": _keys([r.metrics for r in runs]),
            "sort": sort,
            "offset": offset,
            "limit": limit,
            "has_next": has_next,
            "url": url,
            "sort_url": lambda column: url(order_by=_next_sort(sort, column).clause, offset=None),
            "param_field": lambda key: str(Field(FieldKind.PARAM, key)),
            "metric_field": lambda key: str(Field(FieldKind.METRIC, key)),
        }
        return templates.TemplateResponse(request, "tracking/runs.html", context)

    # Declared before /runs/{run_id} so "compare" is not taken for a run id.
    @router.get("/runs/compare", response_class=HTMLResponse, dependencies=[Depends(compare)])
    def compare_page(request: Request) -> HTMLResponse:
        run_ids = list(dict.fromkeys(i for i in request.query_params.getlist("run_ids") if i))
        project = request.query_params.get("project") or DEFAULT_PROJECT
        if len(run_ids) < 2:
            return error_page(
                templates,
                request,
                InvalidInput(
                    "Pick two or more runs to compare: tick them in the runs table and press "
                    "Compare (the URL takes ?run_ids=A&run_ids=B).",
                    field="run_ids",
                ),
                project=project,
                back_url=_runs_url(project),
                back_label="Back to the runs",
            )
        try:
            comparison = service.compare_runs(run_ids)
            labels = _labels(comparison.runs)
            keys = sorted({k for r in comparison.runs for k in r.metrics})
            chart_data: ChartData = {
                key: [
                    _series(service, run.id, key, labels[run.id])
                    for run in comparison.runs
                    if key in run.metrics
                ]
                for key in keys
            }
        except PodiumError as error:
            if error.status >= 500:
                raise
            return error_page(
                templates,
                request,
                error,
                project=project,
                back_url=_runs_url(project),
                back_label="Back to the runs",
            )
        runs_project = comparison.runs[0].project if comparison.runs else project
        context = {
            "project": runs_project,
            "comparison": comparison,
            "labels": labels,
            "param_keys": sorted(comparison.params),
            "metric_keys": sorted(comparison.metrics),
            "differing": set(comparison.differing_params),
            "chart_keys": keys,
            "chart_data": chart_data,
        }
        return templates.TemplateResponse(request, "tracking/compare.html", context)

    @router.get(
        "/runs/{run_id}",
        response_class=HTMLResponse,
        dependencies=[Depends(Permission("tracking", "read", project=run_project))],
    )
    def run_page(request: Request, run_id: str) -> HTMLResponse:
        project = request.query_params.get("project") or DEFAULT_PROJECT
        try:
            run = service.get_run(run_id)
        except NotFound:
            return error_page(
                templates,
                request,
                NotFound(
                    f"There is no run with id {run_id!r}. It may have been deleted, or the link "
                    "is mistyped; the runs table lists every run of a project."
                ),
                project=project,
                back_url=_runs_url(project),
                back_label="Back to the runs",
            )
        parent = _find_run(service, run.parent_run_id) if run.parent_run_id else None
        children = [
            child
            for child in (_find_run(service, i) for i in run.child_run_ids[:MAX_CHILD_RUNS])
            if child is not None
        ]
        keys = sorted(run.metrics)
        chart_data: ChartData = {key: [_series(service, run.id, key, run.name)] for key in keys}
        context = {
            "project": run.project,
            "run": run,
            "parent": parent,
            "children": children,
            "more_children": max(0, len(run.child_run_ids) - MAX_CHILD_RUNS),
            "chart_keys": keys,
            "chart_data": chart_data,
            "artifact_url": lambda path: (
                f"/api/v1/runs/{run.id}/artifacts/content?{urlencode({'path': path})}"
            ),
        }
        return templates.TemplateResponse(request, "tracking/run.html", context)

    return router


def _runs_url(project: str) -> str:
    """The runs table of ``project``."""
    return f"/runs?{urlencode({'project': project})}"


def _find_run(service: TrackingService, run_id: str) -> RunDetail | None:
    """The run, or None if it is gone (a parent deleted after its child was logged)."""
    try:
        return service.get_run(run_id)
    except NotFound:
        return None


def _series(service: TrackingService, run_id: str, key: str, label: str) -> dict[str, Any]:
    """One chart series: the metric's steps and values, thinned to ``CHART_POINTS`` points.

    Non-finite values become ``null`` (JSON has no NaN; uPlot draws a gap there).
    """
    points = service.metric_history(run_id, key, limit=CHART_POINTS, max_points=CHART_POINTS)
    return {
        "label": label,
        "run_id": run_id,
        "steps": [p.step for p in points],
        "values": [p.value if math.isfinite(p.value) else None for p in points],
    }


def _labels(runs: Sequence[Run]) -> dict[str, str]:
    """A legend label per run: its name, with the id's start added where names repeat."""
    counts: dict[str, int] = {}
    for run in runs:
        counts[run.name] = counts.get(run.name, 0) + 1
    return {r.id: r.name if counts[r.name] == 1 else f"{r.name} ({r.id[:8]})" for r in runs}


def _keys(maps: Sequence[Mapping[str, object]]) -> list[str]:
    """The keys appearing in any of ``maps``, sorted, at most ``MAX_KEY_COLUMNS``."""
    return sorted({k for m in maps for k in m})[:MAX_KEY_COLUMNS]


def _varying_keys(maps: Sequence[Mapping[str, str]]) -> list[str]:
    """The param columns worth showing: keys whose value differs between the runs listed.

    A param every run shares (the base model) says nothing in a table; with a single run, or
    when nothing varies, every key is shown. At most ``MAX_KEY_COLUMNS``.
    """
    values: dict[str, set[str]] = {}
    for params in maps:
        for key, value in params.items():
            values.setdefault(key, set()).add(value)
    varying = sorted(k for k, seen in values.items() if len(seen) > 1)
    return (varying or sorted(values))[:MAX_KEY_COLUMNS]


def _parse_sort(raw: str) -> SortState | None:
    """``"metrics.loss DESC"`` -> SortState; anything else is passed on for the service to judge."""
    text = raw.strip()
    if not text:
        return None
    head, _, direction = text.rpartition(" ")
    if direction.upper() in ("ASC", "DESC") and head.strip():
        return SortState(head.strip(), direction.upper() == "DESC")
    return SortState(text, False)


def _next_sort(current: SortState | None, column: str) -> SortState:
    """Clicking a column sorts by it; clicking the sorted column again flips the direction.

    Times and metrics start descending (newest, highest first); names start ascending.
    """
    if current is not None and current.column == column:
        return SortState(column, not current.descending)
    descending = column in ("start_time", "end_time") or column.startswith("metrics.")
    return SortState(column, descending)


def _int_param(query: Mapping[str, str], name: str, default: int, *, lo: int, hi: int) -> int:
    """An integer query parameter, clamped to [lo, hi]; the default if it is not a number."""
    try:
        value = int(query.get(name, default))
    except ValueError:
        return default
    return min(max(value, lo), hi)


def _url_with(path: str, query: Mapping[str, str], changes: Mapping[str, str | int | None]) -> str:
    """``path`` with the current query string, some parameters replaced (None drops one)."""
    params: dict[str, str] = {k: v for k, v in query.items() if v != ""}
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = str(value)
    return f"{path}?{urlencode(params)}" if params else path


__all__ = ["build_router"]
