"""Tracing benchmark: OTLP ingest rate against MLflow 3 (and Phoenix), and trace-list latency.

    .venv/bin/python bench/tracing.py [--quick] [--spans 100000] [--stored 1000000] [--no-postgres]

Measured in one invocation, on this machine:

1. **OTLP ingest**: the same pre-encoded OTLP/HTTP protobuf bodies (``--batch`` spans each, GenAI
   attributes: model, provider, tokens) are posted by ``--clients`` client processes to
   ``podium server`` (one process) at ``/otlp/v1/traces``, once on a fresh SQLite home and once on
   a fresh PostgreSQL server (started here, durable settings: fsync and synchronous_commit on), to
   ``mlflow server`` (SQLite backend, one worker, from ``.bench-venv``) at ``/v1/traces`` and, if
   ``.bench-venv/phoenix`` exists, to ``phoenix serve`` (SQLite) at ``/v1/traces``. The clock
   runs from the first request to the last acknowledgement; a span counts once its batch got a
   2xx. Afterwards the spans are counted in each tool's database (checked, not assumed); Phoenix
   acknowledges before it writes, so its rate runs until the last span is in its database.
2. **Trace-list latency with many spans stored**: ``--stored`` spans (``--spans-per-trace`` per
   trace, so 250k traces for 1M spans; model, provider, tokens, cost, user, session, tags, 2%
   errors, 30 days of start times) are written straight into a fresh database through
   ``podium.tracing.sql.insert_spans`` in-process (the ingest path minus HTTP and protobuf
   decoding: quicker than OTLP on 2 CPUs), on SQLite and on PostgreSQL. Then a ``podium server``
   on it answers ``GET /api/v1/traces`` variants (first page, keyset-cursor deep page, offset
   page, model, tag, errors, latency, time range, ...) sequentially over one keep-alive
   connection; p50/p95 per variant.

Results print as tables and go to ``bench/results/tracing.json``. Never a timed assertion in tests.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import random
import shutil
import signal
import socket
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
sys.path.insert(0, str(ROOT))  # tests.support.postgres: the same PostgreSQL server the tests use

from tests.support.postgres import PostgresServer  # noqa: E402

BENCH_VENV = ROOT / ".bench-venv"
PHOENIX = BENCH_VENV / "phoenix" / "bin" / "phoenix"
RESULTS = ROOT / "bench" / "results" / "tracing.json"
MODELS = ["gpt-4o", "gpt-4o-mini", "claude-3-5-sonnet", "gemini-2.0-flash", "llama-3.1-8b"]
FEATURES = [f"feature:{name}" for name in ("search", "chat", "summarize", "extract", "translate")]


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
    began = min(r["start"] for r in reports)
    seconds = max(r["end"] for r in reports) - began
    acked = sum(r["acked"] for r in reports)
    return {
        "began": began,  # perf_counter, the same clock in every forked process
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


def count_rows(db_url: str, table: str) -> int:
    """Rows in ``table`` of the database at ``db_url`` (SQLite file or PostgreSQL)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
    finally:
        engine.dispose()


class DurablePostgres(PostgresServer):
    """The tests' PostgreSQL server, but with its durability settings left at the defaults.

    The test fixture turns fsync and synchronous_commit off for speed; a benchmark against
    SQLite (which syncs its WAL) must not, or PostgreSQL would be measured without durability.
    """

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
            "--auth=trust", "-E", "UTF8",
        )  # fmt: skip
        opts = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} "
            "-c max_connections=100 -c shared_buffers=256MB -c max_wal_size=2GB"
        )
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
            "-o", opts, "-w", "start",
        )  # fmt: skip

    def create(self, name: str) -> str:
        """A new empty database on this server; its URL."""
        from sqlalchemy import create_engine

        engine = create_engine(self.url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        engine.dispose()
        return self.database_url(name)


def bench_podium(work: Path, args: argparse.Namespace, db_url: str | None) -> dict[str, Any]:
    """OTLP ingest into ``podium server`` on a fresh home; on ``db_url`` when given."""
    home = work / ("podium-pg" if db_url else "podium")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(PODIUM_HOME=str(home), PODIUM_PORT=str(port))
    if db_url:
        env["PODIUM_DATABASE_URL"] = db_url
    log = work / ("podium-pg.log" if db_url else "podium.log")
    with server(podium_server(), env, f"{url}/api/v1/health", log):
        result = drive(
            f"{url}/otlp/v1/traces",
            {"Content-Type": "application/x-protobuf", "X-Podium-Project": "bench"},
            args.clients,
            args.spans,
            args.batch,
        )
        listed = httpx.get(f"{url}/api/v1/traces", params={"project": "bench", "limit": 10})
        result["queryable"] = listed.status_code == 200 and len(listed.json()["items"]) == 10
    result["stored"] = count_rows(db_url or f"sqlite:///{home / 'podium.db'}", "trace_spans")
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
    result["stored"] = count_rows(f"sqlite:///{db}", "spans")
    version = subprocess.run(
        [str(BENCH_VENV / "bin" / "python"), "-c", "import mlflow; print(mlflow.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    result["version"] = version
    return result


def bench_phoenix(work: Path, args: argparse.Namespace) -> dict[str, Any] | None:
    """OTLP ingest into ``phoenix serve`` (SQLite); its rate runs until the spans are stored."""
    if not PHOENIX.exists():
        return None
    home = work / "phoenix"
    home.mkdir()
    port, grpc_port = free_port(), free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(
        PHOENIX_WORKING_DIR=str(home),
        PHOENIX_HOST="127.0.0.1",
        PHOENIX_PORT=str(port),
        PHOENIX_GRPC_PORT=str(grpc_port),
        PHOENIX_TELEMETRY_ENABLED="false",
    )
    db = f"sqlite:///{home / 'phoenix.db'}"
    with server([str(PHOENIX), "serve"], env, f"{url}/healthz", work / "phoenix.log"):
        result = drive(
            f"{url}/v1/traces",
            {"Content-Type": "application/x-protobuf"},
            args.clients,
            args.phoenix_spans,
            args.batch,
        )
        # Phoenix answers 200 before its background writer has stored the spans: wait for them.
        deadline = time.monotonic() + 300
        stored = 0
        while time.monotonic() < deadline:
            with suppress(Exception):  # the table appears with the first write
                stored = count_rows(db, "spans")
            if stored >= result["spans"]:
                break
            time.sleep(0.2)
        result["acked_seconds"] = result["seconds"]
        result["seconds"] = time.perf_counter() - result["began"]
        result["spans_per_s"] = stored / result["seconds"]
        result["stored"] = stored
    version = subprocess.run(
        [str(PHOENIX.parent / "python"), "-c", "import phoenix; print(phoenix.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    result["version"] = version
    return result


# -- trace-list latency with many spans stored ----------------------------------------------------


def stored_traces(spans: int, per_trace: int, seed: int = 7) -> Iterator[list[Any]]:
    """Realistic agent traces in chunks of ~10k spans: a root span, a retrieval, LLM calls.

    Each trace has one model (the LLM spans'), a user and a session, an ``env:`` and a
    ``feature:`` tag on its root, start times over the last 30 days, and fails 2% of the time.
    """
    from podium.tracing.models import SpanRecord

    rng = random.Random(seed)
    now_ms = int(time.time() * 1000)
    chunk: list[SpanRecord] = []
    for first in range(0, spans, per_trace):
        trace_id, root = rng.randbytes(16).hex(), rng.randbytes(8).hex()
        begin = now_ms - rng.randrange(30 * 86_400_000)
        model = rng.choice(MODELS)
        error = rng.random() < 0.02
        user, session = f"user-{rng.randrange(1000)}", f"s-{rng.randrange(20000)}"
        tags = ("env:prod" if rng.random() < 0.8 else "env:staging", rng.choice(FEATURES))
        offset = 0.0
        for i in range(min(per_trace, spans - first)):
            duration = rng.uniform(20, 200) if i < 2 else rng.uniform(50, 2000)
            common = {
                "trace_id": trace_id,
                "start_time": begin + int(offset),
                "duration_ms": duration,
                "session_id": session,
                "user_id": user,
                "service_name": "support-bot",
            }
            if i == 0:
                span = SpanRecord(
                    span_id=root, parent_span_id=None, name="agent run", kind="server",
                    status="error" if error else "ok", status_message="", tags=tags,
                    attributes={"http.route": "/chat", "podium.tags": list(tags)},
                    **common,
                )  # fmt: skip
            elif i == 1:
                span = SpanRecord(
                    span_id=rng.randbytes(8).hex(), parent_span_id=root, name="retrieve",
                    kind="internal", status="ok", status_message="",
                    attributes={"retrieval.documents": rng.randrange(1, 10)}, **common,
                )  # fmt: skip
            else:
                tokens_in, tokens_out = rng.randrange(10, 4000), rng.randrange(10, 1000)
                span = SpanRecord(
                    span_id=rng.randbytes(8).hex(), parent_span_id=root, name=f"chat {model}",
                    kind="client", status="error" if error and i == per_trace - 1 else "ok",
                    status_message="", model=model, provider="openai", operation="chat",
                    input_tokens=tokens_in, output_tokens=tokens_out,
                    cost_usd=(tokens_in * 2.5 + tokens_out * 10) / 1e6,
                    attributes={"gen_ai.request.model": model, "gen_ai.request.temperature": 0.2},
                    **common,
                )  # fmt: skip
            offset += duration
            chunk.append(span)
        if len(chunk) >= 10_000:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def fill(db_url: str, spans: int, per_trace: int) -> float:
    """Write ``spans`` spans through ``podium.tracing.sql.insert_spans``; seconds taken."""
    from podium.access.service import ProjectService
    from podium.store.engine import open_database
    from podium.store.migrate import upgrade
    from podium.tracing import sql

    db = open_database(db_url)
    upgrade(db)
    project = ProjectService(db).ensure("bench")
    start = time.perf_counter()
    for chunk in stored_traces(spans, per_trace):
        with db.write() as conn:
            sql.insert_spans(conn, project.id, chunk)
    seconds = time.perf_counter() - start
    db.dispose()
    return seconds


def copy_to_postgres(sqlite_db: Path, db_url: str) -> float:
    """Copy the tracing rows ``fill`` wrote to SQLite into PostgreSQL with COPY; seconds taken.

    Row-by-row ingest into PostgreSQL runs at a few thousand spans/s on 2 busy CPUs (several
    minutes for 1M spans); COPY of the very same rows takes a fraction of that, and the query
    bench only needs the rows to be there.
    """
    import sqlite3

    import psycopg

    from podium.access.service import ProjectService
    from podium.store.engine import open_database
    from podium.store.migrate import upgrade

    db = open_database(db_url)
    upgrade(db)
    project_id = ProjectService(db).ensure("bench").id
    db.dispose()
    start = time.perf_counter()
    source = sqlite3.connect(sqlite_db)
    with psycopg.connect(db_url.replace("postgresql+psycopg", "postgresql")) as target:
        for table in ("traces", "trace_spans", "trace_tags"):
            names = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
            project_at = names.index("project_id")
            with target.cursor().copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
                for row in source.execute(f"SELECT {', '.join(names)} FROM {table}"):
                    values = list(row)
                    values[project_at] = project_id
                    copy.write_row(values)
        target.commit()
        target.autocommit = True
        target.execute("VACUUM ANALYZE")  # what autovacuum would do soon after a load
    source.close()
    return time.perf_counter() - start


def iso(epoch_s: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_s))


def bench_list(
    work: Path, args: argparse.Namespace, db_url: str | None, label: str
) -> dict[str, Any]:
    """Fill a fresh database with ``--stored`` spans, then time trace-list variants on it.

    SQLite is filled through ``insert_spans``; PostgreSQL (``db_url``) gets a COPY of the
    SQLite rows, so run the SQLite one first.
    """
    home = work / f"stored-{label}"
    home.mkdir()
    if db_url:
        fill_seconds = copy_to_postgres(work / "stored-SQLite" / "podium.db", db_url)
        how = "COPY of the SQLite rows"
    else:
        fill_seconds = fill(f"sqlite:///{home / 'podium.db'}", args.stored, args.spans_per_trace)
        how = "insert_spans in-process"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(PODIUM_HOME=str(home), PODIUM_PORT=str(port))
    if db_url:
        env["PODIUM_DATABASE_URL"] = db_url
    now = time.time()
    variants: dict[str, dict[str, Any]] = {
        "first page": {},
        f"cursor page {args.deep_pages + 1}": {},  # the cursor is filled in below
        "offset 1000 (page 21)": {"offset": 1000},
        "model=gpt-4o": {"model": "gpt-4o"},
        "tag=feature:extract": {"tag": "feature:extract"},
        "tag env:staging+feature": {"tag": ["env:staging", "feature:translate"]},
        "error=true": {"error": "true"},
        "min_latency_ms=3500": {"min_latency_ms": 3500},
        "user=user-7": {"user": "user-7"},
        "session=s-42": {"session": "s-42"},
        "time range (1 day)": {
            "start_after": iso(now - 11 * 86400),
            "start_before": iso(now - 10 * 86400),
        },
        "24h + gpt-4o-mini": {"model": "gpt-4o-mini", "start_after": iso(now - 86400)},
    }
    out: dict[str, Any] = {
        "database": label,
        "stored_spans": args.stored,
        "spans_per_trace": args.spans_per_trace,
        "fill_seconds": fill_seconds,
        "filled_by": how,
        "variants": {},
    }
    with (
        server(podium_server(), env, f"{url}/api/v1/health", work / f"list-{label}.log"),
        httpx.Client(base_url=f"{url}/api/v1", timeout=60) as http,
    ):
        base = {"project": "bench", "limit": 50}
        cursor = None
        for _ in range(args.deep_pages):  # walk the keyset cursor down to the deep page
            page = http.get("/traces", params={**base, **({"cursor": cursor} if cursor else {})})
            page.raise_for_status()
            cursor = page.json()["next_cursor"]
        variants[f"cursor page {args.deep_pages + 1}"] = {"cursor": cursor}
        for name, params in variants.items():
            latencies = []
            for i in range(args.queries + 5):
                begin = time.perf_counter()
                reply = http.get("/traces", params={**base, **params})
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
    parser.add_argument("--phoenix-spans", type=int, default=5_000, help="spans sent to Phoenix")
    parser.add_argument("--batch", type=int, default=500, help="spans per OTLP request")
    parser.add_argument("--clients", type=int, default=4, help="client processes")
    parser.add_argument("--stored", type=int, default=1_000_000, help="spans for the list bench")
    parser.add_argument("--spans-per-trace", type=int, default=4, help="in the list bench")
    parser.add_argument("--deep-pages", type=int, default=200, help="cursor pages walked first")
    parser.add_argument("--queries", type=int, default=100, help="requests per list variant")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite rows only")
    parser.add_argument(
        "--only", choices=["podium", "postgres", "mlflow", "phoenix", "list"], default=None
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.spans, args.mlflow_spans, args.phoenix_spans = 20_000, 2_000, 2_000
        args.stored, args.queries, args.deep_pages = 50_000, 20, 20
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "sizes": {k: v for k, v in vars(args).items() if k != "out"},
        "lists": [],
    }

    def wanted(part: str) -> bool:
        return args.only in (None, part)

    with tempfile.TemporaryDirectory(prefix="podium-bench-tracing-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # the postgres user must reach its data folder inside
        pg: DurablePostgres | None = None
        if not args.no_postgres and (wanted("postgres") or wanted("list")):
            pg = DurablePostgres(work / "pg")
            pg.start()
        try:
            if wanted("podium"):
                report["podium"] = bench_podium(work, args, None)
            if pg and wanted("postgres"):
                report["podium_pg"] = bench_podium(work, args, pg.create("ingest"))
            if wanted("mlflow"):
                report["mlflow"] = bench_mlflow(work, args)
            if wanted("phoenix"):
                report["phoenix"] = bench_phoenix(work, args)
            if wanted("list"):
                report["lists"].append(bench_list(work, args, None, "SQLite"))
                if pg:
                    report["lists"].append(
                        bench_list(work, args, pg.create("stored"), "PostgreSQL")
                    )
        finally:
            if pg:
                pg.stop()
    print_report(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nwritten to {args.out}")


def print_report(report: dict[str, Any]) -> None:
    podium = report.get("podium")
    rows = [
        ("podium server, SQLite", podium),
        ("podium server, PostgreSQL", report.get("podium_pg")),
        ("mlflow {} server, SQLite", report.get("mlflow")),
        ("phoenix {}, SQLite *", report.get("phoenix")),
    ]
    if any(row for _, row in rows):
        sizes = report["sizes"]
        print(
            f"\nOTLP/HTTP protobuf ingest, {sizes['clients']} client processes, "
            f"{sizes['batch']} spans per request (ratio: Podium on SQLite / that row)"
        )
        header = ("system", "spans acked", "stored", "seconds", "spans/s", "ratio")
        print(f"{header[0]:<30}" + "".join(f"{h:>12}" for h in header[1:]))
        for name, row in rows:
            if not row:
                continue
            ratio = f"{podium['spans_per_s'] / row['spans_per_s']:.1f}x" if podium else "-"
            label = name.format(row.get("version", ""))
            print(
                f"{label:<30}{row['spans']:>12}{row['stored']:>12}{row['seconds']:>12.2f}"
                f"{row['spans_per_s']:>12,.0f}{ratio:>12}"
            )
        if "phoenix" in report and report["phoenix"] is None:
            print(f"{'phoenix':<30}  not installed (bash bench/setup_peers.sh installs it)")
        if report.get("phoenix"):
            print("* Phoenix acknowledges before storing: its clock runs until all are stored")
        for key in ("podium", "podium_pg"):
            if report.get(key):
                print(
                    f"{key}: queryable right after ingest: {report[key]['queryable']}; "
                    f"failed batches: {report[key]['failed_batches']}"
                )
    for listing in report.get("lists", []):
        print(
            f"\nGET /api/v1/traces?limit=50 on {listing['database']} with "
            f"{listing['stored_spans']:,} spans stored ({listing['spans_per_trace']} per trace; "
            f"filled in {listing['fill_seconds']:.0f} s by {listing['filled_by']}), "
            "sequential keep-alive requests"
        )
        print(f"{'variant':<28}{'p50 ms':>10}{'p95 ms':>10}{'items':>8}")
        for name, row in listing["variants"].items():
            print(f"{name:<28}{row['p50_ms']:>10.1f}{row['p95_ms']:>10.1f}{row['items']:>8}")


if __name__ == "__main__":
    main()
