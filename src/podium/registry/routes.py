"""REST routes of the model registry: ``/api/v1/models``.

Models are addressed by name inside a project, given as the ``project`` query parameter
(``default`` when omitted); versions by number; aliases by name (``latest`` reads the newest
version). Versions are immutable: there is deliberately no route that changes one.

Every route declares its permission (``podium.access.policy``): ``registry:read`` to look,
``registry:write`` to register models and versions, ``registry:promote`` to move, delete or roll
back aliases and to delete a model (which takes its aliases with it).
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status
from fastapi.responses import StreamingResponse

from podium.access.auth import current_actor
from podium.access.authz import Permission, from_body, from_query
from podium.access.models import DEFAULT_PROJECT
from podium.registry.schemas import (
    ALIAS_PATTERN,
    AliasEventPublic,
    AliasPublic,
    AliasRollback,
    AliasSet,
    ModelCreate,
    ModelPublic,
    ModelUpdate,
    VersionCreate,
    VersionPublic,
)
from podium.registry.service import RegistryService
from podium.wire import Page, page_of

ProjectParam = Annotated[
    str, Query(min_length=1, max_length=200, description="Project that owns the model.")
]
AliasParam = Annotated[
    str,
    Path(
        pattern=ALIAS_PATTERN,
        description="Alias name, e.g. production; 'latest' reads the newest version.",
    ),
]
VersionParam = Annotated[int, Path(ge=1, description="Version number (1, 2, 3 …).")]
Offset = Annotated[
    int, Query(ge=0, le=1_000_000_000, description="Items to skip; pass back next_offset.")
]
Limit = Annotated[int, Query(ge=1, le=1000, description="Largest page size.")]
Actor = Annotated[str, Depends(current_actor)]


def build_router(registry: RegistryService) -> APIRouter:
    """The model registry router, bound to its service."""
    router = APIRouter(prefix="/models", tags=["models"])
    read = [Depends(Permission("registry", "read", project=from_query()))]
    write = [Depends(Permission("registry", "write", project=from_query()))]
    promote = [Depends(Permission("registry", "promote", project=from_query()))]
    create = [Depends(Permission("registry", "write", project=from_body()))]

    # -- models ---------------------------------------------------------------------------------

    @router.post(
        "", status_code=status.HTTP_201_CREATED, response_model=ModelPublic, dependencies=create
    )
    def create_model(body: ModelCreate) -> ModelPublic:
        """Register a model name in a project (created if missing); 409 if the name is taken."""
        model = registry.create_model(body.project, body.name, body.description)
        return ModelPublic.model_validate(model, from_attributes=True)

    @router.get("", response_model=Page[ModelPublic], dependencies=read)
    def list_models(
        project: ProjectParam = DEFAULT_PROJECT, offset: Offset = 0, limit: Limit = 100
    ) -> Page[ModelPublic]:
        """The project's models by name, one page at a time."""
        found = registry.list_models(project, offset, limit + 1)
        items = [ModelPublic.model_validate(m, from_attributes=True) for m in found]
        return page_of(items, offset, limit)

    @router.get("/{name}", response_model=ModelPublic, dependencies=read)
    def get_model(name: str, project: ProjectParam = DEFAULT_PROJECT) -> ModelPublic:
        """One model with its aliases (alias -> version)."""
        return ModelPublic.model_validate(registry.get_model(project, name), from_attributes=True)

    @router.patch("/{name}", response_model=ModelPublic, dependencies=write)
    def update_model(
        name: str, body: ModelUpdate, project: ProjectParam = DEFAULT_PROJECT
    ) -> ModelPublic:
        """Change the model's description."""
        model = registry.update_model(project, name, body.description)
        return ModelPublic.model_validate(model, from_attributes=True)

    @router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, dependencies=promote)
    def delete_model(name: str, project: ProjectParam = DEFAULT_PROJECT) -> Response:
        """Delete the model with its versions, aliases and alias history."""
        registry.delete_model(project, name)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    # -- versions -------------------------------------------------------------------------------

    @router.post(
        "/{name}/versions",
        status_code=status.HTTP_201_CREATED,
        response_model=VersionPublic,
        dependencies=write,
    )
    def create_version(
        name: str, body: VersionCreate, actor: Actor, project: ProjectParam = DEFAULT_PROJECT
    ) -> VersionPublic:
        """Add the next version; 404 names the unknown run, artifact path or blob."""
        version = registry.create_version(
            project,
            name,
            source_run_id=body.source_run_id,
            artifact_path=body.artifact_path,
            artifact_sha256=body.artifact_sha256,
            framework=body.framework,
            metadata=body.metadata,
            description=body.description,
            model_card=body.model_card,
            actor=actor,
        )
        return VersionPublic.model_validate(version, from_attributes=True)

    @router.get("/{name}/versions", response_model=Page[VersionPublic], dependencies=read)
    def list_versions(
        name: str,
        project: ProjectParam = DEFAULT_PROJECT,
        offset: Offset = 0,
        limit: Limit = 100,
    ) -> Page[VersionPublic]:
        """The model's versions, newest first."""
        found = registry.list_versions(project, name, offset, limit + 1)
        items = [VersionPublic.model_validate(v, from_attributes=True) for v in found]
        return page_of(items, offset, limit)

    @router.get("/{name}/versions/{version}", response_model=VersionPublic, dependencies=read)
    def get_version(
        name: str, version: VersionParam, project: ProjectParam = DEFAULT_PROJECT
    ) -> VersionPublic:
        """One version."""
        found = registry.get_version(project, name, version)
        return VersionPublic.model_validate(found, from_attributes=True)

    @router.get(
        "/{name}/versions/{version}/content",
        response_class=StreamingResponse,
        responses={200: {"content": {"application/octet-stream": {}}}},
        dependencies=read,
    )
    def get_version_content(
        name: str, version: VersionParam, project: ProjectParam = DEFAULT_PROJECT
    ) -> StreamingResponse:
        """The version's file, streamed; 404 when the version has none."""
        found = registry.get_version(project, name, version)
        chunks = registry.open_version_content(project, name, version)
        filename = (
            PurePosixPath(found.artifact_path).name if found.artifact_path else f"{name}-v{version}"
        )
        headers = {
            "Content-Disposition": f'attachment; filename="{_header_safe(filename)}"',
            "ETag": f'"{found.artifact_sha256}"',
        }
        return StreamingResponse(chunks, media_type="application/octet-stream", headers=headers)

    # -- aliases --------------------------------------------------------------------------------

    @router.get("/{name}/aliases/{alias}", response_model=VersionPublic, dependencies=read)
    def get_alias(
        name: str, alias: AliasParam, project: ProjectParam = DEFAULT_PROJECT
    ) -> VersionPublic:
        """The version the alias points at (``latest``: the newest version)."""
        found = registry.get_version_by_alias(project, name, alias)
        return VersionPublic.model_validate(found, from_attributes=True)

    @router.put("/{name}/aliases/{alias}", response_model=AliasPublic, dependencies=promote)
    def set_alias(
        name: str,
        alias: AliasParam,
        body: AliasSet,
        actor: Actor,
        project: ProjectParam = DEFAULT_PROJECT,
    ) -> AliasPublic:
        """Point the alias at a version (promote); recorded in the history."""
        moved = registry.set_alias(
            project, name, alias, body.version, actor=actor, reason=body.reason
        )
        return AliasPublic.model_validate(moved, from_attributes=True)

    @router.delete(
        "/{name}/aliases/{alias}", status_code=status.HTTP_204_NO_CONTENT, dependencies=promote
    )
    def delete_alias(
        name: str,
        alias: AliasParam,
        actor: Actor,
        project: ProjectParam = DEFAULT_PROJECT,
        reason: Annotated[str, Query(max_length=10_000)] = "",
    ) -> Response:
        """Remove the alias; recorded in the history (to no version)."""
        registry.delete_alias(project, name, alias, actor=actor, reason=reason)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post(
        "/{name}/aliases/{alias}/rollback", response_model=AliasPublic, dependencies=promote
    )
    def rollback_alias(
        name: str,
        alias: AliasParam,
        actor: Actor,
        body: AliasRollback | None = None,
        project: ProjectParam = DEFAULT_PROJECT,
    ) -> AliasPublic:
        """Undo the alias's last move; repeated rollbacks walk further back. 409 if none."""
        reason = body.reason if body is not None else ""
        moved = registry.rollback_alias(project, name, alias, actor=actor, reason=reason)
        return AliasPublic.model_validate(moved, from_attributes=True)

    @router.get("/{name}/history", response_model=list[AliasEventPublic], dependencies=read)
    def alias_history(
        name: str,
        project: ProjectParam = DEFAULT_PROJECT,
        alias: Annotated[str | None, Query(pattern=ALIAS_PATTERN)] = None,
    ) -> list[AliasEventPublic]:
        """Every alias move (of one alias with ``alias=``), newest first."""
        events = registry.alias_history(project, name, alias)
        return [AliasEventPublic.model_validate(e, from_attributes=True) for e in events]

    return router


def _header_safe(filename: str) -> str:
    # Keep the header ASCII and unbroken; the exact name is in the version's artifact_path.
    return "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename
    )
