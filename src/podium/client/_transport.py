"""The SDK's two transports over one code path: HTTP to a server, or the same app in-process.

``connect(url)`` returns an ``httpx.Client``. With a URL it talks HTTP to that server. Without
one (embedded mode) it builds the Podium app from the local settings and drives it through an
in-process ASGI bridge: a private event loop on a daemon thread runs the app, so the SDK's
synchronous calls go through exactly the routes, validation and errors a server would apply.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, MutableMapping
from typing import Any

import httpx

from podium import errors

DEFAULT_TIMEOUT = httpx.Timeout(60.0, connect=10.0)
# The same key as podium.access.authz.EMBEDDED_SCOPE_KEY (not imported: the SDK stays light).
EMBEDDED_SCOPE_KEY = "podium.embedded"


class InProcessTransport(httpx.BaseTransport):
    """An ``httpx`` transport that calls an ASGI app in this process."""

    def __init__(
        self,
        app: Any,
        on_close: Callable[[], None] | None = None,
        *,
        embedded: bool = True,
        on_loop_close: Callable[[], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        async def embedded_app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
            # Marks in-process calls: whoever holds the database files needs no login.
            await app({**scope, EMBEDDED_SCOPE_KEY: True}, receive, send)

        # embedded=False makes requests look like a loopback HTTP client's (used by tests).
        self._asgi = httpx.ASGITransport(app=embedded_app if embedded else app)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="podium-embedded", daemon=True
        )
        self._thread.start()
        self._on_close = on_close
        self._on_loop_close = on_loop_close

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Run the request through the app and return the fully read response.

        The request body is handed over chunk by chunk, so an upload (an artifact) streams
        into the app as it would over HTTP instead of being read whole first.
        """
        future = asyncio.run_coroutine_threadsafe(self._send(request), self._loop)
        status, headers, content = future.result()
        return httpx.Response(status, headers=headers, content=content, request=request)

    async def _send(self, request: httpx.Request) -> tuple[int, httpx.Headers, bytes]:
        if isinstance(request.stream, httpx.SyncByteStream):
            chunks = request.stream

            async def body() -> AsyncIterator[bytes]:
                # Runs on the private loop thread, so the blocking read stalls nothing else.
                for chunk in chunks:
                    yield chunk

            request = httpx.Request(
                request.method, request.url, headers=request.headers, content=body()
            )
        response = await self._asgi.handle_async_request(request)
        content = await response.aread()
        return response.status_code, response.headers, content

    def close(self) -> None:
        """Stop the loop thread and release the app's resources.

        ``on_loop_close`` runs on the private loop first: connections opened on it (the
        gateway's upstream pools) can only be closed there.
        """
        if self._on_loop_close is not None and self._loop.is_running():
            closing = asyncio.run_coroutine_threadsafe(self._on_loop_close(), self._loop)
            try:
                closing.result(timeout=5)
            except Exception:  # closing must go on whatever the pools did
                closing.cancel()
            self._on_loop_close = None
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
        if not self._loop.is_running() and not self._loop.is_closed():
            self._loop.close()
        if self._on_close is not None:
            self._on_close()
            self._on_close = None


def embedded_transport(settings: Any = None) -> InProcessTransport:
    """A transport to a Podium app built in-process from ``settings`` (env when None)."""
    try:
        # The server stack is an optional extra; the SDK alone imports only httpx and pydantic.
        from podium.server.app import build, create_app
        from podium.settings import Settings
    except ModuleNotFoundError as exc:
        raise errors.MissingExtra(
            "embedded mode runs the Podium server in-process and needs the 'server' extra: "
            "pip install 'podium[server]', or set PODIUM_URL to a running server"
        ) from exc
    services = build(settings if settings is not None else Settings())
    return InProcessTransport(
        create_app(services), on_close=services.close, on_loop_close=services.gateway.aclose
    )


def connect(url: str | None, *, settings: Any = None, api_key: str | None = None) -> httpx.Client:
    """An ``httpx.Client`` for the REST API at ``url``, or in-process when ``url`` is None."""
    headers = {"User-Agent": "podium-sdk"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    if url:
        return httpx.Client(
            base_url=url.rstrip("/") + "/api/v1",
            headers=headers,
            timeout=DEFAULT_TIMEOUT,
            limits=httpx.Limits(max_keepalive_connections=8),
        )
    return httpx.Client(
        base_url="http://podium.embedded/api/v1",
        headers=headers,
        transport=embedded_transport(settings),
        timeout=DEFAULT_TIMEOUT,
    )


def raise_for_problem(response: httpx.Response) -> None:
    """Raise the ``podium.errors`` class the server's problem body describes."""
    if response.is_success:
        return
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text[:500] or response.reason_phrase}
    raise errors.from_problem(response.status_code, body if isinstance(body, dict) else None)
