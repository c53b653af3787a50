"""REST routes of the access part: ``/api/v1/projects``."""

from __future__ import annotations

from fastapi import APIRouter, status

from podium.access.schemas import ProjectCreate, ProjectPublic
from podium.access.service import ProjectService
from podium.wire import Page


def build_router(projects: ProjectService) -> APIRouter:
    """The projects router, bound to its service."""
    router = APIRouter(prefix="/projects", tags=["projects"])

    @router.post("", status_code=status.HTTP_201_CREATED, response_model=ProjectPublic)
    def create_project(body: ProjectCreate) -> ProjectPublic:
        return ProjectPublic.model_validate(projects.create(body.name, body.description))

    @router.get("", response_model=Page[ProjectPublic])
    def list_projects() -> Page[ProjectPublic]:
        items = [ProjectPublic.model_validate(p) for p in projects.list()]
        return Page[ProjectPublic](items=items, next_offset=None)

    @router.get("/{name}", response_model=ProjectPublic)
    def get_project(name: str) -> ProjectPublic:
        return ProjectPublic.model_validate(projects.by_name(name))

    return router
