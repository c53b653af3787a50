"""REST routes of the access part: projects, members, users, API keys and the audit log."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request, Response, status

from podium.access.audit import AuditLog
from podium.access.authz import Permission, from_body, from_query
from podium.access.models import Principal, Role
from podium.access.policy import AUTHENTICATED, SERVER_ADMIN
from podium.access.schemas import (
    AuditEventPublic,
    AuditHead,
    AuditVerificationPublic,
    KeyCreate,
    KeyCreated,
    KeyPublic,
    Me,
    MemberPublic,
    MemberSet,
    ProjectCreate,
    ProjectPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from podium.access.service import AccessService, ProjectService
from podium.errors import Forbidden, InvalidInput, NotFound
from podium.wire import Page


async def _project_in_path(request: Request) -> str | None:
    return str(request.path_params["name"])


def build_router(projects: ProjectService, access: AccessService, audit: AuditLog) -> APIRouter:
    """The access routers, bound to their services."""
    router = APIRouter()
    router.include_router(_projects_router(projects, access))
    router.include_router(_users_router(access))
    router.include_router(_keys_router(access))
    router.include_router(_audit_router(audit))
    return router


def _projects_router(projects: ProjectService, access: AccessService) -> APIRouter:
    router = APIRouter(prefix="/projects", tags=["projects"])
    read = Permission("projects", "read", project=_project_in_path)
    manage = Permission("projects", "manage", project=_project_in_path)

    @router.post("", status_code=status.HTTP_201_CREATED, response_model=ProjectPublic)
    def create_project(
        body: ProjectCreate,
        principal: Principal = Depends(Permission(AUTHENTICATED, "projects.create")),
    ) -> ProjectPublic:
        """Create a project; a user who creates one becomes its owner."""
        if principal.kind == "key":
            raise Forbidden("API keys are scoped to one project and cannot create projects")
        project = projects.create(body.name, body.description)
        if principal.kind == "user":
            access.set_member(project.name, principal.name, Role.OWNER)
        return ProjectPublic.model_validate(project)

    @router.get("", response_model=Page[ProjectPublic])
    def list_projects(
        principal: Principal = Depends(Permission(AUTHENTICATED, "projects.list")),
    ) -> Page[ProjectPublic]:
        """The projects the caller belongs to (all of them for admins and the local user)."""
        visible = [p for p in projects.list() if principal.role_in(p.name) is not None]
        return Page[ProjectPublic](items=[ProjectPublic.model_validate(p) for p in visible])

    @router.get("/{name}", response_model=ProjectPublic, dependencies=[Depends(read)])
    def get_project(name: str) -> ProjectPublic:
        """One project."""
        return ProjectPublic.model_validate(projects.by_name(name))

    @router.delete(
        "/{name}",
        status_code=status.HTTP_204_NO_CONTENT,
        dependencies=[Depends(Permission("projects", "delete", project=_project_in_path))],
    )
    def delete_project(
        name: str,
        confirm: str | None = Query(None, description="The project's name again, as a safeguard."),
    ) -> Response:
        """Delete a project and everything in it (owners only; pass ``confirm=<name>``)."""
        if confirm != name:
            raise InvalidInput(
                f"deleting project {name!r} removes all its runs, models and keys; "
                f"repeat its name as confirm={name} to go ahead",
                field="confirm",
            )
        projects.delete(name)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.get("/{name}/members", response_model=list[MemberPublic], dependencies=[Depends(read)])
    def list_members(name: str) -> list[MemberPublic]:
        """The project's members and their roles."""
        return [MemberPublic.model_validate(m) for m in access.members(name)]

    @router.put("/{name}/members/{username}", response_model=MemberPublic)
    def set_member(
        name: str, username: str, body: MemberSet, principal: Principal = Depends(manage)
    ) -> MemberPublic:
        """Give a user a role in the project; only owners may make owners."""
        caller = principal.role_in(name)
        if body.role is Role.OWNER and caller is not Role.OWNER:
            raise Forbidden("only an owner of the project may make another owner")
        return MemberPublic.model_validate(access.set_member(name, username, body.role))

    @router.delete(
        "/{name}/members/{username}",
        status_code=status.HTTP_204_NO_CONTENT,
        dependencies=[Depends(manage)],
    )
    def remove_member(name: str, username: str) -> Response:
        """Remove a user from the project."""
        access.remove_member(name, username)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router


def _users_router(access: AccessService) -> APIRouter:
    router = APIRouter(prefix="/users", tags=["users"])
    admin = Permission(SERVER_ADMIN, "users.manage")

    @router.post(
        "",
        status_code=status.HTTP_201_CREATED,
        response_model=UserPublic,
        dependencies=[Depends(admin)],
    )
    def create_user(body: UserCreate) -> UserPublic:
        """Create a user (server admins; the first user is created with `podium users create`)."""
        return UserPublic.model_validate(
            access.create_user(body.username, body.password, is_admin=body.is_admin)
        )

    @router.get("", response_model=list[UserPublic], dependencies=[Depends(admin)])
    def list_users() -> list[UserPublic]:
        """Every user."""
        return [UserPublic.model_validate(u) for u in access.list_users()]

    @router.get("/me", response_model=Me)
    def me(principal: Principal = Depends(Permission(AUTHENTICATED, "users.me"))) -> Me:
        """Who the caller is and their roles."""
        return Me(
            name=principal.name,
            kind=principal.kind,
            superuser=principal.superuser,
            roles=dict(principal.roles),
        )

    @router.patch("/{username}", response_model=UserPublic)
    def update_user(
        username: str,
        body: UserUpdate,
        principal: Principal = Depends(Permission(AUTHENTICATED, "users.update")),
    ) -> UserPublic:
        """Change a password (yourself or an admin) or disable a user (admins)."""
        is_self = principal.kind == "user" and principal.name == username
        if not (principal.superuser or (is_self and body.disabled is None)):
            raise Forbidden("only a server admin may change another user or disable users")
        if body.password is None and body.disabled is None:
            raise InvalidInput("nothing to change: give password or disabled", field="body")
        if body.password is not None:
            access.set_password(username, body.password)
        if body.disabled is not None:
            return UserPublic.model_validate(access.set_disabled(username, body.disabled))
        return UserPublic.model_validate(access.get_user(username))

    return router


def _keys_router(access: AccessService) -> APIRouter:
    router = APIRouter(prefix="/keys", tags=["keys"])

    @router.post("", status_code=status.HTTP_201_CREATED, response_model=KeyCreated)
    def create_key(
        body: KeyCreate,
        principal: Principal = Depends(Permission("keys", "own", project=from_body())),
    ) -> KeyCreated:
        """Mint an API key scoped to a project and role; the secret is in this reply only."""
        username = body.username or principal.name
        if principal.kind == "local" and body.username is None:
            raise InvalidInput(
                "in single-user local mode there is no user to own the key; create a user "
                "first (`podium users create NAME --admin`) and pass username",
                field="username",
            )
        if username != principal.name and not principal.superuser:
            raise Forbidden("only a server admin may create keys for another user")
        key, secret = access.create_key(
            username=username,
            project=body.project,
            role=body.role,
            name=body.name,
            expires_in_days=body.expires_in_days,
            granted_by=principal,
        )
        return KeyCreated(**KeyPublic.model_validate(key).model_dump(), key=secret)

    @router.get("", response_model=list[KeyPublic])
    def list_keys(
        principal: Principal = Depends(Permission(AUTHENTICATED, "keys.list")),
    ) -> list[KeyPublic]:
        """The caller's keys (every key for server admins)."""
        username = None if principal.superuser else principal.name
        return [KeyPublic.model_validate(k) for k in access.list_keys(username)]

    @router.delete("/{key_id}", response_model=KeyPublic)
    def revoke_key(
        key_id: int,
        principal: Principal = Depends(Permission(AUTHENTICATED, "keys.revoke")),
    ) -> KeyPublic:
        """Revoke a key: yours, or any key of a project you administer."""
        key = access.get_key(key_id)
        role = principal.role_in(key.project)
        own = principal.kind != "local" and key.username == principal.name
        if not (own or principal.superuser or (role is not None and role.at_least(Role.ADMIN))):
            raise NotFound(f"API key {key_id} does not exist")
        return KeyPublic.model_validate(access.revoke_key(key_id))

    return router


def _audit_router(audit: AuditLog) -> APIRouter:
    router = APIRouter(prefix="/audit", tags=["audit"])

    @router.get(
        "",
        response_model=Page[AuditEventPublic],
        dependencies=[Depends(Permission("audit", "read", project=from_query()))],
    )
    def list_audit_events(
        project: str = Query("default", max_length=200),
        actor: str | None = Query(None, max_length=200),
        action: str | None = Query(None, max_length=200),
        object_type: str | None = Query(None, max_length=100),
        offset: int = Query(0, ge=0),
        limit: int = Query(100, ge=1, le=1000),
    ) -> Page[AuditEventPublic]:
        """A project's audit events, newest first."""
        events = audit.search(
            project=project,
            actor=actor,
            action=action,
            object_type=object_type,
            offset=offset,
            limit=limit + 1,
        )
        items = [AuditEventPublic.model_validate(e) for e in events]
        more = len(items) > limit
        return Page[AuditEventPublic](
            items=items[:limit], next_offset=offset + limit if more else None
        )

    @router.get(
        "/verify",
        response_model=AuditVerificationPublic,
        dependencies=[Depends(Permission(SERVER_ADMIN, "audit.verify"))],
    )
    def verify_audit_log(
        expect_head: str | None = Query(None, pattern=r"^[0-9a-f]{64}$"),
    ) -> AuditVerificationPublic:
        """Check the whole chain; names the first bad row."""
        return AuditVerificationPublic.model_validate(audit.verify(expect_head))

    @router.get(
        "/head",
        response_model=AuditHead,
        dependencies=[Depends(Permission(SERVER_ADMIN, "audit.head"))],
    )
    def audit_head() -> AuditHead:
        """The chain's length and newest hash: a checkpoint to keep outside the database."""
        count, head = audit.head()
        return AuditHead(count=count, head=head)

    return router
