"""The OpenAI-compatible endpoints: ``/v1/chat/completions``, ``/v1/completions``,
``/v1/embeddings`` and ``/v1/models``.

These are the hot path, so they read the raw body with ``json.loads`` (no pydantic model, no
body dependency) and check only what the gateway itself needs; the provider validates the rest.
Every route declares ``gateway:invoke`` (viewers and up; not audited, each request becomes a
tracing span instead). The project is the ``x-podium-project`` header, else the API key's
project, else ``default`` (local mode).
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from starlette.responses import Response, StreamingResponse

from podium.access.authz import Permission
from podium.access.secrets import key_prefix
from podium.gateway import openai_wire
from podium.gateway.dispatch import CHAT, COMPLETIONS, EMBEDDINGS, Caller, Gateway
from podium.gateway.openai_wire import SSE_DONE, OpenAIError, json_response, sse_event

PROJECT_HEADER = "x-podium-project"
SESSION_HEADER = "x-podium-session"


async def caller_project(request: Request) -> str | None:
    """The project of a ``/v1`` request: the ``x-podium-project`` header or ``project`` query
    parameter, else the API key's project, else ``default``."""
    named = request.headers.get(PROJECT_HEADER) or request.query_params.get("project")
    if named:
        return named
    principal = getattr(request.state, "principal", None)
    if principal is not None and principal.kind == "key" and len(principal.roles) == 1:
        return str(next(iter(principal.roles)))
    return None


def _caller(request: Request, body: dict[str, Any]) -> Caller:
    audit = getattr(request.state, "audit", None)
    project = audit.project if audit is not None and audit.project else "default"
    token = request.headers.get("authorization", "").partition(" ")[2].strip()
    user = body.get("user")
    sticky = request.headers.get(SESSION_HEADER) or (user if isinstance(user, str) else None)
    return Caller(project=project, key=key_prefix(token) if token else None, sticky=sticky)


async def _body(request: Request, operation: str) -> dict[str, Any]:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise OpenAIError(
            "the request body is not valid JSON; send a JSON object such as "
            '{"model": "...", "messages": [...]}'
        ) from exc
    if not isinstance(body, dict):
        raise OpenAIError("the request body must be a JSON object")
    required = {CHAT: "messages", COMPLETIONS: "prompt", EMBEDDINGS: "input"}[operation]
    value = body.get(required)
    if value is None:
        raise OpenAIError(f"'{required}' is required", param=required)
    if operation == CHAT and (
        not isinstance(value, list) or not all(isinstance(m, dict) for m in value)
    ):
        raise OpenAIError("'messages' must be a list of message objects", param="messages")
    if operation != CHAT and not isinstance(value, str | list):
        raise OpenAIError(f"'{required}' must be a string or a list", param=required)
    if "stream" in body and not isinstance(body["stream"], bool):
        raise OpenAIError("'stream' must be true or false", param="stream")
    if operation == EMBEDDINGS and body.get("stream"):
        raise OpenAIError("embeddings cannot be streamed", param="stream")
    return body


async def _sse(chunks: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    try:
        async for chunk in chunks:
            yield sse_event(chunk)
            if "error" in chunk and "choices" not in chunk:
                return  # a failure mid-stream ends it with the error event, no [DONE]
        yield SSE_DONE
    finally:
        with contextlib.suppress(RuntimeError):
            await chunks.aclose()  # type: ignore[attr-defined]


def build_router(gateway: Gateway) -> APIRouter:
    """The ``/v1`` router, bound to the serving path."""
    router = APIRouter(prefix="/v1", tags=["gateway"], include_in_schema=False)
    invoke = [Depends(Permission("gateway", "invoke", project=caller_project, audit=False))]

    async def serve(request: Request, operation: str) -> Response:
        body = await _body(request, operation)
        caller = _caller(request, body)
        if body.get("stream"):
            headers, chunks = await gateway.stream(operation, body, caller)
            return StreamingResponse(
                _sse(chunks),
                media_type="text/event-stream",
                headers={**headers, "Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        answer = await gateway.call(operation, body, caller)
        return json_response(answer.body, headers=answer.headers)

    @router.post("/chat/completions", dependencies=invoke)
    async def chat_completions(request: Request) -> Response:
        """OpenAI chat completions (streamed with ``stream: true``)."""
        return await serve(request, CHAT)

    @router.post("/completions", dependencies=invoke)
    async def completions(request: Request) -> Response:
        """OpenAI (legacy) text completions."""
        return await serve(request, COMPLETIONS)

    @router.post("/embeddings", dependencies=invoke)
    async def embeddings(request: Request) -> Response:
        """OpenAI embeddings."""
        return await serve(request, EMBEDDINGS)

    @router.get("/models", dependencies=invoke)
    async def models(request: Request) -> Response:
        """The project's routes, as OpenAI models."""
        audit = getattr(request.state, "audit", None)
        project = audit.project if audit is not None and audit.project else "default"
        routes = await gateway.routes_of(project)
        data = [
            {
                "id": route.name,
                "object": "model",
                "created": int(route.created_at.timestamp()),
                "owned_by": project,
            }
            for route in routes
        ]
        return json_response({"object": "list", "data": data})

    return router


def install(app: FastAPI, gateway: Gateway, *, warm_up: bool = False) -> None:
    """Mount ``/v1``, answer its errors in OpenAI's format, and close the gateway on shutdown.

    With ``warm_up``, the local models the routes use start loading in a background thread when
    the server starts (the server answers at once; requests for them wait for the load).

    Call after ``podium.server.problems.install``. On shutdown uvicorn first lets in-flight
    requests (streams included) finish; then the providers' connections are closed and the
    queued tracing spans are written.
    """
    app.include_router(build_router(gateway))
    openai_wire.install(app)
    original = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(inner: Any) -> AsyncIterator[Any]:
        if warm_up:
            threading.Thread(target=gateway.warm_up, name="podium-warm-up", daemon=True).start()
        async with original(inner) as state:
            yield state
        await gateway.aclose()
        gateway.recorder.close()

    app.router.lifespan_context = lifespan
