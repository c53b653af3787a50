"""A fault-injecting OpenAI-compatible upstream on 127.0.0.1, for the gateway's tests.

One aiohttp server on a daemon thread serves any number of named backends under
``/<name>/v1``; each backend has its own behaviour, set with ``upstream.set(name, mode, ...)``,
and counts its calls:

- ``ok``: a canned chat completion / text completion / embedding (streamed when asked);
- ``slow``: the same after ``delay_s``;
- ``429`` / ``500``: that status with an OpenAI error body;
- ``drop``: the connection is closed without an answer;
- ``malformed``: 200 with a body that is not JSON;
- ``cut``: a stream whose connection is closed after the first chunk;
- ``fail_times=N`` limits a failing mode to the first N calls, after which the backend is ``ok``.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass
from typing import Any

from aiohttp import web

USAGE = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}


@dataclass
class Backend:
    mode: str = "ok"
    delay_s: float = 0.0
    fail_times: int | None = None
    chunk_delay_s: float = 0.01
    calls: int = 0
    failures: int = 0
    last_body: Any = None
    last_authorization: str | None = None


class FaultyUpstream:
    """The server; ``base(name)`` is the base URL a deployment uses for backend ``name``."""

    def __init__(self) -> None:
        self.backends: dict[str, Backend] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self.port = 0

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{name}/v1/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    def base(self, name: str) -> str:
        self.backends.setdefault(name, Backend())
        return f"http://127.0.0.1:{self.port}/{name}/v1"

    def set(
        self, name: str, mode: str = "ok", *, delay_s: float = 0.0, fail_times: int | None = None
    ) -> Backend:
        backend = self.backends.setdefault(name, Backend())
        backend.mode, backend.delay_s, backend.fail_times = mode, delay_s, fail_times
        backend.failures = 0
        return backend

    def calls(self, name: str) -> int:
        return self.backends[name].calls if name in self.backends else 0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        path = request.match_info["path"]
        backend = self.backends.setdefault(name, Backend())
        if path == "models":
            return web.json_response({"object": "list", "data": [{"id": f"{name}-model"}]})
        backend.calls += 1
        body = await request.json()
        backend.last_body = body
        backend.last_authorization = request.headers.get("Authorization")
        mode = backend.mode
        if mode != "ok" and backend.fail_times is not None:
            if backend.failures >= backend.fail_times:
                mode = "ok"
            else:
                backend.failures += 1
        if mode == "slow" or backend.delay_s:
            await asyncio.sleep(backend.delay_s)
        if mode in ("400", "429", "500"):
            status = int(mode)
            error = {"message": f"{name} says {status}", "type": "server_error", "code": None}
            return web.json_response({"error": error}, status=status)
        if mode == "drop":
            assert request.transport is not None
            request.transport.close()
            raise ConnectionResetError("dropped on purpose")
        if mode == "malformed":
            return web.Response(text="{not json", content_type="application/json")
        if body.get("stream") or mode == "cut":
            return await self._stream(request, name, path, body)
        return web.json_response(_answer(name, path, body))

    async def _stream(
        self, request: web.Request, name: str, path: str, body: dict[str, Any]
    ) -> web.StreamResponse:
        reply = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await reply.prepare(request)
        for word in ("hello", " from", f" {name}"):
            if path == "chat/completions":
                chunk: dict[str, Any] = {
                    "id": "chatcmpl-up",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": body["model"],
                    "choices": [{"index": 0, "delta": {"content": word}, "finish_reason": None}],
                }
            else:
                chunk = {
                    "id": "cmpl-up",
                    "object": "text_completion",
                    "created": 1,
                    "model": body["model"],
                    "choices": [{"index": 0, "text": word, "finish_reason": None}],
                }
            await reply.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            await asyncio.sleep(self.backends[name].chunk_delay_s)
            if self.backends[name].mode == "cut":
                assert request.transport is not None
                request.transport.close()  # the connection dies mid-stream
                return reply
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {
                "id": "x",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": body["model"],
                "choices": [],
                "usage": USAGE,
            }
            await reply.write(b"data: " + json.dumps(usage).encode() + b"\n\n")
        await reply.write(b"data: [DONE]\n\n")
        await reply.write_eof()
        return reply


def _answer(name: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    if path == "embeddings":
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return {
            "object": "list",
            "model": body["model"],
            "data": [
                {"object": "embedding", "index": i, "embedding": [0.1, 0.2, float(i)]}
                for i in range(len(inputs))
            ],
            "usage": {"prompt_tokens": 3, "total_tokens": 3},
        }
    if path == "completions":
        return {
            "id": "cmpl-up",
            "object": "text_completion",
            "created": 1,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "text": f"hello from {name}",
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": USAGE,
        }
    return {
        "id": "chatcmpl-up",
        "object": "chat.completion",
        "created": 1,
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": f"hello from {name}"},
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
    }
