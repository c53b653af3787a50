"""The evals REST API on both databases: reporting experiments, paging items, comparing with
the paired bootstrap, labels, the judge cache, and the errors users see."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import numpy as np
import pytest

BASE = "/api/v1/evals"


def key(i: int) -> str:
    return hashlib.sha256(f"item-{i}".encode()).hexdigest()


def report(
    http: httpx.Client,
    scores: list[float],
    *,
    target: str = "t",
    latency: list[float] | None = None,
    project: str = "default",
) -> dict[str, Any]:
    """An experiment reported as a runner would: start, items, finish."""
    body = {
        "project": project,
        "suite": "s",
        "target": target,
        "target_hash": hashlib.sha256(target.encode()).hexdigest(),
        "dataset": "qa",
        "dataset_version": 1,
        "scorers": {"acc": True, "latency": False},
    }
    started = http.post(f"{BASE}/experiments", json=body)
    assert started.status_code == 201, started.text
    eid = started.json()["experiment"]["id"]
    items = [
        {
            "key": key(i),
            "position": i,
            "input": f"q{i}",
            "expected": "a",
            "output": "a" if s else "b",
            "scores": {"acc": s, "latency": (latency or [10.0] * len(scores))[i]},
        }
        for i, s in enumerate(scores)
    ]
    for start in range(0, len(items), 1000):
        stored = http.post(
            f"{BASE}/experiments/{eid}/items",
            params={"project": project},
            json={"items": items[start : start + 1000]},
        )
        assert stored.status_code == 200, stored.text
    finished = http.post(
        f"{BASE}/experiments/{eid}/finish", params={"project": project}, json={"aggregates": {}}
    )
    assert finished.status_code == 200, finished.text
    return dict(finished.json())


def test_report_page_and_get_an_experiment(http: httpx.Client) -> None:
    found = report(http, [1.0, 0.0, 1.0, 1.0])
    assert found["metrics"] == {"acc": 0.75, "latency": 10.0, "error_rate": 0.0}
    assert (found["status"], found["item_count"], found["summary"]["items"]) == ("finished", 4, 4)
    page = http.get(f"{BASE}/experiments/{found['id']}/items", params={"limit": 3}).json()
    assert [i["position"] for i in page["items"]] == [0, 1, 2]
    assert page["next_offset"] == 3
    listed = http.get(f"{BASE}/experiments", params={"suite": "s"}).json()["items"]
    assert [e["id"] for e in listed] == [found["id"]]
    # Finished experiments take no more items.
    late = http.post(
        f"{BASE}/experiments/{found['id']}/items",
        json={"items": [{"key": key(9), "position": 9, "input": "x"}]},
    )
    assert late.status_code == 409
    assert "run the suite again" in late.json()["detail"]


def test_identical_experiments_are_not_significantly_different(http: httpx.Client) -> None:
    scores = np.random.default_rng(5).integers(0, 2, 120).astype(float).tolist()
    a = report(http, scores, target="a")
    b = report(http, scores, target="b")
    found = http.get(f"{BASE}/compare", params={"base": a["id"], "candidate": b["id"]}).json()
    assert found["paired_items"] == 120
    acc = found["scorers"][0]
    assert (acc["scorer"], acc["delta"], acc["verdict"]) == (
        "acc",
        0.0,
        "no significant difference",
    )
    assert (acc["improved"], acc["regressed"], acc["unchanged"]) == (0, 0, 120)


def test_a_planted_improvement_is_significant_and_items_are_diffed(http: httpx.Client) -> None:
    rng = np.random.default_rng(6)
    base = rng.integers(0, 2, 200).astype(float)
    better = base.copy()
    flip = np.flatnonzero(base == 0)[:40]  # 40 wrong answers fixed
    better[flip] = 1.0
    better[np.flatnonzero(base == 1)[:3]] = 0.0  # and 3 regressions
    slower = [20.0] * 200
    a = report(http, base.tolist(), target="a")
    b = report(http, better.tolist(), target="b", latency=slower)
    found = http.get(f"{BASE}/compare", params={"base": a["id"], "candidate": b["id"]}).json()
    acc, latency = found["scorers"]
    assert acc["verdict"] == "better"
    assert acc["delta"] == pytest.approx(37 / 200)
    assert 0 < acc["ci_low"] < 37 / 200 < acc["ci_high"]
    assert (acc["improved"], acc["regressed"], acc["unchanged"]) == (40, 3, 157)
    assert {i["change"] for i in acc["items"][:43]} == {"improved", "regressed"}
    # Latency went up by 10 ms on every item: lower is better, so that is worse.
    assert (latency["delta"], latency["verdict"], latency["regressed"]) == (10.0, "worse", 200)


def test_labels_mark_the_production_baseline(http: httpx.Client) -> None:
    a = report(http, [1.0], target="a")
    b = report(http, [0.0], target="b")
    for eid in (a["id"], b["id"]):
        moved = http.put(f"{BASE}/experiments/{eid}/label", json={"label": "production"})
        assert moved.status_code == 200
    listed = http.get(f"{BASE}/experiments", params={"label": "production"}).json()["items"]
    assert [e["id"] for e in listed] == [b["id"]]  # one experiment per suite holds a label
    found = http.get(f"{BASE}/compare", params={"base": "production", "candidate": a["id"]})
    assert found.json()["base"]["id"] == b["id"]


def test_resuming_returns_the_unfinished_experiment(http: httpx.Client) -> None:
    body = {
        "suite": "s",
        "target": "t",
        "target_hash": "a" * 64,
        "dataset": "qa",
        "dataset_version": 1,
        "scorers": {"acc": True},
    }
    first = http.post(f"{BASE}/experiments", json=body)
    second = http.post(f"{BASE}/experiments", json=body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json() == {**first.json(), "resumed": True}
    # Another scorer set is another experiment.
    third = http.post(f"{BASE}/experiments", json={**body, "scorers": {"f1": True}})
    assert third.status_code == 201


def test_the_judge_cache_round_trips(http: httpx.Client) -> None:
    digest = "b" * 64
    assert http.get(f"{BASE}/judge-cache/{digest}").status_code == 404
    assert http.put(f"{BASE}/judge-cache/{digest}", json={"answer": "5"}).status_code == 204
    assert http.put(f"{BASE}/judge-cache/{digest}", json={"answer": "1"}).status_code == 204
    assert http.get(f"{BASE}/judge-cache/{digest}").json() == {"answer": "5"}
    # Per project: another project does not see it.
    other = http.get(f"{BASE}/judge-cache/{digest}", params={"project": "other"})
    assert other.status_code == 404


def test_user_mistakes_get_clear_problems(http: httpx.Client) -> None:
    missing = http.get(f"{BASE}/experiments/nope")
    assert missing.status_code == 404
    assert "podium eval list" in missing.json()["detail"]
    bad = http.post(f"{BASE}/experiments", json={"suite": "s", "target": "t"})
    assert bad.status_code == 422
    no_scorers = http.post(
        f"{BASE}/experiments",
        json={
            "suite": "s",
            "target": "t",
            "target_hash": "a" * 64,
            "dataset": "qa",
            "dataset_version": 1,
            "scorers": {},
        },
    )
    assert no_scorers.status_code == 422
    assert http.get(f"{BASE}/compare", params={"base": "x", "candidate": "y"}).status_code == 404
    unknown = http.get(f"{BASE}/compare", params={"base": "production", "candidate": "y"})
    assert "podium eval label" in unknown.json()["detail"]
    assert http.get(f"{BASE}/judge-cache/not-a-hash").status_code == 422
    a = report(http, [1.0], target="a")
    other = http.get(f"{BASE}/experiments/{a['id']}", params={"project": "other"})
    assert other.status_code == 404
