"""REST routes of the prompt registry: ``/api/v1/prompts``.

Prompts are addressed by name inside a project, given as the ``project`` query parameter
(``default`` when omitted); versions by number; labels by name (``latest`` reads the newest
version). Versions are immutable: no route changes one.

Every route declares its permission (``podium.access.policy``): ``prompts:read`` to look and
render, ``prompts:write`` to create prompts and push versions, ``prompts:label`` to move or
roll back labels and to delete a prompt.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response, status

from podium.access.auth import current_actor
from podium.access.authz import Permission, from_body, from_query
from podium.access.models import DEFAULT_PROJECT
from podium.prompts.schemas import (
    LABEL_PATTERN,
    DiffPublic,
    LabelEventPublic,
    LabelPublic,
    LabelRollback,
    LabelSet,
    PromptCreate,
    PromptPublic,
    RenderRequest,
    RenderResult,
    VersionCreate,
    VersionPublic,
)
from podium.prompts.service import PromptService
from podium.wire import Page, page_of

ProjectParam = Annotated[
    str, Query(min_length=1, max_length=200, description="Project that owns the prompt.")
]
LabelParam = Annotated[
    str,
    Path(pattern=LABEL_PATTERN, description="Label, e.g. production; 'latest' reads the newest."),
]
VersionParam = Annotated[int, Path(ge=1, description="Version number (1, 2, 3 …).")]
Offset = Annotated[
    int, Query(ge=0, le=1_000_000_000, description="Items to skip; pass back next_offset.")
]
Limit = Annotated[int, Query(ge=1, le=1000, description="Largest page size.")]
Actor = Annotated[str, Depends(current_actor)]


def _version(found: object) -> VersionPublic:
    return VersionPublic.model_validate(found, from_attributes=True)


def build_router(prompts: PromptService) -> APIRouter:
    """The prompt registry router, bound to its service."""
    router = APIRouter(prefix="/prompts", tags=["prompts"])
    read = [Depends(Permission("prompts", "read", project=from_query()))]
    write = [Depends(Permission("prompts", "write", project=from_query()))]
    label = [Depends(Permission("prompts", "label", project=from_query()))]
    create = [Depends(Permission("prompts", "write", project=from_body()))]

    @router.post(
        "", status_code=status.HTTP_201_CREATED, response_model=VersionPublic, dependencies=create
    )
    def create_prompt(body: PromptCreate, actor: Actor) -> VersionPublic:
        """Create a prompt with its first version; 409 if the name is taken in the project."""
        return _version(
            prompts.create_prompt(
                body.project,
                body.name,
                kind=body.kind,
                template=body.template,
                messages=body.messages,
                variables=body.variables,
                model_params=body.model_params,
                config=body.config,
                tags=body.tags,
                message=body.message,
                actor=actor,
            )
        )

    @router.get("", response_model=Page[PromptPublic], dependencies=read)
    def list_prompts(
        project: ProjectParam = DEFAULT_PROJECT, offset: Offset = 0, limit: Limit = 100
    ) -> Page[PromptPublic]:
        """The project's prompts by name, one page at a time."""
        found = prompts.list_prompts(project, offset, limit + 1)
        items = [PromptPublic.model_validate(p, from_attributes=True) for p in found]
        return page_of(items, offset, limit)

    @router.get("/{name}", response_model=PromptPublic, dependencies=read)
    def get_prompt(name: str, project: ProjectParam = DEFAULT_PROJECT) -> PromptPublic:
        """One prompt with its labels (label -> version)."""
        return PromptPublic.model_validate(prompts.get_prompt(project, name), from_attributes=True)

    @router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, dependencies=label)
    def delete_prompt(name: str, project: ProjectParam = DEFAULT_PROJECT) -> Response:
        """Delete the prompt with its versions, labels and label history."""
        prompts.delete_prompt(project, name)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post("/{name}/versions", response_model=VersionPublic, dependencies=write)
    def push_version(
        name: str,
        body: VersionCreate,
        actor: Actor,
        response: Response,
        project: ProjectParam = DEFAULT_PROJECT,
    ) -> VersionPublic:
        """Push the next version: 201, or 200 with ``created: false`` if identical to the latest."""
        found = prompts.push_version(
            project,
            name,
            template=body.template,
            messages=body.messages,
            variables=body.variables,
            model_params=body.model_params,
            config=body.config,
            tags=body.tags,
            message=body.message,
            actor=actor,
        )
        response.status_code = status.HTTP_201_CREATED if found.created else status.HTTP_200_OK
        return _version(found)

    @router.get("/{name}/versions", response_model=Page[VersionPublic], dependencies=read)
    def list_versions(
        name: str, project: ProjectParam = DEFAULT_PROJECT, offset: Offset = 0, limit: Limit = 100
    ) -> Page[VersionPublic]:
        """The prompt's versions, newest first."""
        found = prompts.list_versions(project, name, offset, limit + 1)
        return page_of([_version(v) for v in found], offset, limit)

    @router.get("/{name}/versions/{version}", response_model=VersionPublic, dependencies=read)
    def get_version(
        name: str, version: VersionParam, project: ProjectParam = DEFAULT_PROJECT
    ) -> VersionPublic:
        """One version."""
        return _version(prompts.get_version(project, name, version))

    @router.get("/{name}/labels/{label}", response_model=VersionPublic, dependencies=read)
    def get_label(
        name: str, label: LabelParam, project: ProjectParam = DEFAULT_PROJECT
    ) -> VersionPublic:
        """The version the label points at (``latest``: the newest version)."""
        return _version(prompts.get_by_label(project, name, label))

    @router.put("/{name}/labels/{label}", response_model=LabelPublic, dependencies=label)
    def set_label(
        name: str,
        label: LabelParam,
        body: LabelSet,
        actor: Actor,
        project: ProjectParam = DEFAULT_PROJECT,
    ) -> LabelPublic:
        """Point the label at a version; recorded in the label history."""
        moved = prompts.set_label(
            project, name, label, body.version, actor=actor, reason=body.reason
        )
        return LabelPublic.model_validate(moved, from_attributes=True)

    @router.post("/{name}/labels/{label}/rollback", response_model=LabelPublic, dependencies=label)
    def rollback_label(
        name: str,
        label: LabelParam,
        actor: Actor,
        body: LabelRollback | None = None,
        project: ProjectParam = DEFAULT_PROJECT,
    ) -> LabelPublic:
        """Undo the label's last move; repeated rollbacks walk further back. 409 if none."""
        reason = body.reason if body is not None else ""
        moved = prompts.rollback_label(project, name, label, actor=actor, reason=reason)
        return LabelPublic.model_validate(moved, from_attributes=True)

    @router.get("/{name}/history", response_model=list[LabelEventPublic], dependencies=read)
    def label_history(
        name: str,
        project: ProjectParam = DEFAULT_PROJECT,
        label: Annotated[str | None, Query(pattern=LABEL_PATTERN)] = None,
    ) -> list[LabelEventPublic]:
        """Every label move (of one label with ``label=``), newest first."""
        events = prompts.label_history(project, name, label)
        return [LabelEventPublic.model_validate(e, from_attributes=True) for e in events]

    @router.get("/{name}/diff", response_model=DiffPublic, dependencies=read)
    def diff(
        name: str,
        from_version: Annotated[int, Query(alias="from", ge=1)],
        to_version: Annotated[int, Query(alias="to", ge=1)],
        project: ProjectParam = DEFAULT_PROJECT,
    ) -> DiffPublic:
        """Unified diffs of template, variables, model params, config and tags."""
        found = prompts.diff(project, name, from_version, to_version)
        return DiffPublic(
            prompt=found.prompt,
            from_version=found.from_version,
            to_version=found.to_version,
            changed=found.changed,
            sections=found.sections,
        )

    @router.post("/{name}/render", response_model=RenderResult, dependencies=read)
    def render(
        name: str, body: RenderRequest, project: ProjectParam = DEFAULT_PROJECT
    ) -> RenderResult:
        """Render a version (by number or label; ``production`` by default) with variables."""
        version, output = prompts.render(
            project, name, body.variables, version=body.version, label=body.label
        )
        return RenderResult(
            prompt=version.prompt,
            version=version.version,
            kind=version.kind,
            text=output if isinstance(output, str) else None,
            messages=output if isinstance(output, list) else None,
            model_params=version.model_params,
            config=version.config,
        )

    return router
