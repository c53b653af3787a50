"""TrackingService use cases on SQLite and PostgreSQL: experiments, runs, params, tags."""

from __future__ import annotations

import re
import threading

import pytest

from podium.errors import Conflict, InvalidInput, NotFound
from podium.store.clock import now_ms, to_ms
from podium.tracking.models import TERMINAL_STATUSES, MetricPoint
from podium.tracking.schemas import RunStatus
from podium.tracking.service import generate_run_name

# -- experiments ----------------------------------------------------------------------------------


def test_create_get_and_list_experiments(tracking):
    created = tracking.create_experiment("vision", "resnet", "baseline sweeps")
    assert created.project == "vision"
    assert created.name == "resnet"
    assert created.description == "baseline sweeps"
    assert created.run_count == 0
    assert tracking.get_experiment(created.id) == created

    tracking.create_experiment("vision", "alexnet")
    tracking.create_run(project="vision", experiment="resnet")
    tracking.create_run(project="vision", experiment="resnet")
    listed = tracking.list_experiments("vision")
    assert [(e.name, e.run_count) for e in listed] == [("alexnet", 0), ("resnet", 2)]
    assert [e.name for e in tracking.list_experiments("vision", offset=1, limit=5)] == ["resnet"]
    assert [e.name for e in tracking.list_experiments("vision", limit=1)] == ["alexnet"]


def test_duplicate_experiment_is_a_conflict(tracking):
    tracking.create_experiment("default", "exp")
    with pytest.raises(Conflict) as info:
        tracking.create_experiment("default", "exp")
    assert info.value.field == "name"
    assert "'exp' already exists" in info.value.message
    # The same name in another project is fine.
    assert tracking.create_experiment("other", "exp").project == "other"


def test_experiment_errors(tracking):
    with pytest.raises(NotFound):
        tracking.get_experiment(12345)
    with pytest.raises(NotFound):
        tracking.list_experiments("no-such-project")
    with pytest.raises(InvalidInput) as info:
        tracking.create_experiment("default", "bad name!")
    assert info.value.field == "name"


# -- runs -----------------------------------------------------------------------------------------


def test_create_run_creates_project_and_experiment(tracking):
    before = now_ms()
    run = tracking.create_run(
        project="nlp",
        experiment="bert",
        git_commit="abc123",
        command="python train.py",
        user="ada",
        params={"lr": "0.01", "layers": "12"},
        tags={"team": "research"},
    )
    assert re.fullmatch(r"[0-9a-f]{32}", run.id)
    assert re.fullmatch(r"[a-z]+-[a-z]+-\d\d", run.name)
    assert run.project == "nlp"
    assert run.experiment == "bert"
    assert run.status is RunStatus.RUNNING
    assert before <= to_ms(run.start_time) <= now_ms()
    assert run.end_time is None
    assert (run.git_commit, run.command, run.user) == ("abc123", "python train.py", "ada")
    assert run.params == {"layers": "12", "lr": "0.01"}
    assert run.tags == {"team": "research"}
    assert run.metrics == {}
    experiment = tracking.get_experiment(run.experiment_id)
    assert (experiment.project, experiment.name, experiment.run_count) == ("nlp", "bert", 1)


def test_create_run_with_name_start_time_and_parent(tracking):
    parent = tracking.create_run(name="sweep")
    child = tracking.create_run(name="trial-1", parent_run_id=parent.id, start_time=1_000)
    assert child.name == "trial-1"
    assert to_ms(child.start_time) == 1_000
    assert child.parent_run_id == parent.id
    detail = tracking.get_run(parent.id)
    assert detail.child_run_ids == [child.id]
    assert detail.name == "sweep"


def test_unknown_parent_is_not_found_naming_the_field(tracking):
    with pytest.raises(NotFound) as info:
        tracking.create_run(parent_run_id="f" * 32)
    assert info.value.field == "parent_run_id"
    assert "f" * 32 in info.value.message


def test_run_experiments_are_created_once_under_concurrency(tracking):
    barrier = threading.Barrier(6)
    failures: list[BaseException] = []

    def start() -> None:
        try:
            barrier.wait()
            tracking.create_run(project="race", experiment="same")
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    [experiment] = tracking.list_experiments("race")
    assert (experiment.name, experiment.run_count) == ("same", 6)


def test_generated_names_vary():
    assert len({generate_run_name() for _ in range(50)}) > 10


def test_get_unknown_run(tracking):
    with pytest.raises(NotFound) as info:
        tracking.get_run("nope")
    assert "'nope' does not exist" in info.value.message
    assert info.value.field == "run_id"


@pytest.mark.parametrize("status", sorted(TERMINAL_STATUSES))
def test_terminal_status_without_end_time_ends_now(tracking, status):
    run = tracking.create_run()
    before = now_ms()
    ended = tracking.update_run(run.id, status=status)
    assert ended.status is status
    assert ended.end_time is not None
    assert before <= to_ms(ended.end_time) <= now_ms()


def test_update_run_end_time_name_and_back_to_running(tracking):
    run = tracking.create_run(start_time=1_000)
    ended = tracking.update_run(run.id, status=RunStatus.FINISHED, end_time=5_000, name="final")
    assert (ended.status, to_ms(ended.end_time), ended.name) == (RunStatus.FINISHED, 5_000, "final")
    # Marking an ended run FAILED keeps its end time.
    failed = tracking.update_run(run.id, status=RunStatus.FAILED)
    assert to_ms(failed.end_time) == 5_000
    resumed = tracking.update_run(run.id, status=RunStatus.RUNNING)
    assert (resumed.status, resumed.end_time) == (RunStatus.RUNNING, None)
    renamed = tracking.update_run(run.id, name="renamed")
    assert (renamed.name, renamed.status) == ("renamed", RunStatus.RUNNING)


def test_update_run_errors(tracking):
    run = tracking.create_run(start_time=10_000)
    with pytest.raises(InvalidInput) as info:
        tracking.update_run(run.id, end_time=5_000)
    assert info.value.field == "end_time"
    with pytest.raises(InvalidInput) as info:
        tracking.update_run(run.id, name="bad\nname")
    assert info.value.field == "name"
    with pytest.raises(InvalidInput) as info:
        tracking.update_run(run.id, status="DONE")  # type: ignore[arg-type]
    assert info.value.field == "status"
    with pytest.raises(NotFound):
        tracking.update_run("nope", status=RunStatus.FINISHED)


def test_delete_run_removes_its_rows_and_orphans_children(tracking, services):
    import io

    parent = tracking.create_run(params={"a": "1"}, tags={"t": "x"})
    child = tracking.create_run(parent_run_id=parent.id)
    tracking.log_metrics(parent.id, [MetricPoint("loss", 1.0, 0, 1)])
    artifact = tracking.log_artifact(parent.id, "f.txt", io.BytesIO(b"shared"))
    tracking.delete_run(parent.id)
    with pytest.raises(NotFound):
        tracking.get_run(parent.id)
    assert tracking.get_run(child.id).parent_run_id is None
    # Blobs stay: another run (or a model version) may point at the same content.
    assert services.blobs.exists(artifact.sha256)
    with pytest.raises(NotFound):
        tracking.delete_run(parent.id)


# -- params and tags ------------------------------------------------------------------------------


def test_params_are_write_once(tracking):
    run = tracking.create_run(params={"lr": "0.01"})
    tracking.log_params(run.id, {"lr": "0.01", "epochs": "3"})  # same value again: fine
    with pytest.raises(Conflict) as info:
        tracking.log_params(run.id, {"batch": "64", "lr": "0.02"})
    message = info.value.message
    assert "'lr'" in message and "'0.01'" in message and "'0.02'" in message
    assert info.value.field == "params.lr"
    # The batch is all or nothing: "batch" was not recorded either.
    assert tracking.get_run(run.id).params == {"epochs": "3", "lr": "0.01"}


def test_concurrent_writers_of_one_param_cannot_both_win(tracking):
    run = tracking.create_run()
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def log(value: str) -> None:
        barrier.wait()
        try:
            tracking.log_params(run.id, {"seed": value})
            outcomes.append("ok")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=log, args=(str(i),)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict", "conflict", "conflict", "ok"]
    assert tracking.get_run(run.id).params["seed"] in {"0", "1", "2", "3"}


def test_tags_upsert_and_delete(tracking):
    run = tracking.create_run(tags={"a": "1"})
    tracking.set_tags(run.id, {"a": "2", "b": "3"})
    assert tracking.get_run(run.id).tags == {"a": "2", "b": "3"}
    tracking.delete_tag(run.id, "a")
    assert tracking.get_run(run.id).tags == {"b": "3"}
    with pytest.raises(NotFound) as info:
        tracking.delete_tag(run.id, "a")
    assert info.value.field == "key"
    with pytest.raises(NotFound):
        tracking.delete_tag("nope", "b")


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda t, r: t.log_params(r, {"": "x"}), "params."),
        (lambda t, r: t.log_params(r, {"k" * 251: "x"}), "params." + "k" * 251),
        (lambda t, r: t.log_params(r, {"a\tb": "x"}), "params.a\tb"),
        (lambda t, r: t.log_params(r, {"a": "v" * 6001}), "params.a"),
        (lambda t, r: t.set_tags(r, {"a\x00": "x"}), "tags.a\x00"),
        (lambda t, r: t.set_tags(r, {"a": "v" * 8001}), "tags.a"),
        (lambda t, r: t.create_run(params={"a": "v" * 6001}), "params.a"),
        (lambda t, r: t.create_run(name=""), "name"),
        (lambda t, r: t.create_run(experiment="no spaces please"), "name"),
    ],
)
def test_key_and_value_limits(tracking, call, field):
    run = tracking.create_run()
    with pytest.raises(InvalidInput) as info:
        call(tracking, run.id)
    assert info.value.field == field


def test_limits_are_inclusive(tracking):
    run = tracking.create_run()
    tracking.log_params(run.id, {"k" * 250: "v" * 6000})
    tracking.set_tags(run.id, {"t": "v" * 8000, "with space/and:colon": "ok"})
    found = tracking.get_run(run.id)
    assert found.params == {"k" * 250: "v" * 6000}
    assert found.tags["t"] == "v" * 8000


def test_params_and_tags_on_unknown_run(tracking):
    with pytest.raises(NotFound):
        tracking.log_params("nope", {"a": "1"})
    with pytest.raises(NotFound):
        tracking.set_tags("nope", {"a": "1"})


# -- compare --------------------------------------------------------------------------------------


def test_compare_runs(tracking):
    a = tracking.create_run(params={"lr": "0.1", "opt": "adam"})
    b = tracking.create_run(params={"lr": "0.2", "opt": "adam", "extra": "1"})
    tracking.log_metrics(a.id, [MetricPoint("loss", 0.5, 1, 1)])
    tracking.log_metrics(b.id, [MetricPoint("acc", 0.9, 1, 1)])
    found = tracking.compare_runs([b.id, a.id])
    assert [r.id for r in found.runs] == [b.id, a.id]
    assert found.params == {
        "extra": {b.id: "1", a.id: None},
        "lr": {b.id: "0.2", a.id: "0.1"},
        "opt": {b.id: "adam", a.id: "adam"},
    }
    assert found.metrics == {"acc": {b.id: 0.9, a.id: None}, "loss": {b.id: None, a.id: 0.5}}
    assert found.differing_params == ["extra", "lr"]


def test_compare_runs_errors(tracking):
    a = tracking.create_run()
    with pytest.raises(InvalidInput) as info:
        tracking.compare_runs([a.id])
    assert info.value.field == "run_ids"
    with pytest.raises(InvalidInput):
        tracking.compare_runs([a.id, a.id])  # duplicates count once
    with pytest.raises(InvalidInput):
        tracking.compare_runs([f"{i:032x}" for i in range(51)])
    with pytest.raises(NotFound) as info:
        tracking.compare_runs([a.id, "missing-run"])
    assert "'missing-run'" in info.value.message


def test_search_loads_a_page_without_n_plus_1_queries(tracking, services):
    from sqlalchemy import event

    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    def search_statements() -> int:
        statements.clear()
        event.listen(services.db.engine, "before_cursor_execute", count)
        try:
            found = tracking.search_runs(filter="params.a = '1'", order_by=["metrics.m"])
        finally:
            event.remove(services.db.engine, "before_cursor_execute", count)
        assert all(run.params == {"a": "1"} and "m" in run.metrics for run in found)
        return len(statements)

    def add_run() -> None:
        run = tracking.create_run(params={"a": "1"}, tags={"t": "x"})
        tracking.log_metrics(run.id, [MetricPoint("m", 1.0, 0, 1)])

    for _ in range(2):
        add_run()
    with_two = search_statements()
    for _ in range(10):
        add_run()
    assert search_statements() == with_two
    # One project lookup, the page, then one query each for params, tags and latest metrics
    # (plus an explicit BEGIN per transaction on SQLite).
    assert with_two <= 7
