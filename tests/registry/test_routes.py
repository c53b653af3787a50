"""The REST API of the registry (``/api/v1/models``) through the real app, on both databases."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest

from podium.access.models import LOCAL_ACTOR
from tests.registry.conftest import LoggedRun

API = "/api/v1/models"


def _problem(response: httpx.Response, status: int, field: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    if field is not None:
        assert body.get("field") == field, body
    return body


@pytest.fixture
def model(http: httpx.Client) -> str:
    """A model ``m`` in the default project with versions 1, 2 and 3."""
    assert http.post(API, json={"name": "m"}).status_code == 201
    for n in range(3):
        response = http.post(f"{API}/m/versions", json={"description": f"v{n + 1}"})
        assert response.status_code == 201
    return "m"


# -- models -------------------------------------------------------------------------------------


def test_create_get_update_delete_model(http: httpx.Client) -> None:
    created = http.post(API, json={"project": "team", "name": "chat", "description": "d"})
    assert created.status_code == 201
    body = created.json()
    assert {
        k: body[k] for k in ("project", "name", "description", "latest_version", "aliases")
    } == {
        "project": "team",
        "name": "chat",
        "description": "d",
        "latest_version": 0,
        "aliases": {},
    }
    assert http.get(f"{API}/chat", params={"project": "team"}).json() == body

    patched = http.patch(f"{API}/chat", params={"project": "team"}, json={"description": "new"})
    assert patched.status_code == 200
    assert patched.json()["description"] == "new"

    assert http.delete(f"{API}/chat", params={"project": "team"}).status_code == 204
    _problem(http.get(f"{API}/chat", params={"project": "team"}), 404)


def test_project_defaults_to_default_and_scopes_names(http: httpx.Client) -> None:
    assert http.post(API, json={"name": "m"}).json()["project"] == "default"
    assert http.post(API, json={"project": "p2", "name": "only-here"}).status_code == 201
    assert http.get(f"{API}/m").status_code == 200
    body = _problem(http.get(f"{API}/only-here"), 404, "name")
    assert "model 'only-here' does not exist in project 'default'" in body["detail"]
    assert http.get(f"{API}/only-here", params={"project": "p2"}).status_code == 200


def test_duplicate_model_is_409(http: httpx.Client) -> None:
    http.post(API, json={"name": "m"})
    body = _problem(http.post(API, json={"name": "m"}), 409, "name")
    assert "already exists" in body["detail"]


def test_invalid_model_bodies_are_422_naming_the_field(http: httpx.Client) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "bad name"}, "name"),
        ({}, "name"),
        ({"name": 5}, "name"),
        ({"name": "m", "description": ["x"]}, "description"),
        ({"name": "m", "colour": "red"}, "colour"),
        ({"name": "m", "project": ""}, "project"),
        ({"name": "m", "project": "bad project"}, "project"),
    ]
    for payload, field in cases:
        _problem(http.post(API, json=payload), 422, field)
    assert http.get(API).json()["items"] == []


def test_list_models_pages(http: httpx.Client) -> None:
    for name in ["c", "a", "b"]:
        http.post(API, json={"name": name})
    first = http.get(API, params={"limit": 2}).json()
    assert [m["name"] for m in first["items"]] == ["a", "b"]
    assert first["next_offset"] == 2
    second = http.get(API, params={"limit": 2, "offset": 2}).json()
    assert [m["name"] for m in second["items"]] == ["c"]
    assert second["next_offset"] is None
    _problem(http.get(API, params={"limit": 0}), 422, "limit")
    _problem(http.get(API, params={"offset": "x"}), 422, "offset")


def test_unknown_project_is_404_naming_it(http: httpx.Client) -> None:
    body = _problem(http.get(API, params={"project": "ghost"}), 404)
    assert "project 'ghost' does not exist" in body["detail"]


def test_patch_needs_a_description(http: httpx.Client) -> None:
    http.post(API, json={"name": "m"})
    _problem(http.patch(f"{API}/m", json={}), 422, "description")
    _problem(http.patch(f"{API}/nope", json={"description": "x"}), 404, "name")
    _problem(http.delete(f"{API}/nope"), 404, "name")


def test_odd_input_is_a_4xx_never_a_500(http: httpx.Client, model: str) -> None:
    # NUL bytes cannot be stored in PostgreSQL text, and huge integers overflow SQLite; both
    # must come back as the user's mistake, the same on both databases.
    nul = "a\x00b"
    cases: list[tuple[str, str, dict[str, Any], int, str | None]] = [
        ("GET", f"{API}/a%00b", {}, 404, "name"),
        ("GET", f"{API}/m", {"params": {"project": nul}}, 404, "project"),
        ("GET", API, {"params": {"project": nul}}, 404, "project"),
        ("GET", f"{API}/" + "x" * 5000, {}, 404, "name"),
        ("POST", API, {"json": {"name": "n", "description": nul}}, 422, "description"),
        ("PATCH", f"{API}/m", {"json": {"description": nul}}, 422, "description"),
        ("POST", f"{API}/m/versions", {"json": {"metadata": {"k": [nul]}}}, 422, "metadata"),
        ("POST", f"{API}/m/versions", {"json": {"metadata": {nul: 1}}}, 422, "metadata"),
        ("POST", f"{API}/m/versions", {"json": {"model_card": nul}}, 422, "model_card"),
        ("POST", f"{API}/m/versions", {"json": {"framework": nul}}, 422, "framework"),
        ("POST", f"{API}/m/versions", {"json": {"source_run_id": nul}}, 404, "source_run_id"),
        ("PUT", f"{API}/m/aliases/prod", {"json": {"version": 1, "reason": nul}}, 422, "reason"),
        ("PUT", f"{API}/m/aliases/prod", {"json": {"version": 10**20}}, 404, "version"),
        ("GET", f"{API}/m/versions/{10**20}", {}, 404, "version"),
        ("GET", f"{API}/m/versions", {"params": {"offset": 10**20}}, 422, "offset"),
        ("DELETE", f"{API}/m/aliases/prod", {"params": {"reason": nul}}, 422, "reason"),
        ("POST", f"{API}/m/aliases/prod/rollback", {"json": {"reason": nul}}, 422, "reason"),
    ]
    for method, url, kwargs, status, field in cases:
        response = http.request(method, url, **kwargs)
        assert response.status_code == status, (method, url[:60], response.text)
        _problem(response, status, field)
    assert http.get(f"{API}/m").json()["latest_version"] == 3
    assert http.get(f"{API}/m/history").json() == []


# -- versions -----------------------------------------------------------------------------------


def test_create_and_read_versions(http: httpx.Client) -> None:
    http.post(API, json={"name": "m"})
    created = http.post(
        f"{API}/m/versions",
        json={
            "framework": "gguf",
            "metadata": {"quant": "q4_k_m", "ctx": 4096},
            "description": "small",
            "model_card": "# card",
        },
    )
    assert created.status_code == 201
    body = created.json()
    assert body["version"] == 1
    assert body["model"] == "m"
    assert body["created_by"] == LOCAL_ACTOR
    assert body["metadata"] == {"quant": "q4_k_m", "ctx": 4096}
    assert (body["framework"], body["description"], body["model_card"]) == (
        "gguf",
        "small",
        "# card",
    )
    assert body["aliases"] == []
    assert http.get(f"{API}/m/versions/1").json() == body
    assert http.get(f"{API}/m").json()["latest_version"] == 1


def test_versions_list_newest_first_with_paging(http: httpx.Client, model: str) -> None:
    first = http.get(f"{API}/{model}/versions", params={"limit": 2}).json()
    assert [v["version"] for v in first["items"]] == [3, 2]
    assert first["next_offset"] == 2
    rest = http.get(f"{API}/{model}/versions", params={"offset": 2}).json()
    assert [v["version"] for v in rest["items"]] == [1]
    assert rest["next_offset"] is None


def test_version_errors(http: httpx.Client, model: str) -> None:
    body = _problem(http.get(f"{API}/{model}/versions/9"), 404, "version")
    assert "no version 9" in body["detail"]
    _problem(http.get(f"{API}/{model}/versions/two"), 422, "version")
    _problem(http.get(f"{API}/{model}/versions/0"), 422, "version")
    _problem(http.post(f"{API}/nope/versions", json={}), 404, "name")
    _problem(http.get(f"{API}/nope/versions"), 404, "name")


def test_invalid_version_bodies_are_422_naming_the_field(http: httpx.Client, model: str) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"metadata": ["not", "an", "object"]}, "metadata"),
        ({"metadata": "x"}, "metadata"),
        ({"artifact_sha256": "XYZ"}, "artifact_sha256"),
        ({"framework": 3}, "framework"),
        ({"version": 4}, "version"),
        ({"artifact_path": "model.bin"}, "source_run_id"),
    ]
    for payload, field in cases:
        _problem(http.post(f"{API}/{model}/versions", json=payload), 422, field)
    assert http.get(f"{API}/{model}").json()["latest_version"] == 3


def test_nan_metadata_is_422_not_500(http: httpx.Client, model: str) -> None:
    response = http.post(
        f"{API}/{model}/versions",
        content=b'{"metadata": {"loss": NaN}}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422, response.text


def test_unknown_blob_is_404_naming_the_field(http: httpx.Client, model: str) -> None:
    response = http.post(f"{API}/{model}/versions", json={"artifact_sha256": "a" * 64})
    _problem(response, 404, "artifact_sha256")


def test_versions_are_immutable_there_is_no_route_to_change_one(
    http: httpx.Client, model: str
) -> None:
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        response = http.request(method, f"{API}/{model}/versions/1", json={"description": "x"})
        assert response.status_code == 405, method
    assert http.get(f"{API}/{model}/versions/1").json()["description"] == "v1"


def test_version_from_run_artifact_downloads_the_same_bytes(
    http: httpx.Client, logged_run: LoggedRun
) -> None:
    http.post(API, json={"name": "m"})
    created = http.post(
        f"{API}/m/versions",
        json={"source_run_id": logged_run.id, "artifact_path": logged_run.path},
    ).json()
    assert created["artifact_sha256"] == hashlib.sha256(logged_run.content).hexdigest()
    download = http.get(f"{API}/m/versions/1/content")
    assert download.status_code == 200
    assert download.content == logged_run.content
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"] == 'attachment; filename="weights.bin"'
    assert download.headers["etag"] == f'"{logged_run.sha256}"'


def test_unknown_run_or_artifact_path_is_404_naming_the_field(
    http: httpx.Client, logged_run: LoggedRun
) -> None:
    http.post(API, json={"name": "m"})
    url = f"{API}/m/versions"
    _problem(http.post(url, json={"source_run_id": "0" * 32}), 404, "source_run_id")
    body = _problem(
        http.post(url, json={"source_run_id": logged_run.id, "artifact_path": "nope.bin"}),
        404,
        "artifact_path",
    )
    assert "'model/weights.bin'" in body["detail"]
    lineage = http.post(url, json={"source_run_id": logged_run.id})
    assert lineage.status_code == 201
    assert lineage.json()["version"] == 1


def test_content_of_a_version_without_artifact_is_404(http: httpx.Client, model: str) -> None:
    _problem(http.get(f"{API}/{model}/versions/1/content"), 404, "version")
    _problem(http.get(f"{API}/{model}/versions/9/content"), 404, "version")


# -- aliases ------------------------------------------------------------------------------------


def test_promote_read_and_delete_an_alias(http: httpx.Client, model: str) -> None:
    put = http.put(f"{API}/{model}/aliases/production", json={"version": 2, "reason": "ok"})
    assert put.status_code == 200
    alias = put.json()
    assert (alias["model"], alias["alias"], alias["version"], alias["updated_by"]) == (
        "m",
        "production",
        2,
        LOCAL_ACTOR,
    )
    pointed = http.get(f"{API}/{model}/aliases/production").json()
    assert (pointed["version"], pointed["description"], pointed["aliases"]) == (
        2,
        "v2",
        ["production"],
    )
    assert http.get(f"{API}/{model}").json()["aliases"] == {"production": 2}
    assert http.get(f"{API}/{model}/aliases/latest").json()["version"] == 3

    deleted = http.delete(f"{API}/{model}/aliases/production", params={"reason": "incident"})
    assert deleted.status_code == 204
    _problem(http.get(f"{API}/{model}/aliases/production"), 404, "alias")
    _problem(http.delete(f"{API}/{model}/aliases/production"), 404, "alias")
    history = http.get(f"{API}/{model}/history").json()
    assert [(e["from_version"], e["to_version"], e["reason"]) for e in history] == [
        (2, None, "incident"),
        (None, 2, "ok"),
    ]


def test_alias_errors(http: httpx.Client, model: str) -> None:
    url = f"{API}/{model}/aliases"
    body = _problem(http.put(f"{url}/latest", json={"version": 1}), 422, "alias")
    assert "reserved" in body["detail"]
    _problem(http.delete(f"{url}/latest"), 422, "alias")
    _problem(http.put(f"{url}/1st", json={"version": 1}), 422, "alias")
    _problem(http.get(f"{url}/bad%20name"), 422, "alias")
    _problem(http.put(f"{url}/production", json={"version": "two"}), 422, "version")
    _problem(http.put(f"{url}/production", json={"version": 0}), 422, "version")
    _problem(http.put(f"{url}/production", json={}), 422, "version")
    _problem(http.put(f"{url}/production", json={"version": 9}), 404, "version")
    _problem(http.put(f"{API}/nope/aliases/production", json={"version": 1}), 404, "name")
    _problem(http.get(f"{url}/production"), 404, "alias")
    _problem(http.get(f"{API}/{model}/history", params={"alias": "no way"}), 422, "alias")


def test_latest_of_a_model_without_versions_is_404(http: httpx.Client) -> None:
    http.post(API, json={"name": "empty"})
    _problem(http.get(f"{API}/empty/aliases/latest"), 404, "alias")


def test_rollback_walks_back_and_409s_when_nothing_is_left(http: httpx.Client, model: str) -> None:
    url = f"{API}/{model}/aliases/production"
    body = _problem(http.post(f"{url}/rollback", json={}), 409, "alias")
    assert "never been set" in body["detail"]
    for version in (1, 2, 3):
        http.put(url, json={"version": version})
    first = http.post(f"{url}/rollback", json={"reason": "p99 latency"})
    assert first.status_code == 200
    assert first.json()["version"] == 2
    # The body is optional.
    assert http.post(f"{url}/rollback").json()["version"] == 1
    body = _problem(http.post(f"{url}/rollback"), 409, "alias")
    assert "no earlier version" in body["detail"]
    assert http.get(url).json()["version"] == 1

    history = http.get(f"{API}/{model}/history", params={"alias": "production"}).json()
    assert [(e["from_version"], e["to_version"], e["reason"]) for e in history] == [
        (2, 1, "rollback: back to v1"),
        (3, 2, "rollback: p99 latency"),
        (2, 3, ""),
        (1, 2, ""),
        (None, 1, ""),
    ]
    assert {e["actor"] for e in history} == {LOCAL_ACTOR}
    assert all(e["model"] == "m" and e["alias"] == "production" for e in history)
    _problem(http.post(f"{url}/rollback", json={"why": "x"}), 422, "why")


def test_history_filters_by_alias(http: httpx.Client, model: str) -> None:
    http.put(f"{API}/{model}/aliases/staging", json={"version": 1})
    http.put(f"{API}/{model}/aliases/production", json={"version": 1})
    everything = http.get(f"{API}/{model}/history").json()
    assert [e["alias"] for e in everything] == ["production", "staging"]
    staging = http.get(f"{API}/{model}/history", params={"alias": "staging"}).json()
    assert [e["alias"] for e in staging] == ["staging"]
    assert http.get(f"{API}/{model}/history", params={"alias": "canary"}).json() == []


# One app per test is the slow part, so the routes are walked in one test rather than 13.
MODEL_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "", None),
    ("PATCH", "", {"description": "x"}),
    ("DELETE", "", None),
    ("GET", "/versions", None),
    ("POST", "/versions", {}),
    ("GET", "/versions/1", None),
    ("GET", "/versions/1/content", None),
    ("GET", "/aliases/production", None),
    ("GET", "/aliases/latest", None),
    ("PUT", "/aliases/production", {"version": 1}),
    ("DELETE", "/aliases/production", None),
    ("POST", "/aliases/production/rollback", {}),
    ("GET", "/history", None),
]


def test_every_model_route_404s_for_an_unknown_model_or_project(http: httpx.Client) -> None:
    http.post(API, json={"name": "m"})
    for method, path, body in MODEL_ROUTES:
        response = http.request(method, f"{API}/nope{path}", json=body)
        problem = _problem(response, 404, "name")
        assert "model 'nope' does not exist in project 'default'" in problem["detail"], path
        other = http.request(method, f"{API}/m{path}", params={"project": "ghost"}, json=body)
        assert "project 'ghost' does not exist" in _problem(other, 404)["detail"], path
