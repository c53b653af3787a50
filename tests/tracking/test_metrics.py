"""Metric logging: the batch insert, latest-metric semantics, history, downsampling, concurrency."""

from __future__ import annotations

import itertools
import math
import multiprocessing
import random
import tempfile
import threading
from pathlib import Path

import pytest

from podium.errors import InvalidInput, NotFound
from podium.tracking.models import LatestMetric, MetricPoint
from podium.tracking.schemas import RunStatus


def points(key: str, steps, *, ts: int = 1_000) -> list[MetricPoint]:
    return [MetricPoint(key, float(step) / 10, step, ts) for step in steps]


def test_log_and_read_back(tracking):
    run = tracking.create_run()
    logged = tracking.log_metrics(
        run.id,
        [
            MetricPoint("loss", 2.0, 0, 100),
            MetricPoint("loss", 1.0, 1, 200),
            MetricPoint("acc", 0.5, 1, 200),
            MetricPoint("loss", 0.5, 2, 300),
        ],
    )
    assert logged == 4
    found = tracking.get_run(run.id)
    assert found.metrics == {
        "acc": LatestMetric(0.5, 1, 200),
        "loss": LatestMetric(0.5, 2, 300),
    }
    assert tracking.metric_history(run.id, "loss") == [
        MetricPoint("loss", 2.0, 0, 100),
        MetricPoint("loss", 1.0, 1, 200),
        MetricPoint("loss", 0.5, 2, 300),
    ]
    assert tracking.metric_history(run.id, "never-logged") == []
    assert tracking.log_metrics(run.id, []) == 0


def test_latest_is_the_highest_step_not_the_last_logged(tracking):
    run = tracking.create_run()
    tracking.log_metrics(run.id, [MetricPoint("loss", 0.1, 10, 1)])
    tracking.log_metrics(run.id, [MetricPoint("loss", 0.9, 3, 999)])  # older step, newer time
    assert tracking.get_run(run.id).metrics["loss"] == LatestMetric(0.1, 10, 1)
    # Same step: the later timestamp wins, in a later batch and inside one batch.
    tracking.log_metrics(run.id, [MetricPoint("loss", 0.2, 10, 5)])
    assert tracking.get_run(run.id).metrics["loss"] == LatestMetric(0.2, 10, 5)
    tracking.log_metrics(run.id, [MetricPoint("loss", 0.4, 11, 9), MetricPoint("loss", 0.3, 11, 8)])
    assert tracking.get_run(run.id).metrics["loss"] == LatestMetric(0.4, 11, 9)


def test_same_step_and_timestamp_the_point_logged_last_wins(tracking):
    # Steps default to 0 and timestamps are milliseconds, so ties are common.
    run = tracking.create_run()
    tracking.log_metrics(run.id, [MetricPoint("x", 1.0, 0, 7), MetricPoint("x", 2.0, 0, 7)])
    assert tracking.get_run(run.id).metrics["x"].value == 2.0
    tracking.log_metrics(run.id, [MetricPoint("x", 3.0, 0, 7)])
    assert tracking.get_run(run.id).metrics["x"].value == 3.0
    history = tracking.metric_history(run.id, "x")
    assert [p.value for p in history] == [1.0, 2.0, 3.0]  # ties keep logging order


def test_nan_and_infinities_are_stored(tracking):
    run = tracking.create_run()
    tracking.log_metrics(
        run.id,
        [
            MetricPoint("nan", math.nan, 0, 1),
            MetricPoint("inf", math.inf, 0, 1),
            MetricPoint("ninf", -math.inf, 0, 1),
            MetricPoint("big", 1e308, 0, 1),
        ],
    )
    metrics = tracking.get_run(run.id).metrics
    assert math.isnan(metrics["nan"].value)
    assert metrics["inf"].value == math.inf
    assert metrics["ninf"].value == -math.inf
    assert metrics["big"].value == 1e308
    [point] = tracking.metric_history(run.id, "nan")
    assert math.isnan(point.value)


def test_logging_to_an_ended_run_is_allowed(tracking):
    run = tracking.create_run()
    tracking.update_run(run.id, status=RunStatus.FINISHED)
    assert tracking.log_metrics(run.id, points("late_eval", [1])) == 1
    assert tracking.get_run(run.id).metrics["late_eval"].step == 1


def test_unknown_run_and_bad_points(tracking):
    with pytest.raises(NotFound):
        tracking.log_metrics("nope", points("x", [1]))
    with pytest.raises(NotFound):
        tracking.log_metrics("nope", [])
    with pytest.raises(NotFound):
        tracking.metric_history("nope", "x")
    run = tracking.create_run()
    batch = [*points("ok", [1, 2]), MetricPoint("bad\nkey", 1.0, 0, 1)]
    with pytest.raises(InvalidInput) as info:
        tracking.log_metrics(run.id, batch)
    assert info.value.field == "metrics.2.key"
    with pytest.raises(InvalidInput) as info:
        tracking.log_metrics(run.id, [MetricPoint("x", 1.0, -1, 1)])
    assert info.value.field == "metrics.0.step"
    with pytest.raises(InvalidInput) as info:
        tracking.log_metrics(run.id, [MetricPoint("k" * 251, 1.0, 0, 1)])
    assert info.value.field == "metrics.0.key"
    # Nothing of a refused batch was written.
    assert tracking.get_run(run.id).metrics == {}


def test_history_is_ordered_by_step_then_timestamp_and_paged(tracking):
    run = tracking.create_run()
    shuffled = list(range(50))
    random.Random(4).shuffle(shuffled)
    tracking.log_metrics(run.id, [MetricPoint("x", float(s), s, 1_000 - s) for s in shuffled])
    tracking.log_metrics(run.id, [MetricPoint("x", -1.0, 10, 0)])  # same step, earlier time
    history = tracking.metric_history(run.id, "x")
    assert [(p.step, p.timestamp) for p in history][9:12] == [(9, 991), (10, 0), (10, 990)]
    page = tracking.metric_history(run.id, "x", offset=10, limit=3)
    assert [(p.step, p.value) for p in page] == [(10, -1.0), (10, 10.0), (11, 11.0)]
    assert len(tracking.metric_history(run.id, "x", offset=45)) == 6


@pytest.mark.parametrize(
    ("total", "max_points", "expected"),
    [
        (10, 3, [0, 4, 9]),
        (10, 2, [0, 9]),
        (7, 4, [0, 2, 4, 6]),
        (101, 5, [0, 25, 50, 75, 100]),
        (5, 5, [0, 1, 2, 3, 4]),  # not longer than max_points: untouched
        (3, 10, [0, 1, 2]),
    ],
)
def test_downsampling_keeps_first_last_and_evenly_spaced(tracking, total, max_points, expected):
    run = tracking.create_run()
    tracking.log_metrics(run.id, points("x", range(total)))
    sampled = tracking.metric_history(run.id, "x", max_points=max_points)
    assert [p.step for p in sampled] == expected


def test_downsampling_a_long_series_gives_exactly_max_points(tracking):
    run = tracking.create_run()
    tracking.log_metrics(run.id, points("x", range(0, 3_000, 3)))
    sampled = tracking.metric_history(run.id, "x", max_points=333)
    steps = [p.step for p in sampled]
    assert len(steps) == 333
    assert steps[0] == 0 and steps[-1] == 2_997
    gaps = {b - a for a, b in itertools.pairwise(steps)}
    assert gaps <= {9, 12}  # evenly spaced: 999 / 332 = 3.009 points apart
    # offset/limit page over the downsampled series.
    page = tracking.metric_history(run.id, "x", max_points=333, offset=331, limit=10)
    assert [p.step for p in page] == steps[331:]
    with pytest.raises(InvalidInput):
        tracking.metric_history(run.id, "x", max_points=1)


def test_concurrent_threads_converge_on_the_highest_step(tracking):
    run = tracking.create_run()
    keys = ["loss", "acc", "lr"]
    steps = list(range(400))
    random.Random(7).shuffle(steps)
    chunks = [steps[i::8] for i in range(8)]  # 8 writers, each with out-of-order steps
    barrier = threading.Barrier(8)
    failures: list[BaseException] = []

    def write(chunk: list[int]) -> None:
        try:
            barrier.wait()
            for i in range(0, len(chunk), 10):
                batch = [
                    MetricPoint(key, step * 1.5, step, 1_000 + step)
                    for step in chunk[i : i + 10]
                    for key in keys
                ]
                random.shuffle(batch)
                tracking.log_metrics(run.id, batch)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert tracking.get_run(run.id).metrics == {
        key: LatestMetric(399 * 1.5, 399, 1_399) for key in keys
    }
    assert len(tracking.metric_history(run.id, "loss")) == 400


def _log_from_another_process(database_url: str, run_id: str, steps: list[int]) -> None:
    """Worker of the multi-process test: its own engine over the same database."""
    from podium.access.service import ProjectService
    from podium.store.blobs.local import LocalBlobStore
    from podium.store.engine import open_database
    from podium.tracking.service import TrackingService

    db = open_database(database_url)
    try:
        service = TrackingService(db, LocalBlobStore(Path(tempfile.mkdtemp())), ProjectService(db))
        for i in range(0, len(steps), 25):
            service.log_metrics(
                run_id, [MetricPoint("loss", float(s), s, s) for s in steps[i : i + 25]]
            )
    finally:
        db.dispose()


@pytest.mark.slow
def test_eight_processes_logging_to_one_run(tracking, settings):
    run = tracking.create_run()
    steps = list(range(800))
    random.Random(11).shuffle(steps)
    context = multiprocessing.get_context("spawn")
    with context.Pool(8) as pool:
        pool.starmap(
            _log_from_another_process,
            [(settings.resolved_database_url, run.id, steps[i::8]) for i in range(8)],
        )
    assert tracking.get_run(run.id).metrics["loss"] == LatestMetric(799.0, 799, 799)
    assert len(tracking.metric_history(run.id, "loss")) == 800
