"""The one place errors become HTTP responses: RFC 9457 problem+json bodies.

``PodiumError`` subclasses carry their own status; FastAPI's validation errors become 422 with
the offending field named; unknown routes and methods keep their 404/405; anything else is a
bug, logged with its traceback on the server and answered with a bare 500 that leaks nothing.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from markupsafe import escape
from starlette.exceptions import HTTPException as StarletteHTTPException

from podium.errors import InvalidInput, PodiumError

log = logging.getLogger("podium.server")

PROBLEM_JSON = "application/problem+json"


def problem_response(error: PodiumError, headers: dict[str, str] | None = None) -> JSONResponse:
    """The problem+json response for ``error``."""
    return JSONResponse(
        error.to_problem(), status_code=error.status, media_type=PROBLEM_JSON, headers=headers
    )


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    # The first element says where the field was (body, query, path, header); the rest is
    # the field's own path, which may itself contain those words.
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_problem(errors: list[Any]) -> InvalidInput:
    """One ``InvalidInput`` describing pydantic/FastAPI validation errors, first field named."""
    described = []
    for err in errors[:10]:
        field = _field_path(err.get("loc", ()))
        described.append({"field": field, "message": str(err.get("msg", "invalid"))})
    first = described[0] if described else {"field": "body", "message": "invalid request"}
    detail = "; ".join(f"{d['field']}: {d['message']}" for d in described) or first["message"]
    return InvalidInput(detail, field=first["field"], errors=described)


def _wants_page(request: Request) -> bool:
    """A browser navigating the UI (not the API, not htmx fetching a fragment)."""
    return not request.url.path.startswith(
        ("/api/", "/v1/", "/otlp/")
    ) and "text/html" in request.headers.get("accept", "")


def _page_for(request: Request, error: PodiumError) -> Response:
    if error.status == 401 and request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    body = (
        f"<!doctype html><title>{error.status} {escape(error.title)}</title>"
        f"<main style='font-family:sans-serif;max-width:40rem;margin:4rem auto'>"
        f"<h1>{escape(error.title)}</h1><p>{escape(error.message)}</p>"
        f"<p><a href='/'>Back to Podium</a></p></main>"
    )
    return HTMLResponse(body, status_code=error.status)


def install(app: FastAPI) -> None:
    """Register the exception handlers on ``app``."""

    @app.exception_handler(PodiumError)
    async def _podium_error(request: Request, exc: PodiumError) -> Response:
        if exc.status >= 500:
            log.warning("%s: %s", type(exc).__name__, exc.message)
        if _wants_page(request):
            return _page_for(request, exc)
        return problem_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(validation_problem(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's "error parsing the body" (bytes that are not UTF-8 JSON): the same
            # malformed-input answer as any other unreadable body.
            return problem_response(
                InvalidInput("the request body is not valid UTF-8 JSON", field="body")
            )
        cls = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        body = {
            "type": f"https://podium.dev/problems/{cls}",
            "title": str(exc.detail) if exc.status_code in (404, 405) else "HTTP error",
            "status": exc.status_code,
            "detail": str(exc.detail),
        }
        return JSONResponse(
            body,
            status_code=exc.status_code,
            media_type=PROBLEM_JSON,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        body = {
            "type": "https://podium.dev/problems/internal",
            "title": "Internal error",
            "status": 500,
            "detail": "an unexpected error occurred; the server log has the details",
        }
        return JSONResponse(body, status_code=500, media_type=PROBLEM_JSON)
