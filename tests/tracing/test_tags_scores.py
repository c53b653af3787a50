"""Tags, scores and keyset paging of the trace list (REST, both databases)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from podium.cli.main import app
from podium.server.app import Services
from podium.settings import Settings
from tests.tracing.support import PROTOBUF, genai_attrs, new_span_id, new_trace_id, request, span

URL = "/otlp/v1/traces"


def _ingest(http: httpx.Client, *spans: Any) -> None:
    reply = http.post(URL, content=request(*spans).SerializeToString(), headers=PROTOBUF)
    assert reply.status_code == 200, reply.text


def _ids(http: httpx.Client, **params: Any) -> list[str]:
    reply = http.get("/api/v1/traces", params=params)
    assert reply.status_code == 200, reply.text
    return [t["trace_id"] for t in reply.json()["items"]]


def test_tags_from_any_span_are_listed_and_filter_the_list(http: httpx.Client) -> None:
    tagged, other = new_trace_id(), new_trace_id()
    root = new_span_id()
    _ingest(
        http,
        span(tagged, root, name="root", attrs={"podium.tags": "beta, vip"}),
        span(tagged, new_span_id(), parent=root, attrs={"tag.tags": "vip"}, start_ms=1),
        span(other, new_span_id(), name="plain", start_ms=2),
    )
    [listed] = http.get("/api/v1/traces", params={"tag": "vip"}).json()["items"]
    assert (listed["trace_id"], listed["tags"]) == (tagged.hex(), ["beta", "vip"])
    assert _ids(http, tag=["vip", "beta"]) == [tagged.hex()]
    assert _ids(http, tag=["vip", "nope"]) == []
    assert _ids(http) == [other.hex(), tagged.hex()]
    detail = http.get(f"/api/v1/traces/{tagged.hex()}").json()
    assert detail["tags"] == ["beta", "vip"]


def test_scores_are_stored_shown_and_filter_the_list(http: httpx.Client) -> None:
    good, bad = new_trace_id(), new_trace_id()
    _ingest(http, span(good, new_span_id()), span(bad, new_span_id(), start_ms=1))
    reply = http.post(
        f"/api/v1/traces/{good.hex()}/scores",
        json={"name": "helpful", "value": 0.9, "source": "human", "comment": "spot on"},
    )
    assert reply.status_code == 201, reply.text
    created = reply.json()
    assert (created["name"], created["value"], created["source"]) == ("helpful", 0.9, "human")
    assert created["comment"] == "spot on"
    http.post(f"/api/v1/traces/{bad.hex()}/scores", json={"name": "helpful", "value": 0.1})

    assert _ids(http, min_score=0.5) == [good.hex()]
    assert _ids(http, max_score=0.5) == [bad.hex()]
    assert _ids(http, score_name="helpful", min_score=0.0) == [bad.hex(), good.hex()]
    assert _ids(http, score_name="accurate", min_score=0.0) == []

    [score] = http.get(f"/api/v1/traces/{good.hex()}").json()["scores"]
    assert score == created
    assert score["trace_id"] == good.hex()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"value": 1.0}, "name"),
        ({"name": "x", "value": "high"}, "value"),
        ({"name": "", "value": 1.0}, "name"),
        ({"name": "x", "value": 1.0, "extra": 1}, "extra"),
    ],
)
def test_a_bad_score_is_a_422_naming_the_field(
    http: httpx.Client, body: dict[str, Any], field: str
) -> None:
    trace = new_trace_id()
    _ingest(http, span(trace, new_span_id()))
    reply = http.post(f"/api/v1/traces/{trace.hex()}/scores", json=body)
    assert reply.status_code == 422
    assert field in reply.text


def test_scoring_an_unknown_trace_is_a_404(http: httpx.Client) -> None:
    _ingest(http, span(new_trace_id(), new_span_id()))
    reply = http.post(f"/api/v1/traces/{'ab' * 16}/scores", json={"name": "x", "value": 1})
    assert reply.status_code == 404
    assert reply.json()["field"] == "trace_id"


def test_keyset_pages_walk_every_trace_once_in_order(http: httpx.Client) -> None:
    ids = [new_trace_id() for _ in range(7)]
    # Two pairs share a start time: the trace id breaks the tie.
    starts = [0, 1000, 1000, 2000, 3000, 3000, 4000]
    _ingest(http, *(span(t, new_span_id(), start_ms=s) for t, s in zip(ids, starts, strict=True)))
    expected = _ids(http, limit=100)
    assert len(expected) == 7
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = http.get("/api/v1/traces", params=params).json()
        seen += [t["trace_id"] for t in page["items"]]
        if cursor is not None:
            assert page["next_offset"] is None
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    # Offset paging still works alongside.
    first = http.get("/api/v1/traces", params={"limit": 3}).json()
    assert first["next_offset"] == 3
    assert _ids(http, limit=3, offset=3) == expected[3:6]


@pytest.mark.parametrize("cursor", ["nope", "12-xyz", "-" + "a" * 32, "1-" + "A" * 31])
def test_a_bad_cursor_is_a_422(http: httpx.Client, cursor: str) -> None:
    reply = http.get("/api/v1/traces", params={"cursor": cursor})
    assert reply.status_code == 422
    assert reply.json()["field"] == "cursor"
    assert "next_cursor" in reply.json()["detail"]


def test_estimated_tokens_when_the_provider_gave_none(http: httpx.Client) -> None:
    trace = new_trace_id()
    attrs = genai_attrs("gpt-4o")
    del attrs["gen_ai.usage.input_tokens"], attrs["gen_ai.usage.output_tokens"]
    attrs |= {"input.value": "hello world, how are you?", "output.value": "fine, thanks"}
    reported = new_trace_id()
    _ingest(http, span(trace, new_span_id()), span(reported, new_span_id(), attrs=genai_attrs()))
    _ingest(http, span(new_trace_id(), new_span_id(), attrs=attrs, start_ms=5))
    listed = http.get("/api/v1/traces", params={"limit": 1}).json()["items"][0]
    # cl100k: "hello world, how are you?" is 7 tokens, "fine, thanks" 3.
    assert (listed["input_tokens"], listed["output_tokens"]) == (7, 3)
    assert listed["cost_usd"] == pytest.approx(7 * 2.5e-6 + 3 * 10e-6)
    [root] = http.get(f"/api/v1/traces/{listed['trace_id']}").json()["spans"]
    assert root["attributes"]["podium.tokens_estimated"] is True
    [other] = http.get(f"/api/v1/traces/{reported.hex()}").json()["spans"]
    assert "podium.tokens_estimated" not in other["attributes"]
    assert (other["input_tokens"], other["output_tokens"]) == (1000, 500)


def test_cli_list_filters_by_tag_and_score(
    http: httpx.Client, services: Services, settings: Settings
) -> None:
    tagged, other = new_trace_id(), new_trace_id()
    _ingest(
        http,
        span(tagged, new_span_id(), name="tagged", attrs={"podium.tags": "vip"}),
        span(other, new_span_id(), name="other", start_ms=1),
    )
    services.tracing.add_score("default", other.hex(), "helpful", 0.2)
    env = {"PODIUM_HOME": str(settings.home), "PODIUM_DATABASE_URL": settings.database_url or ""}

    def listed(*args: str) -> list[str]:
        done = CliRunner().invoke(app, ["traces", "list", "--json", *args], env=env)
        assert done.exit_code == 0, (done.output, done.exception)
        return [t["name"] for t in json.loads(done.output)]

    assert listed("--tag", "vip") == ["tagged"]
    assert listed("--max-score", "0.5", "--score-name", "helpful") == ["other"]
    assert listed() == ["other", "tagged"]
    table = CliRunner().invoke(
        app, ["traces", "list", "--tag", "vip"], env={**env, "COLUMNS": "250"}
    )
    assert table.exit_code == 0
    assert "vip" in table.output
