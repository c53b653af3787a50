"""Web pages of the model registry: the models of a project, and one model's page.

A model's page shows its versions (with the run each came from and the aliases on it), the
latest version's model card rendered from markdown, and every move of its aliases. Unknown
models and bad names become an error page that says what to do, never a 500.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from podium.access.authz import Permission, from_query
from podium.access.models import DEFAULT_PROJECT
from podium.errors import NotFound, PodiumError
from podium.pages import error_page
from podium.registry.models import ModelVersion, RegisteredModel
from podium.registry.service import RegistryService

PAGE_SIZE = 100
MAX_VERSIONS = 200


def build_router(service: RegistryService, templates: Jinja2Templates) -> APIRouter:
    """The registry pages, bound to ``service`` and the shared ``templates``."""
    read = Permission("registry", "read", project=from_query())
    router = APIRouter(include_in_schema=False, dependencies=[Depends(read)])

    @router.get("/models", response_class=HTMLResponse)
    def models_page(request: Request) -> HTMLResponse:
        project = request.query_params.get("project") or DEFAULT_PROJECT
        offset = _offset(request.query_params.get("offset"))
        models: list[RegisteredModel] = []
        missing_project = False
        try:
            models = service.list_models(project, offset=offset, limit=PAGE_SIZE + 1)
        except NotFound:
            missing_project = True
        except PodiumError as error:
            if error.status >= 500:
                raise
            return _error_page(templates, request, error, project=project)
        context = {
            "project": project,
            "models": models[:PAGE_SIZE],
            "missing_project": missing_project,
            "offset": offset,
            "page_size": PAGE_SIZE,
            "has_next": len(models) > PAGE_SIZE,
            "page_url": lambda to: "/models?" + urlencode({"project": project, "offset": to}),
        }
        return templates.TemplateResponse(request, "registry/models.html", context)

    @router.get("/models/{name}", response_class=HTMLResponse)
    def model_page(request: Request, name: str) -> HTMLResponse:
        project = request.query_params.get("project") or DEFAULT_PROJECT
        try:
            model = service.get_model(project, name)
            versions = service.list_versions(project, name, limit=MAX_VERSIONS)
            history = service.alias_history(project, name)
        except NotFound:
            return _error_page(
                templates,
                request,
                NotFound(
                    f"There is no model {name!r} in project {project!r}. Check the spelling, or "
                    "pick the project it was registered in from the menu at the top."
                ),
                project=project,
            )
        except PodiumError as error:
            if error.status >= 500:
                raise
            return _error_page(templates, request, error, project=project)
        context = {
            "project": project,
            "model": model,
            "versions": versions,
            "latest": _latest(versions),
            "card_version": _latest([v for v in versions if v.model_card.strip()]),
            "more_versions": model.latest_version > len(versions),
            "history": history,
            "aliases": sorted(model.aliases.items()),
        }
        return templates.TemplateResponse(request, "registry/model.html", context)

    return router


def _latest(versions: list[ModelVersion]) -> ModelVersion | None:
    """The newest of ``versions`` (the service lists newest first, but do not rely on it)."""
    return max(versions, key=lambda v: v.version, default=None)


def _offset(raw: str | None) -> int:
    """A page offset from the query string; 0 if it is missing or not a number."""
    try:
        return max(0, int(raw or 0))
    except ValueError:
        return 0


def _error_page(
    templates: Jinja2Templates, request: Request, error: PodiumError, *, project: str
) -> HTMLResponse:
    """The shared error page, linking back to the project's models."""
    return error_page(
        templates,
        request,
        error,
        project=project,
        back_url="/models?" + urlencode({"project": project}),
        back_label="Back to the models",
    )


__all__ = ["build_router"]
