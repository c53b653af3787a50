"""ASGI middleware that refuses request bodies over the configured size with HTTP 413.

It checks ``Content-Length`` up front and counts streamed chunks for chunked uploads, so an
oversized body is refused before it is buffered. Paths that stream large uploads to the blob
store (artifact uploads) are exempt: they never hold the body in memory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from podium.errors import PayloadTooLarge
from podium.server.problems import problem_response


class BodySizeLimit:
    """Wraps an ASGI app; bodies larger than ``max_bytes`` get a 413 problem response."""

    def __init__(self, app: ASGIApp, max_bytes: int, exempt: Sequence[str] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = tuple(exempt)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"request body is larger than {self.max_bytes} bytes; send less per request or "
            "raise PODIUM_MAX_BODY_BYTES"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].endswith(self.exempt):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await problem_response(self._too_large())(scope, receive, send)
                    return
        received = 0
        limit = self.max_bytes
        started = False
        refused = False

        async def counted_receive() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit and not refused:
                    # Answer 413 now: the framework would turn an exception raised while it
                    # reads the body into a generic 400.
                    refused = True
                    if not started:
                        await problem_response(self._too_large())(scope, receive, send)
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 has been sent; drop whatever the app answers after it
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with contextlib.suppress(_BodyTooLarge):
            await self.app(scope, counted_receive, guarded_send)


class _BodyTooLarge(Exception):
    pass
