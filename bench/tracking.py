"""Tracking benchmark: Podium's SDK (embedded and over HTTP) against MLflow 3's tracking server.

    bash bench/setup_peers.sh && .venv/bin/python bench/tracking.py [--quick]

Every system does the same work in the same invocation, each on a fresh SQLite database:

- ``metrics``: one run; ``steps`` x ``keys`` points logged step by step, then the run is ended.
  Timed from starting the run to the end of the run (so every buffered point is committed).
- ``runs``: ``runs`` times: start a run, log 3 params, end it.
- ``get_run``: ``latency`` sequential reads of one run over a keep-alive connection (p50/p99).

Systems: Podium embedded (the app in this process), Podium over HTTP (a ``podium server``
subprocess on a free loopback port), and MLflow's server (``mlflow server``, SQLite backend,
one worker) driven by MLflow's own client in ``.bench-venv`` (``_mlflow_worker.py``). MLflow's
metrics are measured three ways: the per-call ``mlflow.log_metrics`` users write (the
baseline every ratio divides by), its async mode (``synchronous=False``), and
``MlflowClient.log_batch`` with 1000 points per request (its best case).

Nothing is trusted: after each workload the bench opens the system's SQLite file and checks
that the points (count and sum of values), runs and params that were sent are all there. It
prints a table and writes ``bench/results/tracking.json``. Never a timed assertion in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BENCH_VENV = ROOT / ".bench-venv"
RESULTS = ROOT / "bench" / "results" / "tracking.json"
WORKER = ROOT / "bench" / "_mlflow_worker.py"

PODIUM_EMBEDDED = "Podium embedded (SDK)"
PODIUM_HTTP = "Podium HTTP (SDK)"
PODIUM_HTTP_SYNC = "Podium HTTP (SDK), flush per step"
MLFLOW = "MLflow server, per-call"
MLFLOW_ASYNC = "MLflow server, async"
MLFLOW_BATCH = "MLflow server, log_batch x1000"
PARAMS = {"lr": "0.001", "optimizer": "adamw"}  # plus batch_size, which varies per run


@dataclass
class Sizes:
    """How much work each workload does (the same for every system)."""

    steps: int
    keys: int
    runs: int
    latency: int
    repeat: int

    @property
    def points(self) -> int:
        """Metric points in the metrics workload."""
        return self.steps * self.keys


@dataclass
class Row:
    """One measured cell: a workload done by one system."""

    workload: str
    system: str
    ops: int
    seconds: float
    unit: str
    verified: str
    repeats: list[float] = field(default_factory=list)
    p50_ms: float | None = None
    p99_ms: float | None = None

    @property
    def rate(self) -> float:
        """Operations per second."""
        return self.ops / self.seconds if self.seconds > 0 else float("inf")


# -- the workloads, Podium side ----------------------------------------------------------------


def metric_values(step: int, keys: int) -> dict[str, float]:
    """The points logged at ``step`` (the MLflow worker uses the same formula)."""
    return {f"m{k}": step + k / 10 for k in range(keys)}


def expected_sum(sizes: Sizes) -> float:
    """The sum of every value the metrics workload logs."""
    return sum(sum(metric_values(step, sizes.keys).values()) for step in range(sizes.steps))


def podium_metrics(
    client: Any, sizes: Sizes, experiment: str, flush_each_step: bool = False
) -> tuple[float, str]:
    """One run, ``log_metrics`` per step, ended (which flushes); returns (seconds, run id).

    ``flush_each_step`` waits for the server's acknowledgement after every step: one request
    per step, synchronous like ``mlflow.log_metrics``, to show the per-request cost.
    """
    import podium

    t0 = time.perf_counter()
    with podium.start_run("metrics", project="bench", experiment=experiment, client=client) as run:
        for step in range(sizes.steps):
            run.log_metrics(metric_values(step, sizes.keys), step=step)
            if flush_each_step:
                run.flush()
        run.flush()
    return time.perf_counter() - t0, run.id


def podium_runs(client: Any, count: int, experiment: str) -> float:
    """``count`` runs: start, log 3 params, end; returns seconds."""
    import podium

    t0 = time.perf_counter()
    for i in range(count):
        with podium.start_run(
            f"run-{i}", project="bench", experiment=experiment, client=client
        ) as run:
            run.log_params({**PARAMS, "batch_size": str(32 + i)})
    return time.perf_counter() - t0


def podium_latency(client: Any, count: int, run_id: str) -> tuple[float, list[float]]:
    """``count`` sequential ``GET /runs/{id}`` through the SDK client; (seconds, ms each)."""
    latencies = []
    t0 = time.perf_counter()
    for _ in range(count):
        start = time.perf_counter()
        client.get(f"/runs/{run_id}")
        latencies.append((time.perf_counter() - start) * 1000)
    return time.perf_counter() - t0, latencies


def bench_podium(
    system: str, client: Any, db: Path, sizes: Sizes, flush_row: str | None = None
) -> list[Row]:
    """Warm up, then run every workload on one Podium transport and verify what landed.

    With ``flush_row``, the metrics workload also runs flushing after every step, as a row of
    that name (once: it is long enough to be stable).
    """
    podium_metrics(client, Sizes(20, sizes.keys, 3, 0, 1), "warmup")
    podium_runs(client, 3, "warmup")

    times, run_id = [], ""
    for i in range(sizes.repeat):
        seconds, run_id = podium_metrics(client, sizes, f"metrics-{i}")
        verify_points(db, "podium", run_id, sizes)
        times.append(seconds)
    rows = [
        Row(
            "metrics",
            system,
            sizes.points,
            statistics.median(times),
            "points",
            "count+sum",
            times,
        )
    ]
    if flush_row is not None:
        seconds, flushed_run = podium_metrics(client, sizes, "metrics-flushed", True)
        verify_points(db, "podium", flushed_run, sizes)
        rows.append(Row("metrics", flush_row, sizes.points, seconds, "points", "count+sum"))

    times = []
    for i in range(sizes.repeat):
        times.append(podium_runs(client, sizes.runs, f"runs-{i}"))
        verify_runs(db, "podium", f"runs-{i}", sizes.runs)
    rows.append(
        Row("runs", system, sizes.runs, statistics.median(times), "runs", "runs+params", times)
    )

    seconds, latencies = podium_latency(client, sizes.latency, run_id)
    rows.append(latency_row(system, seconds, latencies))
    return rows


def latency_row(system: str, seconds: float, latencies: list[float]) -> Row:
    """A ``get_run`` row with p50/p99 from per-request latencies in ms."""
    ordered = sorted(latencies)
    return Row(
        "get_run",
        system,
        len(ordered),
        seconds,
        "requests",
        "200 OK",
        p50_ms=statistics.median(ordered),
        p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))],
    )


# -- verification: read each system's SQLite file directly -------------------------------------

# Table and column names differ; the checks are the same.
SCHEMA = {
    "podium": {
        "metrics": "SELECT count(*), coalesce(sum(value), 0) FROM metrics WHERE run_id = ?",
        "runs": (
            "SELECT count(*), sum(r.status = 'FINISHED') FROM runs r "
            "JOIN experiments e ON e.id = r.experiment_id WHERE e.name = ?"
        ),
        "params": (
            "SELECT count(*) FROM run_params p JOIN runs r ON r.id = p.run_id "
            "JOIN experiments e ON e.id = r.experiment_id WHERE e.name = ?"
        ),
    },
    "mlflow": {
        "metrics": "SELECT count(*), coalesce(sum(value), 0) FROM metrics WHERE run_uuid = ?",
        "runs": (
            "SELECT count(*), sum(r.status = 'FINISHED') FROM runs r "
            "JOIN experiments e ON e.experiment_id = r.experiment_id WHERE e.name = ?"
        ),
        "params": (
            "SELECT count(*) FROM params p JOIN runs r ON r.run_uuid = p.run_uuid "
            "JOIN experiments e ON e.experiment_id = r.experiment_id WHERE e.name = ?"
        ),
    },
}


def query(db: Path, sql: str, arg: str) -> tuple[Any, ...]:
    """One row of ``sql`` against the SQLite file ``db``, opened read-only."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return tuple(conn.execute(sql, (arg,)).fetchone())
    finally:
        conn.close()


def verify_points(db: Path, kind: str, run_id: str, sizes: Sizes) -> None:
    """Fail unless every point sent to ``run_id`` is in the database, with the right values."""
    count, total = query(db, SCHEMA[kind]["metrics"], run_id)
    want = expected_sum(sizes)
    if count != sizes.points or abs(total - want) > 1e-6 * max(1.0, abs(want)):
        raise SystemExit(
            f"{kind} lost data: run {run_id} holds {count} points summing to {total}, "
            f"sent {sizes.points} summing to {want}"
        )


def verify_runs(db: Path, kind: str, experiment: str, count: int) -> None:
    """Fail unless ``experiment`` holds ``count`` FINISHED runs with 3 params each."""
    runs, finished = query(db, SCHEMA[kind]["runs"], experiment)
    (params,) = query(db, SCHEMA[kind]["params"], experiment)
    if (runs, finished, params) != (count, count, 3 * count):
        raise SystemExit(
            f"{kind} lost data in {experiment!r}: {runs} runs ({finished} FINISHED) and "
            f"{params} params, expected {count} runs and {3 * count} params"
        )


# -- servers -----------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(
    argv: list[str], env: dict[str, str], health_url: str, log: Path, timeout: float = 120
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` in its own process group until the block ends; wait for ``health_url``.

    The group matters: ``mlflow server`` runs uvicorn as a child, which must go too.
    """
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"{argv[0]} exited with {proc.returncode}:\n{tail(log)}")
            try:
                if httpx.get(health_url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{health_url} not healthy after {timeout}s:\n{tail(log)}")
            time.sleep(0.1)
        yield proc
    finally:
        stop_group(proc)


def stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group ``proc`` leads; SIGKILL what is left of it after 10 s."""
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    # A leader that did not stop, or children that outlived it (uvicorn under mlflow).
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without Podium or MLflow settings, plus ``extra``.

    MLflow's usage telemetry is switched off: it posts events from background threads, which
    would tax MLflow for something Podium does not do (and this machine may be offline).
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PODIUM_", "MLFLOW_"))}
    env.update(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true")
    env.update(extra)
    return env


# -- the three systems ---------------------------------------------------------------------------


def run_podium_embedded(work: Path, sizes: Sizes) -> list[Row]:
    """Podium with the app built in this process on a fresh SQLite home."""
    import podium
    from podium.settings import Settings

    home = work / "podium-embedded"
    settings = Settings(home=home, database_url=None, artifacts_url=None, url=None)
    with podium.Client(settings=settings) as client:
        return bench_podium(PODIUM_EMBEDDED, client, home / "podium.db", sizes)


def run_podium_http(work: Path, sizes: Sizes) -> list[Row]:
    """Podium through a ``podium server`` subprocess on a free loopback port."""
    import podium

    home = work / "podium-http"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_env(
        PODIUM_HOME=str(home),
        PODIUM_HOST="127.0.0.1",
        PODIUM_PORT=str(port),
        PODIUM_LOG_LEVEL="warning",
    )
    argv = [sys.executable, "-m", "podium.cli.main", "server"]
    with (
        server(argv, env, f"{url}/api/v1/health", work / "podium-server.log"),
        podium.Client(url) as client,
    ):
        return bench_podium(PODIUM_HTTP, client, home / "podium.db", sizes, PODIUM_HTTP_SYNC)


def run_mlflow(work: Path, sizes: Sizes) -> tuple[list[Row], str]:
    """MLflow's tracking server (SQLite, one worker) driven by its client in ``.bench-venv``."""
    home = work / "mlflow"
    home.mkdir()
    db = home / "mlflow.db"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [
        str(BENCH_VENV / "bin" / "mlflow"),
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
    out = home / "results.json"
    with server(argv, env, f"{url}/health", work / "mlflow-server.log"):
        worker = subprocess.run(
            [
                str(BENCH_VENV / "bin" / "python"),
                str(WORKER),
                f"--url={url}",
                f"--steps={sizes.steps}",
                f"--keys={sizes.keys}",
                f"--runs={sizes.runs}",
                f"--latency={sizes.latency}",
                f"--out={out}",
            ],
            env=clean_env(),
            cwd=home,  # MLflow's fluent API may write ./mlruns-style files; keep them here
            capture_output=True,
            text=True,
            check=False,
        )
        if worker.returncode != 0:
            raise SystemExit(f"the MLflow worker failed:\n{worker.stderr[-4000:]}")
    report = json.loads(out.read_text())
    rows = []
    names = {
        "metrics/per-call": MLFLOW,
        "metrics/async": MLFLOW_ASYNC,
        "metrics/log_batch": MLFLOW_BATCH,
    }
    for result in report["results"]:
        name = result["name"]
        if name in names:
            verify_points(db, "mlflow", result["run_ids"][0], sizes)
            rows.append(
                Row("metrics", names[name], result["ops"], result["seconds"], "points", "count+sum")
            )
        elif name == "runs":
            verify_runs(db, "mlflow", result["experiment"], sizes.runs)
            rows.append(
                Row("runs", MLFLOW, result["ops"], result["seconds"], "runs", "runs+params")
            )
        elif name == "latency":
            rows.append(latency_row(MLFLOW, result["seconds"], result["latencies_ms"]))
    return rows, str(report["mlflow_version"])


# -- report ------------------------------------------------------------------------------------


def ratios(rows: list[Row]) -> dict[int, float | None]:
    """Each row's rate divided by the MLflow per-call rate of the same workload."""
    base = {row.workload: row.rate for row in rows if row.system == MLFLOW}
    return {
        id(row): (row.rate / base[row.workload]) if row.workload in base else None for row in rows
    }


def print_table(rows: list[Row], sizes: Sizes, mlflow_version: str) -> None:
    """Print the results as a Rich table."""
    from rich.console import Console
    from rich.table import Table

    ratio = ratios(rows)
    table = Table(
        title=f"Tracking: Podium vs MLflow {mlflow_version} server (SQLite, loopback, "
        f"{os.cpu_count()} CPUs)",
        caption=f"metrics: 1 run x {sizes.steps} steps x {sizes.keys} keys = {sizes.points} "
        f"points; runs: {sizes.runs} x (start, 3 params, end); get_run: {sizes.latency} "
        f"sequential reads. Podium rows: median of {sizes.repeat}.",
    )
    for name, justify in [
        ("workload", "left"),
        ("system", "left"),
        ("ops", "right"),
        ("seconds", "right"),
        ("ops/s", "right"),
        ("p50 / p99 ms", "right"),
        ("x MLflow per-call", "right"),
    ]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    last = None
    for row in rows:
        if last is not None and row.workload != last:
            table.add_section()
        last = row.workload
        r = ratio[id(row)]
        latency = f"{row.p50_ms:.2f} / {row.p99_ms:.2f}" if row.p50_ms is not None else ""
        table.add_row(
            row.workload,
            row.system,
            f"{row.ops:,} {row.unit}",
            f"{row.seconds:.3f}",
            f"{row.rate:,.0f}",
            latency,
            f"{r:.1f}x" if r is not None else "",
        )
    Console(width=max(shutil.get_terminal_size().columns, 120)).print(table)


def verdict(rows: list[Row]) -> str:
    """The issue's target: Podium over HTTP logs metrics >= 10x faster than MLflow's server."""
    ratio = ratios(rows)
    http = next(r for r in rows if r.workload == "metrics" and r.system == PODIUM_HTTP)
    best = max(r.rate for r in rows if r.workload == "metrics" and r.system.startswith("MLflow"))
    x = ratio[id(http)] or 0.0
    return (
        f"target (Podium HTTP metrics >= 10x MLflow per-call): {'MET' if x >= 10 else 'MISSED'} "
        f"at {x:.1f}x; vs MLflow's best case (log_batch x1000): {http.rate / best:.1f}x"
    )


def main() -> None:
    """Parse sizes, run the three systems, print and save the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="Small sizes: a smoke run.")
    parser.add_argument("--steps", type=int, help="Metric steps per run (default 1000).")
    parser.add_argument("--keys", type=int, default=5, help="Metric keys per step.")
    parser.add_argument("--runs", type=int, help="Runs in the runs workload (default 100).")
    parser.add_argument("--latency", type=int, help="get_run requests (default 300).")
    parser.add_argument("--repeat", type=int, help="Podium repetitions, median kept (9).")
    parser.add_argument(
        "--only",
        choices=["podium", "mlflow"],
        help="Run one side only (no ratios without MLflow).",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="Where to write the JSON.")
    args = parser.parse_args()
    quick = args.quick
    sizes = Sizes(
        steps=args.steps or (200 if quick else 1000),
        keys=args.keys,
        runs=args.runs or (20 if quick else 100),
        latency=args.latency or (50 if quick else 300),
        repeat=args.repeat or (1 if quick else 9),
    )

    if args.only != "podium" and not (BENCH_VENV / "bin" / "mlflow").exists():
        raise SystemExit(
            "MLflow is not installed in .bench-venv: run `bash bench/setup_peers.sh` first "
            "(or pass --only podium)"
        )

    rows: list[Row] = []
    mlflow_version = "(skipped)"
    work = Path(tempfile.mkdtemp(prefix="podium-bench-"))
    steps: list[tuple[str, Callable[[], None]]] = []

    def add(new: list[Row]) -> None:
        rows.extend(new)

    def mlflow_side() -> None:
        nonlocal mlflow_version
        new, mlflow_version = run_mlflow(work, sizes)
        add(new)

    if args.only != "mlflow":
        steps.append((PODIUM_EMBEDDED, lambda: add(run_podium_embedded(work, sizes))))
        steps.append((PODIUM_HTTP, lambda: add(run_podium_http(work, sizes))))
    if args.only != "podium":
        steps.append(("MLflow server", mlflow_side))
    # Other work on the machine skews a benchmark; record it next to the numbers.
    load: dict[str, list[float]] = {}
    try:
        for name, step in steps:
            print(f"benchmarking {name} ...", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            before = os.getloadavg()[0]
            step()
            load[name] = [round(before, 2), round(os.getloadavg()[0], 2)]
            print(
                f"  done in {time.perf_counter() - t0:.1f} s (load average {load[name][0]} -> "
                f"{load[name][1]} on {os.cpu_count()} CPUs)",
                file=sys.stderr,
                flush=True,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    order = {"metrics": 0, "runs": 1, "get_run": 2}
    rows.sort(key=lambda r: order[r.workload])  # stable: systems keep their order
    print_table(rows, sizes, mlflow_version)
    if args.only is None:
        print(verdict(rows))

    ratio = ratios(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "machine": {
                    "cpus": os.cpu_count(),
                    "platform": platform.platform(),
                    "python": platform.python_version(),
                    "processor": platform.processor(),
                },
                "load_average_before_after": load,
                "mlflow_version": mlflow_version,
                "sizes": asdict(sizes),
                "rows": [
                    {**asdict(row), "ops_per_s": row.rate, "x_mlflow_per_call": ratio[id(row)]}
                    for row in rows
                ],
            },
            indent=2,
        )
        + "\n"
    )
    print(f"results written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
