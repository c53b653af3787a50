"""The one place every route is authorised.

Each route declares a ``Permission`` dependency (part, action, and how to find the project the
request touches). It authenticates the caller (the local user in single-user mode, an API key
sent as ``Authorization: Bearer``, or a UI session cookie with a CSRF token for unsafe methods),
finds the project, and checks the caller's role there against ``podium.access.policy``. It
leaves an ``AuditContext`` in the request state; the audit middleware records the action once
the route has succeeded. A test walks the route table and fails for any route without one.

OpenAI SDKs refuse to start without an API key, so in local single-user mode a bearer token that
is not shaped like a Podium key (``sk-local``, ``unused`` ...) is ignored rather than refused;
a Podium-shaped key is always checked. Authentication results are cached briefly by
``AccessService`` (``AUTH_CACHE_SECONDS``), and a cache hit is answered on the event loop with
no thread-pool hop: this is every request's path, the gateway's ``/v1`` included.

Outcomes: no or bad credentials → 401; a member of the project whose role is too low → 403; not
a member at all → 404 (a project's existence is not revealed across projects).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from podium.access.models import DEFAULT_PROJECT, LOCAL_ACTOR, Principal
from podium.access.policy import (
    AUTHENTICATED,
    POLICY,
    PROJECTLESS,
    PUBLIC,
    SERVER_ADMIN,
    allows,
    least_role,
)
from podium.access.secrets import key_prefix
from podium.access.service import AccessService
from podium.errors import Forbidden, NotFound, Unauthenticated

SESSION_COOKIE = "podium_session"
CSRF_HEADER = "x-csrf-token"
CSRF_FORM_FIELD = "csrf_token"
EMBEDDED_SCOPE_KEY = "podium.embedded"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

ProjectResolver = Callable[[Request], Awaitable[str | None]]


@dataclass(frozen=True)
class AuditContext:
    """What the audit middleware needs to record a successful mutating request."""

    principal: Principal
    part: str
    action: str
    project: str | None
    audit: bool


class AccessGate:
    """Authenticates requests; shared by every ``Permission`` through ``app.state``."""

    def __init__(self, access: AccessService, *, require_auth: bool = False) -> None:
        self.access = access
        self.require_auth = require_auth  # set when bound beyond loopback

    async def principal(self, request: Request) -> tuple[Principal, str | None]:
        """Who is calling, and the session's CSRF token when a cookie authenticated them."""
        cached = getattr(request.state, "principal", None)
        if cached is not None:
            return cached, getattr(request.state, "csrf", None)
        principal, csrf = await self._authenticate(request)
        request.state.principal = principal
        request.state.csrf = csrf
        return principal, csrf

    async def _authenticate(self, request: Request) -> tuple[Principal, str | None]:
        header = request.headers.get("authorization", "")
        if header:
            scheme, _, token = header.partition(" ")
            token = token.strip()
            if scheme.lower() != "bearer" or not token:
                raise Unauthenticated("use 'Authorization: Bearer <API key>'")
            if key_prefix(token) is None and await self._local_mode(request):
                return _LOCAL, None  # an OpenAI SDK's placeholder key in single-user mode
            cached = self.access.cached_key_principal(token)
            if cached is not None:
                return cached, None
            return await run_in_threadpool(self.access.authenticate_key, token), None
        cookie = request.cookies.get(SESSION_COOKIE)
        if cookie:
            try:
                principal, csrf = await run_in_threadpool(self.access.authenticate_session, cookie)
            except Unauthenticated:
                if await self._local_mode(request):
                    return _LOCAL, None
                raise
            return principal, csrf
        if await self._local_mode(request):
            return _LOCAL, None
        raise Unauthenticated(
            "authentication required: send 'Authorization: Bearer <API key>' (create one with "
            "`podium keys create`) or log in at /login"
        )

    async def _local_mode(self, request: Request) -> bool:
        if request.scope.get(EMBEDDED_SCOPE_KEY):
            return True  # in-process callers already hold the database files
        if self.require_auth:
            return False
        cached = self.access.cached_users_exist()
        if cached is not None:
            return not cached
        return not await run_in_threadpool(self.access.users_exist)


_LOCAL = Principal(name=LOCAL_ACTOR, kind="local", superuser=True)


class Permission:
    """A route's declared permission, used as ``dependencies=[Depends(Permission(...))]``."""

    def __init__(
        self,
        part: str,
        action: str,
        *,
        project: ProjectResolver | None = None,
        audit: bool = True,
    ) -> None:
        if part not in PROJECTLESS:
            least_role(part, action)  # fail at import time for an undeclared action
            if project is None:
                raise ValueError(f"{part}:{action} needs a project resolver")
        self.part = part
        self.action = action
        self.project = project
        self.audit = audit

    def __repr__(self) -> str:
        return f"Permission({self.part}:{self.action})"

    async def __call__(self, request: Request) -> Principal:
        gate: AccessGate = request.app.state.access_gate
        if self.part == PUBLIC:
            return _LOCAL
        principal, csrf = await gate.principal(request)
        if csrf is not None and request.method in _UNSAFE:
            await _check_csrf(request, csrf)
        project: str | None = None
        if self.part == SERVER_ADMIN:
            if not principal.superuser:
                raise Forbidden(
                    "only a server admin may do this; see `podium users create --admin`"
                )
        elif self.part != AUTHENTICATED:
            assert self.project is not None
            project = await self.project(request) or DEFAULT_PROJECT
            role = principal.role_in(project)
            if role is None:
                raise NotFound(f"project {project!r} does not exist or you are not a member of it")
            if not allows(role, self.part, self.action):
                need = POLICY[self.part][self.action].value
                raise Forbidden(
                    f"{self.part}:{self.action} in project {project!r} needs the {need} role; "
                    f"you are {role.value}"
                )
        request.state.audit = AuditContext(principal, self.part, self.action, project, self.audit)
        return principal


async def _check_csrf(request: Request, expected: str) -> None:
    presented = request.headers.get(CSRF_HEADER)
    if presented is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FORM_FIELD)
        presented = value if isinstance(value, str) else None
    if presented != expected:
        raise Forbidden("missing or wrong CSRF token; reload the page and try again")


# -- project resolvers ------------------------------------------------------------------------


def from_query(name: str = "project") -> ProjectResolver:
    """The project named by a query parameter (default project when absent)."""

    async def resolve(request: Request) -> str | None:
        return request.query_params.get(name)

    return resolve


def from_body(field: str = "project") -> ProjectResolver:
    """The project named by a JSON body field (default project when absent or unreadable)."""

    async def resolve(request: Request) -> str | None:
        try:
            body: Any = json.loads(await request.body() or b"{}")
        except ValueError:
            return None  # the route's own validation reports the malformed body
        value = body.get(field) if isinstance(body, dict) else None
        return value if isinstance(value, str) else None

    return resolve


def from_path(param: str, project_of: Callable[[str], str]) -> ProjectResolver:
    """The project that owns the object named by a path parameter (e.g. a run id)."""

    async def resolve(request: Request) -> str | None:
        return await run_in_threadpool(project_of, request.path_params[param])

    return resolve


def from_query_list(param: str, project_of: Callable[[str], str]) -> ProjectResolver:
    """The one project owning every object in a repeated query parameter (run comparisons)."""

    async def resolve(request: Request) -> str | None:
        ids = request.query_params.getlist(param)
        projects = {await run_in_threadpool(project_of, value) for value in ids}
        if len(projects) > 1:
            raise Forbidden("the objects belong to different projects; compare within one project")
        return projects.pop() if projects else None

    return resolve
