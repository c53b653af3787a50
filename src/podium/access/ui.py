"""Web pages of the access part: login, logout and the audit log browser."""

from __future__ import annotations

from urllib.parse import urlparse

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from podium.access.audit import AuditLog
from podium.access.authz import SESSION_COOKIE, Permission, from_query
from podium.access.policy import AUTHENTICATED, PUBLIC
from podium.access.service import AccessService
from podium.errors import Unauthenticated
from podium.store.clock import now_ms


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect after login would be a phishing aid.
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parsed = urlparse(target)
    return target if not parsed.netloc and not parsed.scheme else "/"


def build_router(
    access: AccessService,
    audit: AuditLog,
    templates: Jinja2Templates,
    *,
    cookie_secure: bool = False,
) -> APIRouter:
    """Login/logout and the audit page."""
    router = APIRouter(include_in_schema=False)

    @router.get(
        "/login",
        response_class=HTMLResponse,
        dependencies=[Depends(Permission(PUBLIC, "session.login"))],
    )
    def login_page(request: Request, next: str = Query("/", max_length=2000)) -> Response:
        return templates.TemplateResponse(
            request, "access/login.html", {"next": _safe_next(next), "error": None}
        )

    @router.post(
        "/login",
        response_class=HTMLResponse,
        dependencies=[Depends(Permission(PUBLIC, "session.login"))],
    )
    def login(
        request: Request,
        username: str = Form(..., max_length=200),
        password: str = Form(..., max_length=1024),
        next: str = Form("/", max_length=2000),
    ) -> Response:
        client = request.client.host if request.client else "unknown"
        try:
            session = access.login(username, password, client)
        except Unauthenticated as exc:
            return templates.TemplateResponse(
                request,
                "access/login.html",
                {"next": _safe_next(next), "error": exc.message},
                status_code=401,
            )
        response = RedirectResponse(_safe_next(next), status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            session.token,
            max_age=max(0, (session.expires_at - now_ms()) // 1000),
            httponly=True,
            samesite="lax",
            secure=cookie_secure or request.url.scheme == "https",
            path="/",
        )
        return response

    @router.post("/logout", dependencies=[Depends(Permission(AUTHENTICATED, "session.logout"))])
    def logout(request: Request) -> Response:
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            access.logout(token)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @router.get(
        "/audit",
        response_class=HTMLResponse,
        dependencies=[Depends(Permission("audit", "read", project=from_query()))],
    )
    def audit_page(
        request: Request,
        project: str = Query("default", max_length=200),
        actor: str | None = Query(None, max_length=200),
        action: str | None = Query(None, max_length=200),
        offset: int = Query(0, ge=0),
    ) -> Response:
        limit = 50
        events = audit.search(
            project=project,
            actor=actor or None,
            action=action or None,
            offset=offset,
            limit=limit + 1,
        )
        return templates.TemplateResponse(
            request,
            "access/audit.html",
            {
                "project": project,
                "events": events[:limit],
                "actor": actor or "",
                "action": action or "",
                "offset": offset,
                "next_offset": offset + limit if len(events) > limit else None,
                "prev_offset": max(0, offset - limit) if offset else None,
            },
        )

    return router
