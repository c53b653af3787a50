"""The MLflow side of the tracking benchmark, run under ``.bench-venv/bin/python``.

``bench/tracking.py`` starts an MLflow tracking server, then runs this script in MLflow's own
environment (MLflow never enters Podium's ``.venv``). It drives the server with MLflow's client
doing the same work as the Podium rows, times each workload with ``perf_counter`` (imports and
warm-up excluded, exactly as on the Podium side), and writes one JSON object to ``--out``
(not stdout: MLflow prints a "View run" line there at every run's end):

    {"mlflow_version": "...", "results": [{"name": ..., "ops": ..., "seconds": ...,
      "run_ids": [...], "latencies_ms": [...]?}, ...]}

Verification (counting what landed in the database) is done by ``tracking.py``, which reads
MLflow's SQLite file directly, so both tools are checked by the same code.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
import warnings
from typing import Any

# Quiet MLflow's import-time chatter before importing it.
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

import mlflow  # noqa: E402
from mlflow.entities import Metric  # noqa: E402
from mlflow.tracking import MlflowClient  # noqa: E402

BATCH = 1000  # MLflow's limit of metrics per log_batch request (MAX_METRICS_PER_BATCH).


def metric_values(step: int, keys: int) -> dict[str, float]:
    """The points logged at ``step``: same formula as the Podium side, so sums can be checked."""
    return {f"m{k}": step + k / 10 for k in range(keys)}


def metrics_per_call(
    steps: int, keys: int, experiment_id: str, synchronous: bool
) -> dict[str, Any]:
    """One run; ``mlflow.log_metrics(..., step=i)`` per step, as users write it."""
    t0 = time.perf_counter()
    with mlflow.start_run(experiment_id=experiment_id, run_name="metrics") as run:
        for step in range(steps):
            mlflow.log_metrics(metric_values(step, keys), step=step, synchronous=synchronous)
        if not synchronous:
            mlflow.flush_async_logging()
    seconds = time.perf_counter() - t0
    return {"ops": steps * keys, "seconds": seconds, "run_ids": [run.info.run_id]}


def metrics_log_batch(steps: int, keys: int, experiment_id: str) -> dict[str, Any]:
    """One run; points sent with ``MlflowClient.log_batch`` in batches of 1000 (its best case)."""
    client = MlflowClient()
    t0 = time.perf_counter()
    run = client.create_run(experiment_id, run_name="metrics-batch")
    run_id = run.info.run_id
    pending: list[Metric] = []
    for step in range(steps):
        now = int(time.time() * 1000)
        for key, value in metric_values(step, keys).items():
            pending.append(Metric(key, value, now, step))
        if len(pending) >= BATCH:
            client.log_batch(run_id, metrics=pending[:BATCH])
            pending = pending[BATCH:]
    while pending:
        client.log_batch(run_id, metrics=pending[:BATCH])
        pending = pending[BATCH:]
    client.set_terminated(run_id)
    seconds = time.perf_counter() - t0
    return {"ops": steps * keys, "seconds": seconds, "run_ids": [run_id]}


def runs_workload(count: int, experiment_id: str) -> dict[str, Any]:
    """``count`` runs: start, log 3 params, end."""
    run_ids = []
    t0 = time.perf_counter()
    for i in range(count):
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"run-{i}") as run:
            mlflow.log_params({"lr": "0.001", "batch_size": str(32 + i), "optimizer": "adamw"})
        run_ids.append(run.info.run_id)
    seconds = time.perf_counter() - t0
    return {"ops": count, "seconds": seconds, "run_ids": run_ids}


def latency_workload(count: int, run_id: str) -> dict[str, Any]:
    """``count`` sequential ``MlflowClient.get_run`` calls over one keep-alive session."""
    client = MlflowClient()
    latencies = []
    t0 = time.perf_counter()
    for _ in range(count):
        start = time.perf_counter()
        client.get_run(run_id)
        latencies.append((time.perf_counter() - start) * 1000)
    seconds = time.perf_counter() - t0
    return {"ops": count, "seconds": seconds, "run_ids": [run_id], "latencies_ms": latencies}


def main() -> None:
    """Parse the sizes, warm up, run every workload, print the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--keys", type=int, required=True)
    parser.add_argument("--runs", type=int, required=True)
    parser.add_argument("--latency", type=int, required=True)
    parser.add_argument("--out", required=True, help="Where to write the JSON results.")
    args = parser.parse_args()

    mlflow.set_tracking_uri(args.url)
    client = MlflowClient()

    # Warm-up on its own experiment: first requests pay for imports and caches on both sides.
    warm = client.create_experiment("warmup")
    metrics_per_call(20, args.keys, warm, synchronous=True)
    runs_workload(3, warm)

    results = []
    # Each workload gets its own experiment so the verifier can count exactly its runs.
    for name, job in [
        ("metrics/per-call", lambda e: metrics_per_call(args.steps, args.keys, e, True)),
        ("metrics/async", lambda e: metrics_per_call(args.steps, args.keys, e, False)),
        ("metrics/log_batch", lambda e: metrics_log_batch(args.steps, args.keys, e)),
        ("runs", lambda e: runs_workload(args.runs, e)),
    ]:
        experiment_id = client.create_experiment(name)
        result = job(experiment_id)
        results.append({"name": name, "experiment": name, **result})
    per_call_run = results[0]["run_ids"][0]
    results.append({"name": "latency", **latency_workload(args.latency, per_call_run)})

    with open(args.out, "w", encoding="utf-8") as out:
        json.dump({"mlflow_version": mlflow.__version__, "results": results}, out)


if __name__ == "__main__":
    main()
