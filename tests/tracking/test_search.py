"""search_runs on a small seeded set: every operator, sorting with missing keys, scoping, paging."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest

from podium.errors import InvalidFilter, NotFound
from podium.tracking.models import MetricPoint
from podium.tracking.schemas import RunStatus
from podium.tracking.service import TrackingService


@dataclass(frozen=True)
class Seeded:
    ids: dict[str, str]  # run name -> id

    def names(self, runs) -> list[str]:
        by_id = {v: k for k, v in self.ids.items()}
        return [by_id[r.id] for r in runs]


# name, experiment, start_time, status, user, params, tags, metrics (key -> value)
RUNS = [
    ("a", "exp1", 1_000, "FINISHED", "ada", {"lr": "0.1", "opt": "adam"}, {"team": "NLP"},
     {"loss": 0.5, "acc": 0.8}),
    ("b", "exp1", 2_000, "FINISHED", "bob", {"lr": "0.01", "opt": "sgd"}, {"team": "nlp"},
     {"loss": 0.3}),
    ("c", "exp1", 3_000, "FAILED", "ada", {"lr": "0.1", "opt": "Adam_W"}, {},
     {"loss": math.nan}),
    ("d", "exp2", 4_000, "RUNNING", None, {"opt": "adam%"}, {"team": "vision", "note": "a b"},
     {"acc": 0.9}),
    ("e", "exp2", 5_000, "KILLED", "eve", {}, {}, {"loss": 0.3}),
]  # fmt: skip


@pytest.fixture(scope="module")
def seeded(shared_tracking: TrackingService) -> Seeded:
    tracking = shared_tracking
    ids: dict[str, str] = {}
    for name, experiment, start, status, user, params, tags, metrics in RUNS:
        run = tracking.create_run(
            experiment=experiment,
            name=name,
            start_time=start,
            user=user,
            params=params,
            tags=tags,
            parent_run_id=ids.get("a") if name == "b" else None,
        )
        tracking.log_metrics(run.id, [MetricPoint(k, v, 1, start) for k, v in metrics.items()])
        if status != "RUNNING":
            tracking.update_run(run.id, status=RunStatus(status), end_time=start + 500)
        ids[name] = run.id
    # Another project's run must never show up.
    tracking.create_run(project="elsewhere", experiment="exp1", name="x", params={"lr": "0.1"})
    return Seeded(ids)


@pytest.fixture
def tracking(shared_tracking: TrackingService) -> TrackingService:
    """The seeded service (read-only in this module)."""
    return shared_tracking


def search(tracking, flt="", order_by=(), **kwargs):
    return tracking.search_runs(filter=flt, order_by=order_by, **kwargs)


@pytest.mark.parametrize(
    ("flt", "expected"),
    [
        ("", ["e", "d", "c", "b", "a"]),  # default order: newest first
        ("metrics.loss < 0.4", ["e", "b"]),
        ("metrics.loss <= 0.3", ["e", "b"]),
        ("metrics.loss = 0.3", ["e", "b"]),
        ("metrics.loss != 0.3", ["c", "a"]),  # only runs that have the metric
        ("metrics.loss > 0.4", ["c", "a"]),  # NaN sorts above every number, on both databases
        ("metrics.loss >= 0.5", ["c", "a"]),
        ("metrics.acc > 0.85", ["d"]),
        ("metrics.loss IS NULL", ["d"]),
        ("metrics.acc IS NOT NULL", ["d", "a"]),
        ("params.lr = '0.1'", ["c", "a"]),
        ("params.lr = 0.1", ["c", "a"]),
        ("params.lr != '0.1'", ["b"]),
        ("params.opt LIKE 'adam%'", ["d", "a"]),  # case-sensitive: not Adam_W
        ("params.opt ILIKE 'adam%'", ["d", "c", "a"]),
        ("params.opt NOT LIKE 'adam%'", ["c", "b"]),
        ("params.opt NOT ILIKE 'adam%'", ["b"]),
        (r"params.opt LIKE 'adam\%'", ["d"]),  # an escaped % is literal
        ("params.opt LIKE 'Adam_W'", ["c"]),
        ("params.opt LIKE 'ada_'", ["a"]),
        ("params.opt LIKE '%a%'", ["d", "c", "a"]),
        ("params.opt IN ('sgd', 'adam')", ["b", "a"]),
        ("params.opt NOT IN ('sgd', 'adam')", ["d", "c"]),
        ("params.lr IS NULL", ["e", "d"]),
        ("tags.team = 'nlp'", ["b"]),
        ("tags.team ILIKE 'NLP'", ["b", "a"]),
        ("tags.`note` = 'a b'", ["d"]),
        ("tags.team IS NOT NULL and params.lr IS NULL", ["d"]),
        ("status = 'FINISHED'", ["b", "a"]),
        ("attributes.status != 'FINISHED'", ["e", "d", "c"]),
        ("run.status IN ('failed', 'killed')", ["e", "c"]),
        ("status LIKE 'F%'", ["c", "b", "a"]),
        ("name = 'c'", ["c"]),
        ("name IN ('a', 'e', 'zzz')", ["e", "a"]),
        ("user = 'ada'", ["c", "a"]),
        ("user != 'ada'", ["e", "b"]),  # a NULL user is neither = nor !=
        ("user IS NULL", ["d"]),
        ("parent_run_id IS NOT NULL", ["b"]),
        ("start_time >= 3000", ["e", "d", "c"]),
        ("start_time > 2000 and start_time < 5000", ["d", "c"]),
        ("start_time < '1970-01-01T00:00:02.5Z'", ["b", "a"]),
        ("end_time IS NULL", ["d"]),
        ("end_time <= 2500", ["b", "a"]),
        ("git_commit IS NULL", ["e", "d", "c", "b", "a"]),
        ("metrics.loss < 0.4 and params.opt = 'sgd' and status = 'FINISHED'", ["b"]),
        ("metrics.loss < 0.4 and metrics.acc > 0", []),
    ],
)
def test_filters(tracking, seeded, flt, expected):
    assert seeded.names(search(tracking, flt)) == expected


def test_filter_by_id(tracking, seeded):
    found = search(tracking, f"id = '{seeded.ids['c']}'")
    assert seeded.names(found) == ["c"]
    assert seeded.names(search(tracking, f"parent_run_id = '{seeded.ids['a']}'")) == ["b"]


@pytest.mark.parametrize(
    ("order_by", "expected"),
    [
        (["metrics.loss"], ["e", "b", "a", "c", "d"]),  # tie b/e: newest first; NaN; missing
        (["metrics.loss DESC"], ["c", "a", "e", "b", "d"]),  # missing still last
        (["metrics.acc DESC"], ["d", "a", "e", "c", "b"]),
        (["params.lr"], ["b", "c", "a", "e", "d"]),
        (["params.lr DESC"], ["c", "a", "b", "e", "d"]),
        (["params.opt"], ["c", "a", "d", "b", "e"]),  # byte order: 'A' < 'a'
        (["tags.team ASC"], ["a", "b", "d", "e", "c"]),
        (["name DESC"], ["e", "d", "c", "b", "a"]),
        (["start_time"], ["a", "b", "c", "d", "e"]),
        (["end_time DESC"], ["e", "c", "b", "a", "d"]),
        (["user", "start_time ASC"], ["a", "c", "b", "e", "d"]),
        (["status", "metrics.loss"], ["c", "b", "a", "e", "d"]),
        (["metrics.`loss` ASC", "params.opt DESC"], ["b", "e", "a", "c", "d"]),
    ],
)
def test_order_by(tracking, seeded, order_by, expected):
    assert seeded.names(search(tracking, order_by=order_by)) == expected


def test_paging_is_stable(tracking, seeded):
    pages = [
        seeded.names(search(tracking, order_by=["metrics.loss"], offset=o, limit=2))
        for o in (0, 2, 4)
    ]
    assert pages == [["e", "b"], ["a", "c"], ["d"]]


def test_experiment_scoping(tracking, seeded):
    assert seeded.names(search(tracking, experiments=["exp2"])) == ["e", "d"]
    assert seeded.names(search(tracking, experiments=["exp2", "exp1"], limit=10)) == [
        "e", "d", "c", "b", "a"
    ]  # fmt: skip
    with pytest.raises(NotFound) as info:
        search(tracking, experiments=["exp1", "nope"])
    assert "'nope'" in info.value.message
    with pytest.raises(NotFound):
        search(tracking, project="no-such-project")
    [other] = search(tracking, project="elsewhere")
    assert other.name == "x"


def test_results_carry_params_tags_and_latest_metrics(tracking, seeded):
    [a] = search(tracking, "name = 'a'")
    assert a.params == {"lr": "0.1", "opt": "adam"}
    assert a.tags == {"team": "NLP"}
    assert {k: m.value for k, m in a.metrics.items()} == {"acc": 0.8, "loss": 0.5}
    assert a.experiment == "exp1"
    assert a.project == "default"


def test_bad_filter_and_order_by(tracking, seeded):
    with pytest.raises(InvalidFilter) as info:
        search(tracking, "metrics.loss <")
    assert info.value.extra == {"position": 15}
    with pytest.raises(InvalidFilter) as info:
        search(tracking, order_by=["metrics.loss sideways"])
    assert info.value.field == "order_by"
