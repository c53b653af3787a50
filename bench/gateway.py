"""Gateway benchmark: latency added by the gateway and its maximum requests/s, against calling the
same upstream directly, in one run.

    .venv/bin/python bench/gateway.py [--quick] [--seconds 4] [--rate 500] [--concurrency 16]

A tiny aiohttp server (its own process) answers ``/v1/chat/completions`` with a canned
completion. ``podium server`` (its own process, fresh SQLite home, local mode) has one route,
``bench``, to it (``PODIUM_GATEWAY_CONFIG``). The client (aiohttp, this process) sends the same
request body to both, measured three ways:

1. **sequential**: one keep-alive connection, one request at a time; p50/p99 latency;
2. **fixed rate**: ``--rate`` requests/s for ``--seconds`` (open loop, one request started every
   1/rate s whatever the answers do); p50/p99 latency;
3. **max throughput**: ``--concurrency`` requests always in flight for ``--seconds``; requests/s.

Alongside, the server's own CPU time per request during the sequential phase (from
``/proc/PID/stat``): on a shared, busy machine the wall-clock numbers swing with the load, while
CPU per request still compares one version of the gateway with another.

The gateway's added latency is its percentile minus the direct one. Results print as a table and
go to ``bench/results/gateway.json``. Never a timed assertion in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "gateway.json"
BODY = json.dumps(
    {"model": "bench", "messages": [{"role": "user", "content": "Say hello in five words."}]}
).encode()

UPSTREAM_SOURCE = """
import json, sys
from aiohttp import web
ANSWER = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1, "model": "canned",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "Hello there, how are you?"}}],
    "usage": {"prompt_tokens": 12, "completion_tokens": 7, "total_tokens": 19},
}).encode()
async def chat(request):
    await request.read()
    return web.Response(body=ANSWER, content_type="application/json")
app = web.Application()
app.router.add_post("/v1/chat/completions", chat)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: process exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(url)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (Linux; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def sequential(url: str, count: int) -> list[float]:
    """Latencies (ms) of ``count`` requests one after another on one keep-alive connection."""
    connector = aiohttp.TCPConnector(limit=1)
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
    out = []
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        for _ in range(50):  # warm-up: connections, imports, caches
            async with session.post(url, data=BODY) as reply:
                await reply.read()
        for _ in range(count):
            began = time.perf_counter()
            async with session.post(url, data=BODY) as reply:
                await reply.read()
                assert reply.status == 200, reply.status
            out.append((time.perf_counter() - began) * 1000)
    return out


async def fixed_rate(url: str, rate: float, seconds: float) -> tuple[list[float], int]:
    """Latencies (ms) at an open-loop ``rate``; and how many failed."""
    connector = aiohttp.TCPConnector(limit=256)
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
    latencies: list[float] = []
    failed = 0

    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def one() -> None:
            nonlocal failed
            began = time.perf_counter()
            try:
                async with session.post(url, data=BODY) as reply:
                    await reply.read()
                    if reply.status != 200:
                        failed += 1
                        return
            except aiohttp.ClientError:
                failed += 1
                return
            latencies.append((time.perf_counter() - began) * 1000)

        tasks = []
        start = time.perf_counter()
        total = int(rate * seconds)
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return latencies, failed


async def max_throughput(url: str, concurrency: int, seconds: float) -> float:
    """Requests/s with ``concurrency`` requests always in flight."""
    connector = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"}
    done = 0
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                async with session.post(url, data=BODY) as reply:
                    await reply.read()
                    if reply.status == 200:
                        done += 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="Shorter runs (a smoke test).")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--sequential", type=int, default=2000)
    args = parser.parse_args()
    if args.quick:
        args.seconds, args.sequential = 1.0, 300

    with tempfile.TemporaryDirectory(prefix="podium-bench-gw-") as tmp:
        up_port, gw_port = free_port(), free_port()
        upstream = subprocess.Popen(
            [sys.executable, "-c", UPSTREAM_SOURCE, str(up_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        config = Path(tmp) / "gateway.yaml"
        config.write_text(
            "routes:\n  - name: bench\n    retries: 0\n    deployments:\n"
            f"      - {{name: up, model: canned, base_url: 'http://127.0.0.1:{up_port}/v1'}}\n"
        )
        env = {
            **os.environ,
            "PODIUM_HOME": str(Path(tmp) / "home"),
            "PODIUM_GATEWAY_CONFIG": str(config),
            "PODIUM_LOG_LEVEL": "warning",
        }
        env.pop("PODIUM_DATABASE_URL", None)
        gateway = subprocess.Popen(
            [sys.executable, "-m", "podium.cli.main", "server", "--port", str(gw_port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            direct_url = f"http://127.0.0.1:{up_port}/v1/chat/completions"
            gateway_url = f"http://127.0.0.1:{gw_port}/v1/chat/completions"
            wait_ready(f"http://127.0.0.1:{up_port}/", upstream)
            wait_ready(f"http://127.0.0.1:{gw_port}/api/v1/health", gateway)
            pids = {"direct": upstream.pid, "gateway": gateway.pid}
            results = asyncio.run(run_all(direct_url, gateway_url, pids, args))
        finally:
            for proc in (gateway, upstream):
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    report(results, args)


async def run_all(
    direct: str, gateway: str, pids: dict[str, int], args: argparse.Namespace
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, url in (("direct", direct), ("gateway", gateway)):
        cpu_before = cpu_seconds(pids[label])
        seq = await sequential(url, args.sequential)
        # The warm-up requests count too: 50 of them before the measured ones.
        cpu_ms = (cpu_seconds(pids[label]) - cpu_before) * 1000 / (args.sequential + 50)
        rated, failed = await fixed_rate(url, args.rate, args.seconds)
        rps = await max_throughput(url, args.concurrency, args.seconds)
        out[label] = {
            "sequential_p50_ms": statistics.median(seq),
            "sequential_p99_ms": pct(seq, 0.99),
            "server_cpu_ms_per_request": cpu_ms,
            "rate_p50_ms": statistics.median(rated) if rated else float("nan"),
            "rate_p99_ms": pct(rated, 0.99),
            "rate_failed": failed,
            "max_rps": rps,
        }
    return out


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    direct, gateway = results["direct"], results["gateway"]
    rows = [
        ("sequential p50 (ms)", "sequential_p50_ms"),
        ("sequential p99 (ms)", "sequential_p99_ms"),
        ("server CPU per request (ms)", "server_cpu_ms_per_request"),
        (f"{args.rate:g} req/s p50 (ms)", "rate_p50_ms"),
        (f"{args.rate:g} req/s p99 (ms)", "rate_p99_ms"),
        (f"max req/s ({args.concurrency} in flight)", "max_rps"),
    ]
    print(f"\nGateway vs direct upstream ({platform.node()}, {os.cpu_count()} CPUs)\n")
    print(f"{'measure':34} {'direct':>10} {'gateway':>10} {'added':>10} {'ratio':>8}")
    for label, key in rows:
        d, g = direct[key], gateway[key]
        added = "" if key == "max_rps" else f"{g - d:10.2f}"
        ratio = g / d if d else float("nan")
        print(f"{label:34} {d:10.2f} {g:10.2f} {added:>10} {ratio:8.2f}")
    print(
        f"\nfailed at fixed rate: direct {direct['rate_failed']}, gateway {gateway['rate_failed']}"
        "\ntargets (issue 7): added p50 < 1 ms and p99 < 5 ms at 500 req/s"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"args": vars(args), **results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
