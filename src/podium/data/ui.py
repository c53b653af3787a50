"""Web pages of the data part: the dataset list, one dataset (versions, lineage and a page of a
version's rows with search), the diff of two versions, and a pipeline job's progress.

The lineage is an SVG drawn on the server from ``podium.data.lineage.layout``: versions left to
right, each linking to its page, edges labelled by the steps that made a version from its
parent. A job page polls its own progress fragment with htmx every second until the job ends.
Every page needs only ``data:read``; they are GET pages with no forms that change anything.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from podium.access.authz import Permission, from_path, from_query
from podium.access.models import DEFAULT_PROJECT
from podium.data.lineage import NODE_HEIGHT, NODE_WIDTH, build_lineage, layout
from podium.data.service import DataService
from podium.errors import NotFound, PodiumError
from podium.pages import int_param, part_error_page

PAGE_SIZE = 50
MAX_VERSIONS = 500


def build_router(service: DataService, templates: Jinja2Templates) -> APIRouter:
    """The dataset pages, bound to ``service`` and the shared ``templates``."""
    read = Permission("data", "read", project=from_query())
    router = APIRouter(include_in_schema=False)
    by_query = [Depends(read)]

    error = part_error_page(templates, "/datasets", "Back to the datasets")

    @router.get("/datasets", response_class=HTMLResponse, dependencies=by_query)
    def datasets_page(request: Request) -> HTMLResponse:
        project = request.query_params.get("project") or DEFAULT_PROJECT
        offset = int_param(request.query_params.get("offset"), 0)
        try:
            found = service.list_datasets(project, offset=offset, limit=PAGE_SIZE + 1)
        except NotFound:
            found = []
        except PodiumError as exc:
            return error(request, exc, project)
        context = {
            "project": project,
            "datasets": found[:PAGE_SIZE],
            "offset": offset,
            "has_next": len(found) > PAGE_SIZE,
            "next_url": "/datasets?"
            + urlencode({"project": project, "offset": offset + PAGE_SIZE}),
        }
        return templates.TemplateResponse(request, "data/datasets.html", context)

    @router.get("/datasets/{name}", response_class=HTMLResponse, dependencies=by_query)
    def dataset_page(request: Request, name: str) -> HTMLResponse:
        project = request.query_params.get("project") or DEFAULT_PROJECT
        offset = int_param(request.query_params.get("offset"), 0)
        search = (request.query_params.get("search") or "").strip()[:500]
        try:
            dataset = service.get_dataset(project, name)
            versions = service.list_versions(project, name, limit=MAX_VERSIONS)
            number = int_param(request.query_params.get("version"), dataset.latest_version) or None
            current = service.get_version(project, name, number) if versions else None
            rows = (
                service.rows(
                    project,
                    name,
                    current.version,
                    offset=offset,
                    limit=PAGE_SIZE + 1,
                    search=search or None,
                )
                if current
                else []
            )
        except PodiumError as exc:
            return error(request, exc, project)
        page = {"project": project, "search": search}
        if current is not None:
            page["version"] = str(current.version)
        context = {
            "project": project,
            "dataset": dataset,
            "versions": versions,
            "graph": layout(build_lineage(dataset.name, dataset.project, versions)),
            "node_width": NODE_WIDTH,
            "node_height": NODE_HEIGHT,
            "current": current,
            "rows": rows[:PAGE_SIZE],
            "search": search,
            "offset": offset,
            "prev_url": f"/datasets/{name}?"
            + urlencode({**page, "offset": max(0, offset - PAGE_SIZE)})
            if offset
            else None,
            "next_url": f"/datasets/{name}?" + urlencode({**page, "offset": offset + PAGE_SIZE})
            if len(rows) > PAGE_SIZE
            else None,
        }
        return templates.TemplateResponse(request, "data/dataset.html", context)

    @router.get("/datasets/{name}/diff", response_class=HTMLResponse, dependencies=by_query)
    def diff_page(request: Request, name: str) -> HTMLResponse:
        project = request.query_params.get("project") or DEFAULT_PROJECT
        try:
            dataset = service.get_dataset(project, name)
            other = int_param(request.query_params.get("other"), dataset.latest_version)
            base = int_param(request.query_params.get("base"), max(1, other - 1))
            diff = service.diff(project, name, base, other, examples=20)
        except PodiumError as exc:
            return error(request, exc, project)
        context = {"project": project, "dataset": dataset, "diff": diff}
        return templates.TemplateResponse(request, "data/diff.html", context)

    job_read = Permission("data", "read", project=from_path("job_id", service.job_project))

    # After the dataset pages, so a dataset named "jobs" keeps /datasets/jobs/diff.
    @router.get(
        "/datasets/jobs/{job_id}", response_class=HTMLResponse, dependencies=[Depends(job_read)]
    )
    def job_page(request: Request, job_id: str) -> HTMLResponse:
        try:
            job = service.get_job(job_id)
        except PodiumError as exc:
            return error(request, exc, DEFAULT_PROJECT)
        # htmx asks for the progress fragment alone; a plain visit gets the whole page.
        page = "data/job_progress.html" if request.headers.get("HX-Request") else "data/job.html"
        return templates.TemplateResponse(request, page, {"project": job.project, "job": job})

    return router
