"""ASGI middleware that appends every successful mutating request to the audit log.

The route's ``Permission`` leaves an ``AuditContext`` (who, which part and action, which
project) in the request state; once the route answers 2xx to a POST, PUT, PATCH or DELETE, this
records the event (the route template and path parameters name the object; an ``id`` or
``name`` in a JSON reply names a created one) before the reply reaches the client. If the audit
row cannot be written the client gets a 503 rather than an unaudited success.

High-volume data-plane routes (metric points, trace ingest) declare ``audit=False``: they are
recorded by their own data, not one audit row per batch.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from podium.access.audit import AuditLog
from podium.access.authz import EMBEDDED_SCOPE_KEY, AuditContext
from podium.access.policy import PROJECTLESS
from podium.errors import ServiceUnavailable
from podium.server.observability import route_template
from podium.server.problems import problem_response

log = logging.getLogger("podium.audit")
_MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_MAX_BUFFERED = 1024 * 1024


class AuditMiddleware:
    """Records successful mutations; passes everything else straight through."""

    def __init__(self, app: ASGIApp, audit_log: AuditLog) -> None:
        self.app = app
        self.audit_log = audit_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _MUTATING:
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        start: Message | None = None
        body = bytearray()
        passthrough = False

        async def audited_send(message: Message) -> None:
            nonlocal start, passthrough
            if passthrough:
                await send(message)
                return
            if message["type"] == "http.response.start":
                context = state.get("audit")
                if message["status"] >= 300 or not isinstance(context, AuditContext):
                    passthrough = True
                    await send(message)
                    return
                if not context.audit:
                    passthrough = True
                    await send(message)
                    return
                start = message
                return
            if message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                if len(body) < _MAX_BUFFERED:
                    body.extend(chunk)
                if message.get("more_body", False):
                    # Large streamed replies: record now and stream the rest unbuffered.
                    await self._record(scope, state["audit"], bytes(body))
                    passthrough = True
                    assert start is not None
                    await send(start)
                    await send({**message, "body": bytes(body)})
                    return
                try:
                    await self._record(scope, state["audit"], bytes(body))
                except ServiceUnavailable as exc:
                    await problem_response(exc)(scope, receive, send)
                    return
                assert start is not None
                await send(start)
                await send({**message, "body": bytes(body)})

        await self.app(scope, receive, audited_send)

    async def _record(self, scope: Scope, context: AuditContext, body: bytes) -> None:
        template = route_template(scope)
        params = {k: str(v) for k, v in scope.get("path_params", {}).items()}
        object_id = _object_id(params, body)
        details: dict[str, Any] = {"route": f"{scope['method']} {template}", "params": params}
        query = scope.get("query_string", b"").decode(errors="replace")
        if query:
            details["query"] = query[:500]
        client = scope.get("client")
        if scope.get(EMBEDDED_SCOPE_KEY):
            client = ("in-process", 0)  # the SDK or CLI in embedded mode, not a network peer
        try:
            await run_in_threadpool(
                self.audit_log.append,
                actor=context.principal.name,
                # Project-less permissions name their action in full ("users.manage").
                action=context.action
                if context.part in PROJECTLESS
                else f"{context.part}.{context.action}",
                object_type=context.part,
                object_id=object_id,
                project=context.project,
                remote_addr=client[0] if client else None,
                details=details,
            )
        except Exception as exc:
            log.exception("audit append failed for %s %s", scope["method"], template)
            raise ServiceUnavailable(
                "the change was applied but could not be recorded in the audit log; "
                "check the database and the server log"
            ) from exc


def _object_id(params: dict[str, str], body: bytes) -> str:
    identity = "/".join(f"{k}={v}" for k, v in params.items())
    try:
        reply = json.loads(body) if body else None
    except ValueError:
        reply = None
    if isinstance(reply, dict):
        named = [
            f"{key}={reply[key]}"
            for key in ("id", "name", "version", "prefix")
            if key in reply and not isinstance(reply[key], dict | list)
        ]
        if named:
            created = "/".join(named)
            return f"{identity}/{created}" if identity else created
    return identity or "-"
