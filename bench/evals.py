"""Eval suite benchmark: items/s of a suite and the overhead per item over calling the target.

    .venv/bin/python bench/evals.py [--items 400] [--concurrency 8]

Measured in one invocation against a local OpenAI-compatible mock on a free loopback port (it
answers at once, so the numbers show Podium's own cost), with an embedded Podium on a fresh
SQLite home:

- ``direct``: the same chat completions sent straight to the mock from a thread pool of the same
  size (what a hand-written loop costs);
- ``suite``: ``run_suite`` with an OpenAI-compatible target and exact_match + f1 + rouge_l:
  dataset read, calls, scoring, batched uploads, aggregation and the tracking run;
- ``suite (second run)``: a second suite of the same shape, once everything is warm.

Prints items/s per row and the overhead per item (suite minus direct) in milliseconds. Never a
timed assertion in the tests.
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from podium.client import Client
from podium.evals._openai import chat_completion
from podium.evals.runner import run_suite
from podium.evals.suite import parse_suite
from podium.server.app import build
from podium.settings import Settings


class _Mock(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = body["messages"][-1]["content"].split()[-1]
        payload = json.dumps(
            {"choices": [{"message": {"role": "assistant", "content": text}}], "usage": {}}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    server = ThreadingHTTPServer(("127.0.0.1", 0), _Mock)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    rows = [{"input": f"Say the word w{i}", "expected": f"w{i}"} for i in range(args.items)]

    with tempfile.TemporaryDirectory() as home:
        services = build(Settings(home=Path(home)))
        data = "".join(json.dumps(r) + "\n" for r in rows).encode()
        services.data.import_rows("default", "bench", io.BytesIO(data))
        client = Client(settings=Settings(home=Path(home)))

        http = httpx.Client()
        started = time.perf_counter()
        with ThreadPoolExecutor(args.concurrency) as pool:
            list(
                pool.map(
                    lambda r: chat_completion(
                        http, url, "mock", [{"role": "user", "content": r["input"]}]
                    ),
                    rows,
                )
            )
        direct = time.perf_counter() - started
        http.close()

        results = []
        for label, name in (("suite", "bench-a"), ("suite (second run)", "bench-b")):
            suite = parse_suite(
                {
                    "name": name,
                    "dataset": "bench",
                    "targets": [{"name": "mock", "url": url, "model": "mock"}],
                    "scorers": ["exact_match", "f1", "rouge_l"],
                    "concurrency": args.concurrency,
                }
            )
            started = time.perf_counter()
            (outcome,) = run_suite(suite, client)
            elapsed = time.perf_counter() - started
            assert outcome.experiment["metrics"]["exact_match"] == 1.0
            results.append((label, elapsed))
        client.close()
        services.close()
    server.shutdown()

    n = args.items
    print(f"{n} items, concurrency {args.concurrency}, mock OpenAI-compatible server on loopback")
    print(f"{'path':<22}{'items/s':>10}{'overhead ms/item':>18}")
    print(f"{'direct':<22}{n / direct:>10.0f}{'-':>18}")
    for label, elapsed in results:
        overhead = (elapsed - direct) / n * 1000
        print(f"{label:<22}{n / elapsed:>10.0f}{overhead:>18.2f}")


if __name__ == "__main__":
    main()
