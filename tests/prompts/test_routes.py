"""``/api/v1/prompts`` through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx

API = "/api/v1/prompts"
TEXT = {
    "name": "greet",
    "template": "Hello {{ who }}!",
    "variables": [{"name": "who", "type": "string"}],
    "model_params": {"model": "gpt-4o-mini", "temperature": 0.2},
    "config": {"owner": "team-a"},
    "tags": ["demo"],
    "message": "first",
}


def _create(http: httpx.Client, **extra: Any) -> dict[str, Any]:
    response = http.post(API, json={**TEXT, **extra})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _push(http: httpx.Client, name: str = "greet", **body: Any) -> httpx.Response:
    return http.post(f"{API}/{name}/versions", json=body)


def test_create_get_list_and_duplicate(http: httpx.Client) -> None:
    first = _create(http)
    assert (first["prompt"], first["version"], first["kind"], first["created"]) == (
        "greet",
        1,
        "text",
        True,
    )
    assert first["created_by"] == "local" or first["created_by"]
    assert len(first["sha256"]) == 64 and first["labels"] == ["latest"]
    assert http.get(f"{API}/greet").json()["latest_version"] == 1
    page = http.get(API).json()
    assert [p["name"] for p in page["items"]] == ["greet"] and page["next_offset"] is None
    duplicate = http.post(API, json=TEXT)
    assert duplicate.status_code == 409 and duplicate.json()["field"] == "name"


def test_push_identical_content_makes_no_version(http: httpx.Client) -> None:
    _create(http)
    same = _push(
        http,
        template="Hello {{ who }}!",
        variables=TEXT["variables"],
        model_params=TEXT["model_params"],
        config=TEXT["config"],
        message="again",
    )
    assert same.status_code == 200
    assert (same.json()["version"], same.json()["created"]) == (1, False)
    changed = _push(http, template="Hi {{ who }}.", variables=TEXT["variables"], message="shorter")
    assert changed.status_code == 201
    assert (changed.json()["version"], changed.json()["message"]) == (2, "shorter")
    versions = http.get(f"{API}/greet/versions").json()["items"]
    assert [v["version"] for v in versions] == [2, 1]
    assert http.get(f"{API}/greet/versions/1").json()["template"] == "Hello {{ who }}!"


def test_errors_are_problems_naming_the_field(http: httpx.Client) -> None:
    assert http.get(f"{API}/nope").status_code == 404
    assert _push(http, "nope", template="x").status_code == 404
    _create(http)
    undeclared = _push(http, template="{{ who }} {{ where }}", variables=TEXT["variables"])
    assert undeclared.status_code == 422
    assert "undeclared variables where" in undeclared.json()["detail"]
    escape = _push(http, template="{{ ''.__class__.__mro__ }}")
    assert escape.status_code == 422 and "'__mro__'" in escape.json()["detail"]
    chat_on_text = _push(http, messages=[{"role": "user", "content": "x"}])
    assert chat_on_text.status_code == 422 and chat_on_text.json()["field"] == "template"
    bad_name = http.post(API, json={**TEXT, "name": "no spaces"})
    assert bad_name.status_code == 422 and bad_name.json()["field"] == "name"
    bad_params = _push(http, template="x", model_params={"temperature": "hot"})
    assert bad_params.json()["detail"] == "model_params.temperature must be int or float"
    assert http.get(f"{API}/greet/versions/9").status_code == 404
    assert http.get(f"{API}/greet/labels/production").status_code == 404


def test_labels_history_and_rollback(http: httpx.Client) -> None:
    _create(http)
    for n in (2, 3):
        _push(http, template=f"v{n} {{{{ who }}}}", variables=TEXT["variables"])
    for version in (1, 2, 3):
        moved = http.put(f"{API}/greet/labels/production", json={"version": version})
        assert moved.status_code == 200 and moved.json()["version"] == version
    got = http.get(f"{API}/greet/labels/production").json()
    assert got["version"] == 3 and got["labels"] == ["latest", "production"]
    assert http.get(f"{API}/greet/labels/latest").json()["version"] == 3
    back = http.post(f"{API}/greet/labels/production/rollback", json={"reason": "bad"})
    assert back.json()["version"] == 2
    assert http.post(f"{API}/greet/labels/production/rollback").json()["version"] == 1
    nothing = http.post(f"{API}/greet/labels/production/rollback")
    assert nothing.status_code == 409
    history = http.get(f"{API}/greet/history", params={"label": "production"}).json()
    assert [(e["from_version"], e["to_version"]) for e in history] == [
        (2, 1),
        (3, 2),
        (2, 3),
        (1, 2),
        (None, 1),
    ]
    assert history[1]["reason"] == "rollback: bad"
    latest = http.put(f"{API}/greet/labels/latest", json={"version": 1})
    assert latest.status_code == 422 and "reserved" in latest.json()["detail"]
    assert http.put(f"{API}/greet/labels/production", json={"version": 7}).status_code == 404


def test_pushes_cannot_move_labels(http: httpx.Client) -> None:
    # Moving a label needs prompts:label (admin); pushing needs only prompts:write (editor).
    refused = http.post(API, json={**TEXT, "labels": ["production"]})
    assert refused.status_code == 422
    _create(http)
    assert _push(http, template="x", labels=["production"]).status_code == 422


def test_diff(http: httpx.Client) -> None:
    _create(http)
    _push(
        http,
        template="Hello {{ who }}!\nBye.",
        variables=TEXT["variables"],
        model_params={"model": "gpt-4o", "temperature": 0.2},
        config=TEXT["config"],
    )
    diff = http.get(f"{API}/greet/diff", params={"from": 1, "to": 2}).json()
    assert diff["changed"] is True
    assert "+Bye.\n" in diff["sections"]["template"]
    assert '-  "model": "gpt-4o-mini",\n' in diff["sections"]["model_params"]
    assert '+  "model": "gpt-4o",\n' in diff["sections"]["model_params"]
    assert diff["sections"]["config"] == ""
    same = http.get(f"{API}/greet/diff", params={"from": 2, "to": 2}).json()
    assert same["changed"] is False
    missing = http.get(f"{API}/greet/diff", params={"from": 1, "to": 5})
    assert missing.status_code == 404 and missing.json()["field"] == "to"


def test_render_text_and_chat(http: httpx.Client) -> None:
    _create(http)
    http.put(f"{API}/greet/labels/production", json={"version": 1})
    text = http.post(f"{API}/greet/render", json={"variables": {"who": "Ada"}}).json()
    assert (text["text"], text["version"], text["messages"]) == ("Hello Ada!", 1, None)
    assert text["model_params"]["model"] == "gpt-4o-mini"
    missing = http.post(f"{API}/greet/render", json={"version": 1, "variables": {}})
    assert missing.status_code == 422 and missing.json()["field"] == "who"
    chat = {
        "name": "helper",
        "messages": [
            {"role": "system", "content": "Be {{ tone }}."},
            {"type": "placeholder", "name": "history"},
        ],
        "variables": [
            {"name": "tone", "type": "string", "default": "brief"},
            {"name": "history", "type": "messages"},
        ],
    }
    assert http.post(API, json=chat).json()["kind"] == "chat"
    history = [{"role": "user", "content": "hi"}]
    rendered = http.post(
        f"{API}/helper/render", json={"label": "latest", "variables": {"history": history}}
    ).json()
    assert rendered["messages"] == [{"role": "system", "content": "Be brief."}, *history]


def test_delete_and_project_scoping(http: httpx.Client) -> None:
    _create(http, project="lab")
    assert http.get(f"{API}/greet").status_code == 404
    assert http.get(f"{API}/greet", params={"project": "lab"}).status_code == 200
    assert http.get(API, params={"project": "ghost"}).status_code == 404
    assert http.delete(f"{API}/greet", params={"project": "lab"}).status_code == 204
    assert http.get(f"{API}/greet", params={"project": "lab"}).status_code == 404


def test_pages(http: httpx.Client) -> None:
    _create(http)
    _push(http, template="Hello <b>{{ who }}</b>!", variables=TEXT["variables"])
    listing = http.get("/prompts")
    assert listing.status_code == 200 and 'data-prompt="greet"' in listing.text
    page = http.get("/prompts/greet")
    assert page.status_code == 200 and "Hello &lt;b&gt;{{ who }}&lt;/b&gt;!" in page.text
    diff = http.get("/prompts/greet/diff", params={"from": 1, "to": 2})
    assert diff.status_code == 200 and 'class="diff-replace"' in diff.text
    play = http.get("/prompts/greet/playground", params={"run": "1", "var.who": "<i>Ada</i>"})
    assert play.status_code == 200
    assert "Hello &lt;b&gt;&lt;i&gt;Ada&lt;/i&gt;&lt;/b&gt;!" in play.text
    missing = http.get("/prompts/greet/playground", params={"run": "1"})
    assert "variable &#39;who&#39; is required" in missing.text
    assert http.get("/prompts/nope").status_code == 404


def test_paging_and_chat_diff(http: httpx.Client) -> None:
    for name in ("a", "b", "c"):
        _create(http, name=name)
    first = http.get(API, params={"limit": 2}).json()
    assert [p["name"] for p in first["items"]] == ["a", "b"] and first["next_offset"] == 2
    rest = http.get(API, params={"limit": 2, "offset": 2}).json()
    assert [p["name"] for p in rest["items"]] == ["c"] and rest["next_offset"] is None
    chat = {"name": "chat", "messages": [{"role": "system", "content": "Be brief."}]}
    http.post(API, json=chat)
    _push(http, "chat", messages=[{"role": "system", "content": "Be kind."}])
    diff = http.get(f"{API}/chat/diff", params={"from": 1, "to": 2}).json()
    assert diff["sections"]["template"].splitlines()[2:] == [
        "@@ -1,2 +1,2 @@",
        " [system]",
        "-Be brief.",
        "+Be kind.",
    ]
