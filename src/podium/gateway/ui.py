"""Web pages of the gateway: the routes of a project with their live traffic split and canary
state, and one route's deployments (breakers, recent requests, errors, latency) and history.

Read-only (``gateway:invoke``); changes go through the CLI, the REST API or the YAML file.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from podium.access.authz import Permission, from_query
from podium.access.models import DEFAULT_PROJECT
from podium.errors import PodiumError
from podium.gateway.dispatch import Gateway
from podium.gateway.views import route_public, route_status
from podium.pages import error_page


def build_router(gateway: Gateway, templates: Jinja2Templates) -> APIRouter:
    """The gateway pages, bound to the serving path (for live state) and the templates."""
    read = Permission("gateway", "invoke", project=from_query())
    router = APIRouter(include_in_schema=False, dependencies=[Depends(read)])
    service = gateway.service

    def error(request: Request, exc: PodiumError, project: str) -> HTMLResponse:
        if exc.status >= 500:
            raise exc
        return error_page(
            templates,
            request,
            exc,
            project=project,
            back_url="/gateway?" + urlencode({"project": project}),
            back_label="Back to the gateway",
        )

    @router.get("/gateway", response_class=HTMLResponse)
    def routes_page(request: Request) -> HTMLResponse:
        project = request.query_params.get("project") or DEFAULT_PROJECT
        routes = [route_public(r) for r in service.list_routes(project)]
        context = {"project": project, "routes": routes}
        return templates.TemplateResponse(request, "gateway/routes.html", context)

    @router.get("/gateway/routes/{name}", response_class=HTMLResponse)
    def route_page(request: Request, name: str) -> HTMLResponse:
        project = request.query_params.get("project") or DEFAULT_PROJECT
        try:
            route = service.get_route(project, name)
        except PodiumError as exc:
            return error(request, exc, project)
        context = {
            "project": project,
            "route": route_public(route),
            "status": route_status(gateway, route),
            "history": service.history(project, name)[:100],
        }
        return templates.TemplateResponse(request, "gateway/route.html", context)

    return router
