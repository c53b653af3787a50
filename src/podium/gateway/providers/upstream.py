"""The ``openai`` provider: any OpenAI-compatible upstream (vLLM, TGI, Ollama, OpenAI itself).

Bodies pass through as JSON; streams are relayed event by event as they arrive (nothing is
buffered beyond one SSE event). aiohttp is the client because its pooled connector costs a
fraction of httpx's per request (see NOTES "Gateway hot path"). The API key is read from the
named environment variable when the provider is built and only ever sent upstream.

Every failure becomes a ``ProviderError``: 429 and 5xx answers, timeouts, refused or dropped
connections and unreadable bodies are retryable; other 4xx answers are the caller's mistake and
pass through with their status.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from podium.gateway.providers.base import JSONObject, ProviderError, ProviderModel

_TRANSPORT_ERRORS = (aiohttp.ClientError, TimeoutError, OSError, ValueError)


class UpstreamProvider:
    """Talks to one OpenAI-compatible base URL with one pooled aiohttp session per event loop."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 60.0,
        total_timeout_s: float = 300.0,
        name: str = "openai",
    ) -> None:
        self.name = name
        self._base = base_url.rstrip("/")
        self._headers = {"Content-Type": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._timeout = aiohttp.ClientTimeout(
            total=total_timeout_s, sock_connect=connect_timeout_s, sock_read=read_timeout_s
        )
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _client(self) -> aiohttp.ClientSession:
        # A session belongs to the loop it was made on; the in-process transport and the server
        # each run their own loop, so a provider shared between them keeps one per loop.
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            self._retire(loop)
            connector = aiohttp.TCPConnector(limit=256, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, headers=self._headers
            )
            self._loop = loop
        return self._session

    def _retire(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close the session of the loop we are leaving, on that loop, if it still runs."""
        old, old_loop = self._session, self._loop
        self._session = None
        if old is None or old.closed or old_loop is None or old_loop is loop:
            return
        if old_loop.is_running():
            asyncio.run_coroutine_threadsafe(old.close(), old_loop)
        # A closed loop took its sockets with it; nothing is left to close there.

    async def _post(self, path: str, request: JSONObject) -> JSONObject:
        try:
            async with self._client().post(self._base + path, data=json.dumps(request)) as reply:
                body = await reply.read()
                if reply.status >= 400:
                    raise _status_error(reply.status, body)
        except ProviderError:
            raise
        except _TRANSPORT_ERRORS as exc:  # every transport failure maps to one error
            raise _transport_error(exc) from exc
        try:
            parsed = json.loads(body)
        except ValueError as exc:
            raise ProviderError(
                f"upstream {self._base} answered with malformed JSON", status=502
            ) from exc
        if not isinstance(parsed, dict):
            raise ProviderError(f"upstream {self._base} answered with a non-object", status=502)
        return parsed

    async def _stream(self, path: str, request: JSONObject) -> AsyncIterator[JSONObject]:
        try:
            async with self._client().post(self._base + path, data=json.dumps(request)) as reply:
                if reply.status >= 400:
                    raise _status_error(reply.status, await reply.read())
                async for line in reply.content:
                    if not line.startswith(b"data:"):
                        continue  # blank separators, comments, event: lines
                    data = line[5:].strip()
                    if data == b"[DONE]":
                        return
                    try:
                        chunk = json.loads(data)
                    except ValueError as exc:
                        raise ProviderError(
                            f"upstream {self._base} sent a malformed stream event", status=502
                        ) from exc
                    if isinstance(chunk, dict) and "error" in chunk and "choices" not in chunk:
                        raise ProviderError(
                            f"upstream {self._base} failed mid-stream: {chunk['error']}",
                            status=502,
                        )
                    yield chunk
        except ProviderError:
            raise
        except _TRANSPORT_ERRORS as exc:
            raise _transport_error(exc) from exc

    async def chat(self, request: JSONObject) -> JSONObject:
        """A ``chat.completion`` from the upstream."""
        return await self._post("/chat/completions", request)

    def stream_chat(self, request: JSONObject) -> AsyncIterator[JSONObject]:
        """The upstream's ``chat.completion.chunk`` events, relayed as they arrive."""
        return self._stream("/chat/completions", request)

    async def complete(self, request: JSONObject) -> JSONObject:
        """A ``text_completion`` from the upstream."""
        return await self._post("/completions", request)

    def stream_complete(self, request: JSONObject) -> AsyncIterator[JSONObject]:
        """The upstream's ``text_completion`` chunks."""
        return self._stream("/completions", request)

    async def embed(self, request: JSONObject) -> JSONObject:
        """An embeddings list from the upstream."""
        return await self._post("/embeddings", request)

    async def models(self) -> list[ProviderModel]:
        """The upstream's ``/models`` list."""
        try:
            async with self._client().get(self._base + "/models") as reply:
                body = await reply.read()
                if reply.status >= 400:
                    raise _status_error(reply.status, body)
            data = json.loads(body).get("data", [])
        except ProviderError:
            raise
        except _TRANSPORT_ERRORS as exc:
            raise _transport_error(exc) from exc
        return [ProviderModel(str(m.get("id")), str(m.get("owned_by", "upstream"))) for m in data]

    def close_sync(self) -> None:
        """Close the pooled connections from a thread outside the session's event loop."""
        session, loop = self._session, self._loop
        self._session = None
        if session is None or session.closed or loop is None or loop.is_closed():
            return
        if loop.is_running():
            future = asyncio.run_coroutine_threadsafe(session.close(), loop)
            with contextlib.suppress(Exception):
                future.result(timeout=5)
        else:
            loop.run_until_complete(session.close())

    async def aclose(self) -> None:
        """Close the pooled connections."""
        if self._session is not None and not self._session.closed:
            # RuntimeError: its loop is gone, and the connections died with it.
            with contextlib.suppress(RuntimeError):
                await self._session.close()
        self._session = None


def _upstream_message(body: bytes) -> str:
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        return body[:200].decode(errors="replace")
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict):
        return str(error.get("message", ""))[:500]
    return str(error or parsed)[:500]


def _status_error(status: int, body: bytes) -> ProviderError:
    message = _upstream_message(body)
    if status == 429:
        return ProviderError(
            f"upstream rate limit: {message}", status=429, kind="rate_limit_error", retryable=True
        )
    if status >= 500:
        return ProviderError(f"upstream error {status}: {message}", status=502, retryable=True)
    if status in (401, 403):
        # The gateway's own key for the upstream is wrong: an operator problem, not the caller's.
        return ProviderError(
            f"the upstream refused the gateway's credentials ({status}): {message}",
            status=502,
            retryable=False,
        )
    return ProviderError(message, status=status, kind="invalid_request_error", retryable=False)


def _transport_error(exc: BaseException) -> ProviderError:
    if isinstance(exc, TimeoutError):
        return ProviderError("the upstream timed out", status=504, kind="timeout", retryable=True)
    return ProviderError(
        f"cannot reach the upstream: {type(exc).__name__}: {exc}", status=502, retryable=True
    )
