"""REST routes of the gateway's control plane: ``/api/v1/gateway``.

Routes (public model names) live in a project, given as the ``project`` query parameter
(``default`` when omitted). ``gateway:invoke`` reads them (and calls ``/v1``);
``gateway:manage`` puts and deletes routes, moves canaries and sets limits. Every change is
audited by the audit middleware and appended to the route history.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status

from podium.access.auth import current_actor
from podium.access.authz import Permission, from_query
from podium.access.models import DEFAULT_PROJECT
from podium.gateway.dispatch import Gateway
from podium.gateway.models import NAME_PATTERN, Limits, RouteSpec
from podium.gateway.schemas import (
    CanaryAction,
    LimitsBody,
    LimitsPublic,
    RouteEventPublic,
    RoutePublic,
    RouteStatus,
)
from podium.gateway.views import route_public, route_status
from podium.wire import Page, page_of

ProjectParam = Annotated[
    str, Query(min_length=1, max_length=200, description="Project that owns the route.")
]
NameParam = Annotated[str, Path(pattern=NAME_PATTERN, description="Route (public model) name.")]
ScopeParam = Annotated[
    str,
    Path(
        pattern=r"^(project|key:[0-9a-f]{12})$",
        description="'project' or 'key:<12-hex key prefix>'.",
    ),
]
Offset = Annotated[int, Query(ge=0, le=1_000_000_000, description="Items to skip.")]
Limit = Annotated[int, Query(ge=1, le=1000, description="Largest page size.")]
Actor = Annotated[str, Depends(current_actor)]


def build_router(gateway: Gateway) -> APIRouter:
    """The gateway control-plane router."""
    service = gateway.service
    router = APIRouter(prefix="/gateway", tags=["gateway"])
    read = [Depends(Permission("gateway", "invoke", project=from_query()))]
    manage = [Depends(Permission("gateway", "manage", project=from_query()))]

    @router.get("/routes", response_model=Page[RoutePublic], dependencies=read)
    def list_routes(
        project: ProjectParam = DEFAULT_PROJECT, offset: Offset = 0, limit: Limit = 100
    ) -> Page[RoutePublic]:
        """The project's routes by name."""
        found = service.list_routes(project)[offset : offset + limit + 1]
        return page_of([route_public(r) for r in found], offset, limit)

    @router.get("/routes/{name}", response_model=RoutePublic, dependencies=read)
    def get_route(name: NameParam, project: ProjectParam = DEFAULT_PROJECT) -> RoutePublic:
        """One route with its deployments and traffic shares."""
        return route_public(service.get_route(project, name))

    @router.put("/routes/{name}", response_model=RoutePublic, dependencies=manage)
    def put_route(
        name: NameParam, body: RouteSpec, actor: Actor, project: ProjectParam = DEFAULT_PROJECT
    ) -> RoutePublic:
        """Create or replace a route; recorded in its history."""
        return route_public(service.put_route(project, name, body, actor=actor))

    @router.delete("/routes/{name}", status_code=status.HTTP_204_NO_CONTENT, dependencies=manage)
    def delete_route(
        name: NameParam, actor: Actor, project: ProjectParam = DEFAULT_PROJECT
    ) -> Response:
        """Delete a route (its history stays)."""
        service.delete_route(project, name, actor=actor)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get("/routes/{name}/status", response_model=RouteStatus, dependencies=read)
    def get_status(name: NameParam, project: ProjectParam = DEFAULT_PROJECT) -> RouteStatus:
        """Live state in this server process: breakers, recent requests, errors, latency."""
        return route_status(gateway, service.get_route(project, name))

    @router.get("/routes/{name}/history", response_model=list[RouteEventPublic], dependencies=read)
    def history(name: NameParam, project: ProjectParam = DEFAULT_PROJECT) -> list[RouteEventPublic]:
        """Every change to the route, newest first."""
        return [
            RouteEventPublic.model_validate(e, from_attributes=True)
            for e in service.history(project, name)
        ]

    @router.post("/routes/{name}/canary/promote", response_model=RoutePublic, dependencies=manage)
    def promote(
        name: NameParam,
        actor: Actor,
        body: CanaryAction | None = None,
        project: ProjectParam = DEFAULT_PROJECT,
    ) -> RoutePublic:
        """Move the canary to its next step; 409 when none is rolling out."""
        reason = body.reason if body is not None else ""
        return route_public(service.promote_canary(project, name, actor=actor, reason=reason))

    @router.post("/routes/{name}/canary/rollback", response_model=RoutePublic, dependencies=manage)
    def rollback(
        name: NameParam,
        actor: Actor,
        body: CanaryAction | None = None,
        project: ProjectParam = DEFAULT_PROJECT,
    ) -> RoutePublic:
        """Send all traffic back to stable; 409 when no canary is rolling out."""
        reason = body.reason if body is not None else ""
        return route_public(service.rollback_canary(project, name, actor=actor, reason=reason))

    @router.get("/limits", response_model=list[LimitsPublic], dependencies=read)
    def list_limits(project: ProjectParam = DEFAULT_PROJECT) -> list[LimitsPublic]:
        """The project's limits (project-wide and per key)."""
        return [
            LimitsPublic.model_validate(lim, from_attributes=True)
            for lim in service.list_limits(project)
        ]

    @router.put("/limits/{scope}", response_model=LimitsPublic, dependencies=manage)
    def set_limits(
        scope: ScopeParam, body: LimitsBody, project: ProjectParam = DEFAULT_PROJECT
    ) -> LimitsPublic:
        """Set the limits of ``project`` (the whole project) or ``key:<prefix>`` (one key)."""
        saved = service.set_limits(Limits(scope=scope, project=project, **body.model_dump()))
        return LimitsPublic.model_validate(saved, from_attributes=True)

    @router.delete("/limits/{scope}", status_code=status.HTTP_204_NO_CONTENT, dependencies=manage)
    def delete_limits(scope: ScopeParam, project: ProjectParam = DEFAULT_PROJECT) -> Response:
        """Remove the limits of one scope."""
        service.delete_limits(project, scope)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router
