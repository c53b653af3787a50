"""Web pages of the data part: the dataset list, one dataset (versions, lineage and a page of a
version's rows with search), and the diff of two versions.

The lineage is drawn as a nested list: each version under the version it was made from, with
the steps that made it. Every page needs only ``data:read``; they are GET pages with no forms
that change anything.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from podium.access.authz import Permission, from_query
from podium.access.models import DEFAULT_PROJECT
from podium.data.models import DatasetVersion
from podium.data.service import DataService
from podium.errors import NotFound, PodiumError
from podium.pages import error_page

PAGE_SIZE = 50
MAX_VERSIONS = 500


def lineage_tree(versions: list[DatasetVersion]) -> list[dict[str, Any]]:
    """Versions as a forest: each node ``{version, children}`` under its first parent."""
    nodes: dict[int, dict[str, Any]] = {
        v.version: {"version": v, "children": []} for v in sorted(versions, key=lambda v: v.version)
    }
    roots = []
    for number, node in nodes.items():
        parents = [p for p in node["version"].parents if p in nodes and p != number]
        if parents:
            nodes[parents[0]]["children"].append(node)
        else:
            roots.append(node)
    return roots


def build_router(service: DataService, templates: Jinja2Templates) -> APIRouter:
    """The dataset pages, bound to ``service`` and the shared ``templates``."""
    read = Permission("data", "read", project=from_query())
    router = APIRouter(include_in_schema=False, dependencies=[Depends(read)])

    def error(request: Request, exc: PodiumError, project: str) -> HTMLResponse:
        if exc.status >= 500:
            raise exc
        return error_page(
            templates,
            request,
            exc,
            project=project,
            back_url="/datasets?" + urlencode({"project": project}),
            back_label="Back to the datasets",
        )

    @router.get("/datasets", response_class=HTMLResponse)
    def datasets_page(request: Request) -> HTMLResponse:
        project = request.query_params.get("project") or DEFAULT_PROJECT
        offset = _int(request.query_params.get("offset"), 0)
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

    @router.get("/datasets/{name}", response_class=HTMLResponse)
    def dataset_page(request: Request, name: str) -> HTMLResponse:
        project = request.query_params.get("project") or DEFAULT_PROJECT
        offset = _int(request.query_params.get("offset"), 0)
        search = (request.query_params.get("search") or "").strip()[:500]
        try:
            dataset = service.get_dataset(project, name)
            versions = service.list_versions(project, name, limit=MAX_VERSIONS)
            number = _int(request.query_params.get("version"), dataset.latest_version) or None
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
            "tree": lineage_tree(versions),
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

    @router.get("/datasets/{name}/diff", response_class=HTMLResponse)
    def diff_page(request: Request, name: str) -> HTMLResponse:
        project = request.query_params.get("project") or DEFAULT_PROJECT
        try:
            dataset = service.get_dataset(project, name)
            other = _int(request.query_params.get("other"), dataset.latest_version)
            base = _int(request.query_params.get("base"), max(1, other - 1))
            diff = service.diff(project, name, base, other, examples=20)
        except PodiumError as exc:
            return error(request, exc, project)
        context = {"project": project, "dataset": dataset, "diff": diff}
        return templates.TemplateResponse(request, "data/diff.html", context)

    return router


def _int(raw: str | None, default: int) -> int:
    try:
        return max(0, int(raw)) if raw else default
    except ValueError:
        return default
