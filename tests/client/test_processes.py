"""Several client processes logging to one run through the SDK: nothing lost, even in a crash.

The workers are subprocesses running ``worker.py``; each builds its client from the environment
exactly as a training script would (embedded mode, or ``PODIUM_URL``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from podium.client import Client
from podium.settings import Settings
from tests.client.support import history, steps
from tests.conftest import LiveServer

WORKER = Path(__file__).with_name("worker.py")
REPO = Path(__file__).resolve().parents[2]
PROCESSES = 8
POINTS = 2_000


def spawn(env: dict[str, str], *args: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), *map(str, args)],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_all(procs: list[subprocess.Popen[str]], timeout: float = 240) -> None:
    """Wait for every worker (killing them all past ``timeout``); each must exit 0."""
    deadline = time.monotonic() + timeout
    outputs = []
    for proc in procs:
        try:
            out, _ = proc.communicate(timeout=max(deadline - time.monotonic(), 1))
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            out += "\n[killed: timed out]"
        outputs.append(out)
    for proc, out in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, out


def embedded_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PODIUM_")}
    env["PODIUM_HOME"] = str(settings.home)
    env["PODIUM_DATABASE_URL"] = settings.resolved_database_url
    return env


def http_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PODIUM_")}
    env["PODIUM_URL"] = url
    return env


def assert_concurrent_logging_lost_nothing(client: Client, run_id: str) -> None:
    for worker in range(PROCESSES):
        assert steps(client, run_id, f"own.{worker}") == list(range(POINTS))
    shared = history(client, run_id, "shared")
    assert [p["step"] for p in shared] == list(range(PROCESSES * POINTS))
    assert all(p["value"] == p["step"] for p in shared)
    latest = client.get(f"/runs/{run_id}")["metrics"]["shared"]
    assert (latest["step"], latest["value"]) == (PROCESSES * POINTS - 1, PROCESSES * POINTS - 1)


@pytest.mark.slow
def test_processes_in_embedded_mode_share_a_run(settings: Settings, client: Client) -> None:
    with_run = client.post("/runs", {"project": "p", "experiment": "concurrent"})
    env = embedded_env(settings)
    procs = [spawn(env, "concurrent", with_run["id"], w, POINTS) for w in range(PROCESSES)]
    wait_all(procs)
    assert_concurrent_logging_lost_nothing(client, with_run["id"])


@pytest.mark.slow
def test_processes_over_http_share_a_run(live_server: LiveServer) -> None:
    with Client(live_server.url) as api:
        run = api.post("/runs", {"project": "p", "experiment": "concurrent"})
        env = http_env(live_server.url)
        procs = [spawn(env, "concurrent", run["id"], w, POINTS) for w in range(PROCESSES)]
        wait_all(procs)
        assert_concurrent_logging_lost_nothing(api, run["id"])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("how", "status"), [("exit", "FINISHED"), ("crash", "FAILED"), ("interrupt", "KILLED")]
)
def test_the_exit_hook_ends_a_run_left_open(
    settings: Settings, client: Client, how: str, status: str
) -> None:
    proc = spawn(embedded_env(settings), "unended", how)
    out, _ = proc.communicate(timeout=120)
    assert (proc.returncode == 0) == (how == "exit"), out
    run_id = out.splitlines()[0]
    assert client.get(f"/runs/{run_id}")["status"] == status
    assert steps(client, run_id, "loss") == list(range(1_000))


def acknowledged(path: Path) -> set[int]:
    if not path.exists():
        return set()
    return {int(line) for line in path.read_text().split()}


def wait_for_acks(files: list[Path], at_least: list[int], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(len(acknowledged(f)) >= n for f, n in zip(files, at_least, strict=True)):
            return
        time.sleep(0.05)
    counts = [len(acknowledged(f)) for f in files]
    raise AssertionError(f"workers acknowledged {counts} batches, waited for {at_least}")


@pytest.mark.slow
def test_acknowledged_points_survive_a_server_crash(
    live_server: LiveServer, tmp_path: Path
) -> None:
    workers, batch = 4, 20
    with Client(live_server.url) as api:
        run_id = api.post("/runs", {"project": "p", "experiment": "crash"})["id"]
    stop = tmp_path / "stop"
    acks = [tmp_path / f"acks.{w}" for w in range(workers)]
    env = http_env(live_server.url)
    procs = [spawn(env, "durable", run_id, w, acks[w], stop, batch) for w in range(workers)]
    try:
        wait_for_acks(acks, [10] * workers)
        live_server.kill()  # SIGKILL while the workers are sending
        crashed = live_server.proc
        if crashed is not None and crashed.stdout is not None:
            crashed.stdout.close()  # kill() leaves the dead server's pipe open; start() drops it
        before_restart = [len(acknowledged(f)) for f in acks]
        time.sleep(0.5)
        live_server.start()
        wait_for_acks(acks, [n + 10 for n in before_restart])
    finally:
        stop.touch()
        wait_all(procs, timeout=120)

    with Client(live_server.url) as api:
        for worker, ack_file in enumerate(acks):
            done = acknowledged(ack_file)
            stored = steps(api, run_id, f"w.{worker}")
            assert len(stored) >= len(done) * batch
            expected = {b * batch + j for b in done for j in range(batch)}
            missing = expected - set(stored)
            assert not missing, f"worker {worker} lost acknowledged steps {sorted(missing)[:10]}"
