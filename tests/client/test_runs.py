"""``start_run`` / ``ActiveRun`` end to end through the in-process app (SQLite and PostgreSQL)."""

from __future__ import annotations

import getpass
import hashlib
import math
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from podium import errors
from podium.client import Client, start_run
from podium.client.runs import active_run, git_commit
from tests.client.support import history, steps
from tests.conftest import LiveServer

REPO = Path(__file__).resolve().parents[2]


def head_commit() -> str | None:
    done = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    )
    return done.stdout.strip() if done.returncode == 0 else None


def test_a_run_records_params_tags_metrics_and_provenance(client: Client) -> None:
    with start_run(
        "first",
        project="vision",
        experiment="resnet",
        params={"lr": 0.01, "layers": 50},
        tags={"team": "cv"},
        client=client,
    ) as run:
        assert run.info["status"] == "RUNNING"
        assert run.info["name"] == "first"
        run.log_param("epochs", 3)
        run.set_tag("stage", "dev")
        run.set_tags({"gpu": "a100"})
        for step in range(10):
            run.log_metrics({"loss": 1 / (step + 1), "acc": step / 10}, step=step)
        run.log_metric("lr", 0.5)
    detail = client.get(f"/runs/{run.id}")
    assert detail["status"] == "FINISHED"
    assert detail["end_time"] is not None
    assert detail["project"] == "vision"
    assert detail["experiment"] == "resnet"
    assert detail["params"] == {"lr": "0.01", "layers": "50", "epochs": "3"}
    assert detail["tags"] == {"team": "cv", "stage": "dev", "gpu": "a100"}
    assert detail["metrics"]["loss"]["step"] == 9
    assert detail["metrics"]["loss"]["value"] == pytest.approx(0.1)
    assert detail["metrics"]["acc"]["value"] == pytest.approx(0.9)
    assert detail["metrics"]["lr"] == {**detail["metrics"]["lr"], "value": 0.5, "step": 0}
    assert steps(client, run.id, "loss") == list(range(10))
    assert detail["git_commit"] == head_commit()
    assert detail["command"] == shlex.join(sys.argv)
    assert detail["user"] == getpass.getuser()
    assert run.info["status"] == "FINISHED"  # end() refreshed ``info``


def test_no_commit_outside_a_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: Client
) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    monkeypatch.chdir(tmp_path)
    assert git_commit() is None
    with start_run(client=client) as run:
        pass
    assert run.info["git_commit"] is None


def test_log_git_false_records_no_commit(client: Client) -> None:
    with start_run(client=client, log_git=False) as run:
        pass
    assert run.info["git_commit"] is None


def test_an_exception_fails_the_run_and_propagates(client: Client) -> None:
    with pytest.raises(ValueError, match="diverged"), start_run(client=client) as run:
        run.log_metric("loss", 1.0)
        raise ValueError("diverged")
    detail = client.get(f"/runs/{run.id}")
    assert detail["status"] == "FAILED"
    assert steps(client, run.id, "loss") == [0]  # logged before the failure, still delivered


def test_keyboard_interrupt_kills_the_run(client: Client) -> None:
    with pytest.raises(KeyboardInterrupt), start_run(client=client) as run:
        raise KeyboardInterrupt
    assert client.get(f"/runs/{run.id}")["status"] == "KILLED"


def test_end_without_a_with_block(client: Client) -> None:
    run = start_run(client=client)
    assert active_run() is run
    run.end("killed")
    run.end()  # a second end does nothing
    assert client.get(f"/runs/{run.id}")["status"] == "KILLED"
    assert active_run() is None
    other = start_run(client=client)
    with pytest.raises(errors.InvalidInput, match="FINISHED, FAILED, KILLED"):
        other.end("DONE")
    other.end()


def test_nested_runs_are_children_of_the_active_run(client: Client) -> None:
    with start_run("parent", client=client) as parent:
        assert active_run() is parent
        with start_run("child", nested=True) as child:  # reuses the parent's client
            assert active_run() is child
            assert child.client is client
        with start_run("second", nested=True) as second:
            pass
        assert active_run() is parent
        with start_run("explicit", parent_run_id=parent.id, client=client) as explicit:
            pass
    assert active_run() is None
    assert child.info["parent_run_id"] == parent.id
    assert explicit.info["parent_run_id"] == parent.id
    detail = client.get(f"/runs/{parent.id}")
    assert sorted(detail["child_run_ids"]) == sorted([child.id, second.id, explicit.id])


def test_default_steps_count_per_key(client: Client) -> None:
    with start_run(client=client) as run:
        run.log_metric("loss", 3.0)
        run.log_metric("loss", 2.0)
        run.log_metric("acc", 0.1)
        run.log_metric("loss", 1.0, step=10)
        run.log_metrics({"loss": 0.5, "acc": 0.2})
    assert steps(client, run.id, "loss") == [0, 1, 10, 11]
    assert steps(client, run.id, "acc") == [0, 1]


def test_attaching_to_a_run_continues_its_steps(client: Client) -> None:
    with start_run(client=client) as run:
        run.log_metrics({"loss": 1.0}, step=7)
    with start_run(run_id=run.id, client=client, params={"resumed": True}) as again:
        assert again.id == run.id
        assert again.info["status"] == "RUNNING"
        again.log_metric("loss", 0.5)
    detail = client.get(f"/runs/{run.id}")
    assert detail["status"] == "FINISHED"
    assert detail["params"] == {"resumed": "True"}
    assert steps(client, run.id, "loss") == [7, 8]


def test_a_conflicting_param_fails_at_the_call(client: Client) -> None:
    with start_run(client=client, params={"lr": "0.1"}) as run:
        run.log_param("lr", "0.1")  # the same value again is fine
        with pytest.raises(errors.Conflict):
            run.log_param("lr", "0.2")


def test_flush_raises_when_the_run_was_deleted(client: Client) -> None:
    run = start_run(client=client)
    run.log_metric("loss", 1.0)
    run.flush()
    client.request("DELETE", f"/runs/{run.id}")
    run.log_metric("loss", 2.0)
    with pytest.raises(errors.NotFound):
        run.flush()
    with pytest.raises(errors.NotFound):
        run.end()


def test_nan_and_infinity_round_trip(client: Client) -> None:
    with start_run(client=client) as run:
        run.log_metrics({"loss": math.nan, "grad": math.inf})
    assert math.isnan(float(history(client, run.id, "loss")[0]["value"]))
    assert float(history(client, run.id, "grad")[0]["value"]) == math.inf


def test_artifacts_are_uploaded_and_read_back(tmp_path: Path, client: Client) -> None:
    weights = tmp_path / "weights.bin"
    weights.write_bytes(bytes(range(256)) * 10_000)  # 2.5 MB: several upload chunks
    folder = tmp_path / "report"
    (folder / "plots").mkdir(parents=True)
    (folder / "summary.txt").write_text("ok")
    (folder / "plots" / "loss.svg").write_text("<svg/>")
    with start_run(client=client) as run:
        single = run.log_artifact(weights, artifact_path="model")
        many = run.log_artifacts(folder, artifact_path="report")
        bare = run.log_artifact(str(folder / "summary.txt"))
    assert single["path"] == "model/weights.bin"
    assert single["size"] == 2_560_000
    assert [a["path"] for a in many] == ["report/plots/loss.svg", "report/summary.txt"]
    assert bare["path"] == "summary.txt"
    content = b"".join(
        client.download(f"/runs/{run.id}/artifacts/content", params={"path": "model/weights.bin"})
    )
    assert content == weights.read_bytes()
    detail = client.get(f"/runs/{run.id}")
    assert sorted(a["path"] for a in detail["artifacts"]) == [
        "model/weights.bin",
        "report/plots/loss.svg",
        "report/summary.txt",
        "summary.txt",
    ]
    with start_run(client=client) as run, pytest.raises(errors.InvalidInput, match="not a file"):
        run.log_artifact(folder)


def test_logging_after_end_is_refused(client: Client) -> None:
    with start_run(client=client) as run:
        pass
    with pytest.raises(errors.Conflict, match="has ended"):
        run.log_metric("loss", 1.0)


def test_an_unknown_parent_is_reported(client: Client) -> None:
    with pytest.raises(errors.PodiumError) as raised:
        start_run(client=client, parent_run_id="0" * 32)
    assert raised.value.status in (404, 422)
    assert active_run() is None


@pytest.mark.slow
def test_a_large_artifact_streams_over_http(tmp_path: Path, live_server: LiveServer) -> None:
    big = tmp_path / "big.bin"
    chunk = hashlib.sha256(b"seed").digest() * 32_768  # 1 MiB
    with big.open("wb") as out:
        for _ in range(20):  # 20 MiB: above the JSON body limit, so it must go as a stream
            out.write(chunk)
    with Client(live_server.url) as api, start_run(client=api) as run:
        artifact = run.log_artifact(big)
        assert artifact["size"] == 20 * 1024 * 1024
        assert artifact["sha256"] == hashlib.sha256(big.read_bytes()).hexdigest()
        digest = hashlib.sha256()
        for part in api.download(f"/runs/{run.id}/artifacts/content", params={"path": "big.bin"}):
            digest.update(part)
        assert digest.hexdigest() == artifact["sha256"]
