"""The tracking REST API through the real app: every endpoint, and the errors users hit."""

from __future__ import annotations

import hashlib
import json

import pytest

API = "/api/v1"
PROBLEM = "application/problem+json"


def new_run(http, **body) -> dict:
    response = http.post(f"{API}/runs", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status
    return body


# -- experiments ----------------------------------------------------------------------------------


def test_experiments(http):
    response = http.post(
        f"{API}/experiments", json={"project": "p1", "name": "exp", "description": "d"}
    )
    assert response.status_code == 201
    created = response.json()
    assert {k: created[k] for k in ("project", "name", "description", "run_count")} == {
        "project": "p1",
        "name": "exp",
        "description": "d",
        "run_count": 0,
    }
    assert http.get(f"{API}/experiments/{created['id']}").json() == created

    body = problem(http.post(f"{API}/experiments", json={"project": "p1", "name": "exp"}), 409)
    assert body["field"] == "name"

    for name in ("b", "c"):
        http.post(f"{API}/experiments", json={"project": "p1", "name": name})
    page = http.get(f"{API}/experiments", params={"project": "p1", "limit": 2}).json()
    assert [e["name"] for e in page["items"]] == ["b", "c"]
    assert page["next_offset"] == 2
    page = http.get(f"{API}/experiments", params={"project": "p1", "offset": 2}).json()
    assert ([e["name"] for e in page["items"]], page["next_offset"]) == (["exp"], None)


def test_experiment_errors(http):
    problem(http.get(f"{API}/experiments/999"), 404)
    assert problem(http.get(f"{API}/experiments/abc"), 422)["field"] == "experiment_id"
    problem(http.get(f"{API}/experiments", params={"project": "nope"}), 404)
    assert problem(http.post(f"{API}/experiments", json={"name": 5}), 422)["field"] == "name"
    assert problem(http.post(f"{API}/experiments", json={"name": "a b"}), 422)["field"] == "name"
    assert problem(http.post(f"{API}/experiments", json={}), 422)["field"] == "name"
    body = problem(http.get(f"{API}/experiments", params={"limit": 0}), 422)
    assert body["field"] == "limit"


# -- runs -----------------------------------------------------------------------------------------


def test_create_get_update_delete_run(http):
    run = new_run(
        http, experiment="e1", name="first", params={"lr": "0.1"}, tags={"t": "x"}, git_commit="c0"
    )
    assert run["user"] == "local"  # the current actor when none is given
    assert run["status"] == "RUNNING"
    assert (run["experiment"], run["project"], run["name"]) == ("e1", "default", "first")
    assert (run["params"], run["tags"], run["metrics"]) == ({"lr": "0.1"}, {"t": "x"}, {})
    assert new_run(http, user="grace")["user"] == "grace"
    child = new_run(http, parent_run_id=run["id"])

    detail = http.get(f"{API}/runs/{run['id']}").json()
    assert detail["child_run_ids"] == [child["id"]]
    assert detail["artifacts"] == []
    assert {k: detail[k] for k in run} == run

    response = http.patch(f"{API}/runs/{run['id']}", json={"status": "FINISHED", "name": "done"})
    assert response.status_code == 200
    ended = response.json()
    assert (ended["status"], ended["name"]) == ("FINISHED", "done")
    assert ended["end_time"] is not None

    response = http.delete(f"{API}/runs/{run['id']}")
    assert (response.status_code, response.content) == (204, b"")
    problem(http.get(f"{API}/runs/{run['id']}"), 404)
    problem(http.delete(f"{API}/runs/{run['id']}"), 404)


def test_run_errors(http):
    body = problem(http.get(f"{API}/runs/unknown"), 404)
    assert "'unknown' does not exist" in body["detail"]
    assert body["type"] == "https://podium.dev/problems/not-found"
    body = problem(http.post(f"{API}/runs", json={"parent_run_id": "0" * 32}), 404)
    assert body["field"] == "parent_run_id"
    assert problem(http.post(f"{API}/runs", json={"params": {"a": 1}}), 422)["field"] == "params.a"
    assert problem(http.post(f"{API}/runs", json={"start_time": "x"}), 422)["field"] == "start_time"
    assert problem(http.post(f"{API}/runs", json={"bogus": 1}), 422)["field"] == "bogus"
    body = problem(
        http.post(
            f"{API}/runs", content=b"{not json", headers={"content-type": "application/json"}
        ),
        422,
    )
    assert body["type"] == "https://podium.dev/problems/invalid-input"
    run = new_run(http)
    response = http.patch(f"{API}/runs/{run['id']}", json={"status": "DONE"})
    assert problem(response, 422)["field"] == "status"
    problem(http.patch(f"{API}/runs/nope", json={"status": "FINISHED"}), 404)


def test_params_and_tags(http):
    run_id = new_run(http)["id"]
    response = http.post(f"{API}/runs/{run_id}/params", json={"params": {"lr": "0.1"}})
    assert (response.status_code, response.content) == (204, b"")
    body = problem(http.post(f"{API}/runs/{run_id}/params", json={"params": {"lr": "0.2"}}), 409)
    assert body["field"] == "params.lr"
    assert "'0.1'" in body["detail"] and "'0.2'" in body["detail"]
    body = problem(
        http.post(f"{API}/runs/{run_id}/params", json={"params": {"a": "x" * 6001}}), 422
    )
    assert body["field"] == "params.a"
    body = problem(http.post(f"{API}/runs/{run_id}/params", json={"params": ["a"]}), 422)
    assert body["field"] == "params"
    problem(http.post(f"{API}/runs/nope/params", json={"params": {"a": "1"}}), 404)

    tags = {"team": "nlp", "data/set": "wiki", "with space": "y"}
    assert http.post(f"{API}/runs/{run_id}/tags", json={"tags": tags}).status_code == 204
    assert http.post(f"{API}/runs/{run_id}/tags", json={"tags": {"team": "cv"}}).status_code == 204
    assert http.delete(f"{API}/runs/{run_id}/tags/data/set").status_code == 204
    assert http.delete(f"{API}/runs/{run_id}/tags/with%20space").status_code == 204
    problem(http.delete(f"{API}/runs/{run_id}/tags/data/set"), 404)
    detail = http.get(f"{API}/runs/{run_id}").json()
    assert (detail["params"], detail["tags"]) == ({"lr": "0.1"}, {"team": "cv"})


# -- metrics --------------------------------------------------------------------------------------


def test_log_metrics_and_history(http):
    run_id = new_run(http)["id"]
    points = [
        {"key": "train/loss", "value": 1.0 / (s + 1), "step": s, "timestamp": 1_000 + s}
        for s in range(10)
    ]
    response = http.post(f"{API}/runs/{run_id}/metrics", json={"metrics": points})
    assert (response.status_code, response.json()) == (200, {"logged": 10})
    response = http.post(
        f"{API}/runs/{run_id}/metrics", json={"metrics": [{"key": "a b", "value": 2}]}
    )
    assert response.json() == {"logged": 1}

    history = http.get(f"{API}/runs/{run_id}/metrics/train/loss", params={"limit": 4}).json()
    assert history["run_id"] == run_id
    assert history["key"] == "train/loss"
    assert [p["step"] for p in history["points"]] == [0, 1, 2, 3]
    assert history["points"][1] == {"step": 1, "value": 0.5, "timestamp": 1_001}
    assert history["next_offset"] == 4
    last = http.get(
        f"{API}/runs/{run_id}/metrics/train/loss", params={"offset": 8, "limit": 4}
    ).json()
    assert ([p["step"] for p in last["points"]], last["next_offset"]) == ([8, 9], None)
    sampled = http.get(f"{API}/runs/{run_id}/metrics/train/loss", params={"max_points": 3}).json()
    assert [p["step"] for p in sampled["points"]] == [0, 4, 9]
    spaced = http.get(f"{API}/runs/{run_id}/metrics/a%20b").json()
    assert [p["value"] for p in spaced["points"]] == [2.0]
    assert spaced["points"][0]["timestamp"] > 1_600_000_000_000  # server time when omitted
    assert http.get(f"{API}/runs/{run_id}/metrics/never").json()["points"] == []

    latest = http.get(f"{API}/runs/{run_id}").json()["metrics"]
    assert latest["train/loss"] == {"value": 0.1, "step": 9, "timestamp": 1_009}


def test_metric_errors(http):
    run_id = new_run(http)["id"]
    url = f"{API}/runs/{run_id}/metrics"
    good = {"key": "x", "value": 1.0}
    body = problem(
        http.post(url, json={"metrics": [good, good, good, {"key": "x", "value": "hi"}]}), 422
    )
    assert body["field"] == "metrics.3.value"
    body = problem(http.post(url, json={"metrics": [{"key": "x", "value": 1, "step": -1}]}), 422)
    assert body["field"] == "metrics.0.step"
    body = problem(http.post(url, json={"metrics": [{"key": "", "value": 1}]}), 422)
    assert body["field"] == "metrics.0.key"
    body = problem(http.post(url, json={"metrics": [{"value": 1}]}), 422)
    assert body["field"] == "metrics.0.key"
    body = problem(http.post(url, json={"metrics": [{"key": "x", "value": 1, "extra": 1}]}), 422)
    assert body["field"] == "metrics.0.extra"
    body = problem(http.post(url, json={"points": []}), 422)
    assert body["field"] in ("metrics", "points")
    body = problem(
        http.post(url, content=b'{"metrics": [', headers={"content-type": "application/json"}), 422
    )
    assert body["field"] == "body"
    assert "malformed JSON" in body["detail"]
    problem(http.post(url, content=b""), 422)
    problem(http.post(f"{API}/runs/nope/metrics", json={"metrics": [good]}), 404)
    problem(http.get(f"{API}/runs/nope/metrics/x"), 404)
    body = problem(http.get(f"{API}/runs/{run_id}/metrics/x", params={"max_points": 1}), 422)
    assert body["field"] == "max_points"


def test_nan_and_infinity_round_trip_as_strings(http):
    run_id = new_run(http)["id"]
    # Accepted as strings, and as the bare NaN/Infinity tokens Python's json module writes.
    raw = b'{"metrics": [{"key": "a", "value": "NaN"}, {"key": "b", "value": Infinity}, ' \
          b'{"key": "c", "value": "-Infinity"}]}'  # fmt: skip
    response = http.post(
        f"{API}/runs/{run_id}/metrics", content=raw, headers={"content-type": "application/json"}
    )
    assert response.json() == {"logged": 3}
    run = http.get(f"{API}/runs/{run_id}")
    metrics = json.loads(run.text)["metrics"]  # strict JSON: no bare NaN in the response
    assert [metrics[k]["value"] for k in "abc"] == ["NaN", "Infinity", "-Infinity"]
    history = http.get(f"{API}/runs/{run_id}/metrics/a").json()
    assert history["points"][0]["value"] == "NaN"
    other = new_run(http)["id"]
    comparison = http.get(f"{API}/runs/compare", params={"run_ids": [run_id, other]}).json()
    assert comparison["metrics"]["b"] == {run_id: "Infinity", other: None}
    page = http.get(f"{API}/runs", params={"filter": "metrics.a IS NOT NULL"}).json()
    assert page["items"][0]["metrics"]["a"]["value"] == "NaN"


# -- search and compare ---------------------------------------------------------------------------


def test_search_and_list_runs(http):
    ids = []
    for i, loss in enumerate([0.9, 0.1, 0.5]):
        run = new_run(http, experiment="sweep" if i < 2 else "other", name=f"r{i}", start_time=i)
        http.post(
            f"{API}/runs/{run['id']}/metrics", json={"metrics": [{"key": "loss", "value": loss}]}
        )
        ids.append(run["id"])

    response = http.post(
        f"{API}/runs/search",
        json={"filter": "metrics.loss < 0.8", "order_by": ["metrics.loss DESC"], "limit": 1},
    )
    page = response.json()
    assert ([r["name"] for r in page["items"]], page["next_offset"]) == (["r2"], 1)
    page = http.post(
        f"{API}/runs/search",
        json={"filter": "metrics.loss < 0.8", "order_by": ["metrics.loss DESC"], "offset": 1},
    ).json()
    assert ([r["name"] for r in page["items"]], page["next_offset"]) == (["r1"], None)
    page = http.post(f"{API}/runs/search", json={"experiments": ["sweep"]}).json()
    assert [r["name"] for r in page["items"]] == ["r1", "r0"]

    page = http.get(
        f"{API}/runs", params={"order_by": ["metrics.loss"], "experiment": ["sweep", "other"]}
    ).json()
    assert [r["name"] for r in page["items"]] == ["r1", "r2", "r0"]
    page = http.get(f"{API}/runs", params={"filter": "name = 'r0'"}).json()
    assert [r["id"] for r in page["items"]] == [ids[0]]
    page = http.get(f"{API}/runs", params={"project": "default", "limit": 2}).json()
    assert page["next_offset"] == 2


def test_search_errors(http):
    new_run(http)
    body = problem(http.get(f"{API}/runs", params={"filter": "metrics.loss <"}), 422)
    assert body["type"] == "https://podium.dev/problems/invalid-filter"
    assert body["field"] == "filter"
    assert body["position"] == 15
    assert body["detail"].endswith("\n  metrics.loss <\n                ^")
    body = problem(http.post(f"{API}/runs/search", json={"order_by": ["loss"]}), 422)
    assert body["field"] == "order_by"
    body = problem(http.post(f"{API}/runs/search", json={"experiments": ["nope"]}), 404)
    assert body["field"] == "experiments"
    problem(http.get(f"{API}/runs", params={"project": "nope"}), 404)
    assert problem(http.post(f"{API}/runs/search", json={"limit": 5000}), 422)["field"] == "limit"
    assert problem(http.post(f"{API}/runs/search", json={"filter": 3}), 422)["field"] == "filter"


def test_compare(http):
    a = new_run(http, params={"lr": "0.1", "opt": "adam"})["id"]
    b = new_run(http, params={"lr": "0.2", "opt": "adam"})["id"]
    http.post(f"{API}/runs/{a}/metrics", json={"metrics": [{"key": "loss", "value": 0.5}]})
    response = http.get(f"{API}/runs/compare", params={"run_ids": [a, b]})
    assert response.status_code == 200
    body = response.json()
    assert [r["id"] for r in body["runs"]] == [a, b]
    assert body["params"] == {"lr": {a: "0.1", b: "0.2"}, "opt": {a: "adam", b: "adam"}}
    assert body["metrics"] == {"loss": {a: 0.5, b: None}}
    assert body["differing_params"] == ["lr"]

    body = problem(http.get(f"{API}/runs/compare", params={"run_ids": [a, "missing"]}), 404)
    assert "'missing'" in body["detail"]
    assert (
        problem(http.get(f"{API}/runs/compare", params={"run_ids": [a]}), 422)["field"] == "run_ids"
    )
    assert problem(http.get(f"{API}/runs/compare"), 422)["field"] == "run_ids"


# -- artifacts ------------------------------------------------------------------------------------


def test_artifacts(http):
    run_id = new_run(http)["id"]
    content = b"\x00\x01binary\xff" * 1000
    url = f"{API}/runs/{run_id}/artifacts/content"
    response = http.put(url, params={"path": "model/weights.bin"}, content=content)
    assert response.status_code == 201
    artifact = response.json()
    assert artifact["path"] == "model/weights.bin"
    assert artifact["size"] == len(content)
    assert artifact["sha256"] == hashlib.sha256(content).hexdigest()
    http.put(url, params={"path": "README.md"}, content=b"# hi")

    listed = http.get(f"{API}/runs/{run_id}/artifacts").json()
    assert [(a["path"], a["size"]) for a in listed] == [
        ("README.md", 4),
        ("model/weights.bin", len(content)),
    ]
    assert http.get(f"{API}/runs/{run_id}").json()["artifacts"] == listed

    response = http.get(url, params={"path": "model/weights.bin"})
    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["content-length"] == str(len(content))
    assert response.headers["x-podium-sha256"] == artifact["sha256"]

    # The same path again points it at the new content.
    http.put(url, params={"path": "README.md"}, content=b"# changed")
    assert http.get(url, params={"path": "README.md"}).content == b"# changed"
    assert len(http.get(f"{API}/runs/{run_id}/artifacts").json()) == 2


@pytest.mark.parametrize(
    "path", ["../escape", "/abs", "a\\b", "a//b", "a/./b", "", "x" * 1001, "a/..", "tab\there"]
)
def test_unsafe_artifact_paths_are_refused(http, path):
    run_id = new_run(http)["id"]
    response = http.put(
        f"{API}/runs/{run_id}/artifacts/content", params={"path": path}, content=b"x"
    )
    body = problem(response, 422)
    assert body["field"] == "path"
    assert http.get(f"{API}/runs/{run_id}/artifacts").json() == []


def test_artifact_errors(http):
    run_id = new_run(http)["id"]
    url = f"{API}/runs/{run_id}/artifacts/content"
    body = problem(http.get(url, params={"path": "nope.txt"}), 404)
    assert body["field"] == "path"
    problem(http.put(f"{API}/runs/nope/artifacts/content", params={"path": "a"}, content=b"x"), 404)
    problem(http.get(f"{API}/runs/nope/artifacts"), 404)
    problem(http.get(f"{API}/runs/nope/artifacts/content", params={"path": "a"}), 404)
    assert problem(http.put(url, content=b"x"), 422)["field"] == "path"


def test_openapi_describes_the_hand_parsed_bodies(http):
    spec = http.get(f"{API}/openapi.json").json()
    metrics_body = spec["paths"]["/api/v1/runs/{run_id}/metrics"]["post"]["requestBody"]
    schema = metrics_body["content"]["application/json"]["schema"]
    assert schema["required"] == ["metrics"]
    assert set(schema["properties"]["metrics"]["items"]["properties"]) == {
        "key", "value", "step", "timestamp"
    }  # fmt: skip
    upload = spec["paths"]["/api/v1/runs/{run_id}/artifacts/content"]["put"]["requestBody"]
    assert "application/octet-stream" in upload["content"]
    assert "/api/v1/runs/compare" in spec["paths"]
