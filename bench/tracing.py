"""Tracing benchmark: OTLP ingest rate against MLflow 3's OTLP endpoint, and trace-list latency.

    .venv/bin/python bench/tracing.py [--quick] [--spans 100000] [--clients 4] [--stored 1000000]

Measured in one invocation, on this machine:

1. **OTLP ingest**: the same pre-encoded OTLP/HTTP protobuf bodies (``--batch`` spans each, GenAI
   attributes: model, provider, tokens) are posted by ``--clients`` client processes to
   ``podium server`` (fresh SQLite home, one process) at ``/otlp/v1/traces`` and to ``mlflow
   server`` (SQLite backend, one worker, from ``.bench-venv``) at ``/v1/traces``. The clock runs
   from the first request to the last acknowledgement; a span counts once its batch got a 2xx.
   Afterwards the spans are counted in each tool's SQLite file (checked, not assumed), and on
   Podium the trace list is queried once to show they are queryable.
2. **Trace-list latency with many spans stored**: ``--stored`` spans (10 per trace) are written
   straight into a fresh SQLite database through ``podium.tracing.sql`` (fast, no HTTP), then a
   ``podium server`` on it answers ``GET /api/v1/traces`` variants sequentially over one
   keep-alive connection; p50/p95 per variant.

Results print as tables and go to ``bench/results/tracing.json``. Never a timed assertion in tests.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

ROOT = Path(__file__).resolve().parent.parent
BENCH_VENV = ROOT / ".bench-venv"
RESULTS = ROOT / "bench" / "results" / "tracing.json"
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "gemini-2.0-flash", "llama-3.1-8b"]


# -- payloads ------------------------------------------------------------------------------------


def _kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


def make_bodies(seed: int, batches: int, batch: int) -> list[bytes]:
    """``batches`` protobuf ExportTraceServiceRequest bodies of ``batch`` spans (5 per trace)."""
    rng = random.Random(seed)
    now_ns = time.time_ns()
    bodies = []
    for _ in range(batches):
        request = ExportTraceServiceRequest()
        rs = request.resource_spans.add()
        rs.resource.attributes.append(_kv("service.name", "bench"))
        ss = rs.scope_spans.add()
        ss.scope.name = "bench"
        trace_id = root = b""
        for i in range(batch):
            if i % 5 == 0:
                trace_id, root = rng.randbytes(16), rng.randbytes(8)
            span_id = root if i % 5 == 0 else rng.randbytes(8)
            start = now_ns - rng.randrange(3_600_000_000_000)
            model = rng.choice(MODELS)
            ss.spans.append(
                Span(
                    trace_id=trace_id,
                    span_id=span_id,
                    parent_span_id=b"" if i % 5 == 0 else root,
                    name=f"chat {model}",
                    kind=Span.SPAN_KIND_CLIENT,
                    start_time_unix_nano=start,
                    end_time_unix_nano=start + rng.randrange(50_000_000, 2_000_000_000),
                    attributes=[
                        _kv("gen_ai.system", "openai"),
                        _kv("gen_ai.operation.name", "chat"),
                        _kv("gen_ai.request.model", model),
                        _kv("gen_ai.usage.input_tokens", rng.randrange(10, 4000)),
                        _kv("gen_ai.usage.output_tokens", rng.randrange(10, 1000)),
                        _kv("user.id", f"user-{rng.randrange(100)}"),
                    ],
                    status=Status(code=Status.STATUS_CODE_OK),
                )
            )
        bodies.append(request.SerializeToString())
    return bodies


# -- client processes ----------------------------------------------------------------------------


def client_process(
    url: str, headers: dict[str, str], seed: int, batches: int, batch: int, go: Any, out: Any
) -> None:
    """Encode this client's bodies, wait for ``go``, post them one after another; report."""
    bodies = make_bodies(seed, batches, batch)
    acked = failed = 0
    with httpx.Client(timeout=120, headers=headers) as http:
        go.wait()
        start = time.perf_counter()
        for body in bodies:
            reply = http.post(url, content=body)
            if reply.is_success:
                acked += batch
            else:
                failed += 1
        end = time.perf_counter()
    out.put({"acked": acked, "failed": failed, "start": start, "end": end})


def drive(
    url: str, headers: dict[str, str], clients: int, spans: int, batch: int
) -> dict[str, Any]:
    """Run ``clients`` processes posting ``spans`` spans in total; the aggregate rate."""
    ctx = multiprocessing.get_context("fork")
    go, out = ctx.Event(), ctx.Queue()
    per_client = max(1, spans // batch // clients)
    procs = [
        ctx.Process(
            target=client_process, args=(url, headers, 1000 + i, per_client, batch, go, out)
        )
        for i in range(clients)
    ]
    for proc in procs:
        proc.start()
    time.sleep(1.0 + spans / 100_000)  # let every client finish encoding before the clock runs
    go.set()
    reports = [out.get(timeout=1800) for _ in procs]
    for proc in procs:
        proc.join()
    seconds = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    acked = sum(r["acked"] for r in reports)
    return {
        "spans": acked,
        "failed_batches": sum(r["failed"] for r in reports),
        "seconds": seconds,
        "spans_per_s": acked / seconds,
    }


# -- servers -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PODIUM_", "MLFLOW_"))}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true", **extra)
    return env


@contextmanager
def server(argv: list[str], env: dict[str, str], health: str, log: Path) -> Iterator[None]:
    """Run ``argv`` in its own process group until the block ends, once ``health`` answers."""
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            argv, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{argv[0]} exited:\n{log.read_text(errors='replace')[-3000:]}")
            with suppress(httpx.HTTPError):
                if httpx.get(health, timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"{health} not healthy:\n{log.read_text(errors='replace')[-3000:]}"
                )
            time.sleep(0.1)
        yield
    finally:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def podium_server() -> list[str]:
    """``podium server``; home and port come from the environment."""
    return [sys.executable, "-m", "podium.cli.main", "server"]


def count_rows(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def bench_podium(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    home = work / "podium"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(PODIUM_HOME=str(home), PODIUM_PORT=str(port))
    with server(podium_server(), env, f"{url}/api/v1/health", work / "podium.log"):
        result = drive(
            f"{url}/otlp/v1/traces",
            {"Content-Type": "application/x-protobuf", "X-Podium-Project": "bench"},
            args.clients,
            args.spans,
            args.batch,
        )
        listed = httpx.get(f"{url}/api/v1/traces", params={"project": "bench", "limit": 10})
        result["queryable"] = listed.status_code == 200 and len(listed.json()["items"]) == 10
    result["stored"] = count_rows(home / "podium.db", "trace_spans")
    return result


def bench_mlflow(work: Path, args: argparse.Namespace) -> dict[str, Any] | None:
    mlflow = BENCH_VENV / "bin" / "mlflow"
    if not mlflow.exists():
        print("MLflow row skipped: run `bash bench/setup_peers.sh` to make .bench-venv")
        return None
    home = work / "mlflow"
    home.mkdir()
    db = home / "mlflow.db"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        str(mlflow),
        "server",
        "--backend-store-uri",
        f"sqlite:///{db}",
        "--default-artifact-root",
        (home / "artifacts").as_uri(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = clean_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    with server(argv, env, f"{url}/health", work / "mlflow.log"):
        created = httpx.post(
            f"{url}/api/2.0/mlflow/experiments/create", json={"name": "bench"}, timeout=30
        )
        created.raise_for_status()
        experiment = created.json()["experiment_id"]
        result = drive(
            f"{url}/v1/traces",
            {"Content-Type": "application/x-protobuf", "x-mlflow-experiment-id": experiment},
            args.clients,
            args.mlflow_spans,
            args.batch,
        )
    result["stored"] = count_rows(db, "spans")
    version = subprocess.run(
        [str(BENCH_VENV / "bin" / "python"), "-c", "import mlflow; print(mlflow.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    result["version"] = version
    return result


# -- trace-list latency with many spans stored ----------------------------------------------------


def fill(db_url: str, spans: int) -> float:
    """Write ``spans`` spans (10 per trace) through podium.tracing.sql; seconds taken."""
    from podium.access.service import ProjectService
    from podium.store.engine import open_database
    from podium.store.migrate import upgrade
    from podium.tracing import sql
    from podium.tracing.models import SpanRecord

    db = open_database(db_url)
    upgrade(db)
    project = ProjectService(db).ensure("bench")
    rng = random.Random(7)
    now_ms = int(time.time() * 1000)
    start = time.perf_counter()
    chunk: list[SpanRecord] = []
    for i in range(spans):
        if i % 10 == 0:
            trace_id, root = rng.randbytes(16).hex(), rng.randbytes(8).hex()
            begin = now_ms - rng.randrange(30 * 86_400_000)
        model = MODELS[(i // 10) % len(MODELS)]  # one model per trace
        tokens_in, tokens_out = rng.randrange(10, 4000), rng.randrange(10, 1000)
        chunk.append(
            SpanRecord(
                trace_id=trace_id,
                span_id=root if i % 10 == 0 else rng.randbytes(8).hex(),
                parent_span_id=None if i % 10 == 0 else root,
                name=f"chat {model}",
                kind="client",
                start_time=begin + i % 10,
                duration_ms=rng.uniform(50, 2000),
                status="error" if rng.random() < 0.02 else "ok",
                status_message="",
                model=model,
                provider="openai",
                input_tokens=tokens_in,
                output_tokens=tokens_out,
                cost_usd=(tokens_in * 2.5 + tokens_out * 10) / 1e6,
                user_id=f"user-{rng.randrange(1000)}",
                session_id=f"s-{rng.randrange(20000)}",
                attributes={"gen_ai.request.model": model},
            )
        )
        if len(chunk) == 10_000:
            with db.write() as conn:
                sql.insert_spans(conn, project.id, chunk)
            chunk = []
    if chunk:
        with db.write() as conn:
            sql.insert_spans(conn, project.id, chunk)
    seconds = time.perf_counter() - start
    db.dispose()
    return seconds


def bench_list(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    home = work / "stored"
    home.mkdir()
    fill_seconds = fill(f"sqlite:///{home / 'podium.db'}", args.stored)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(PODIUM_HOME=str(home), PODIUM_PORT=str(port))
    variants: dict[str, dict[str, Any]] = {
        "newest 50": {},
        "model=gpt-4o": {"model": "gpt-4o"},
        "user=user-7": {"user": "user-7"},
        "session=s-42": {"session": "s-42"},
        "error=true": {"error": "true"},
        "min_latency_ms=1900": {"min_latency_ms": 1900},
        "page 20 (offset 1000)": {"offset": 1000},
        "last 24h, gpt-4o-mini": {
            "model": "gpt-4o-mini",
            "start_after": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 86400)),
        },
    }
    out: dict[str, Any] = {
        "stored_spans": args.stored,
        "fill_seconds": fill_seconds,
        "variants": {},
    }
    with (
        server(podium_server(), env, f"{url}/api/v1/health", work / "list.log"),
        httpx.Client(base_url=f"{url}/api/v1", timeout=60) as http,
    ):
        for name, params in variants.items():
            latencies = []
            for i in range(args.queries + 5):
                begin = time.perf_counter()
                reply = http.get("/traces", params={"project": "bench", "limit": 50, **params})
                elapsed = (time.perf_counter() - begin) * 1000
                reply.raise_for_status()
                if i >= 5:  # warm-up excluded
                    latencies.append(elapsed)
            latencies.sort()
            out["variants"][name] = {
                "p50_ms": statistics.median(latencies),
                "p95_ms": latencies[int(0.95 * (len(latencies) - 1))],
                "items": len(reply.json()["items"]),
            }
    return out


# -- main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--spans", type=int, default=100_000, help="spans sent to Podium")
    parser.add_argument("--mlflow-spans", type=int, default=10_000, help="spans sent to MLflow")
    parser.add_argument("--batch", type=int, default=500, help="spans per OTLP request")
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--stored", type=int, default=1_000_000, help="spans for the list bench")
    parser.add_argument("--queries", type=int, default=100, help="requests per list variant")
    parser.add_argument("--only", choices=["podium", "mlflow", "list"], default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.spans, args.mlflow_spans, args.stored, args.queries = 20_000, 2_000, 50_000, 20
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "sizes": {k: v for k, v in vars(args).items() if k != "out"},
    }
    with tempfile.TemporaryDirectory(prefix="podium-bench-tracing-") as tmp:
        work = Path(tmp)
        if args.only in (None, "podium"):
            report["podium"] = bench_podium(work, args)
        if args.only in (None, "mlflow"):
            report["mlflow"] = bench_mlflow(work, args)
        if args.only in (None, "list"):
            report["list"] = bench_list(work, args)
    print_report(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nwritten to {args.out}")


def print_report(report: dict[str, Any]) -> None:
    podium, mlflow = report.get("podium"), report.get("mlflow")
    if podium or mlflow:
        print(
            f"\nOTLP/HTTP protobuf ingest, {report['sizes']['clients']} client processes, "
            f"{report['sizes']['batch']} spans per request, SQLite"
        )
        header = ("system", "spans acked", "stored", "seconds", "spans/s", "ratio")
        print(f"{header[0]:<22}" + "".join(f"{h:>12}" for h in header[1:]))
        for name, row in (("podium server", podium), ("mlflow server", mlflow)):
            if not row:
                continue
            ratio = (
                f"{podium['spans_per_s'] / row['spans_per_s']:.1f}x"
                if podium and row is not podium
                else "1.0x"
            )
            label = name if row is podium else f"mlflow {row.get('version', '')} server"
            print(
                f"{label:<22}{row['spans']:>12}{row['stored']:>12}{row['seconds']:>12.2f}"
                f"{row['spans_per_s']:>12,.0f}{ratio:>12}"
            )
        if podium:
            print(
                f"podium: queryable right after ingest: {podium['queryable']}; "
                f"failed batches: {podium['failed_batches']}"
            )
    listing = report.get("list")
    if listing:
        print(
            f"\nGET /api/v1/traces?limit=50 with {listing['stored_spans']:,} spans stored "
            f"(filled in {listing['fill_seconds']:.0f} s), sequential keep-alive requests"
        )
        print(f"{'variant':<26}{'p50 ms':>10}{'p95 ms':>10}{'items':>8}")
        for name, row in listing["variants"].items():
            print(f"{name:<26}{row['p50_ms']:>10.1f}{row['p95_ms']:>10.1f}{row['items']:>8}")


if __name__ == "__main__":
    main()
