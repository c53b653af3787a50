"""``POST /datasets/{name}/import-traces`` and the SDK over real ingested OTLP traces, on SQLite
and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from podium.client import Client, data
from podium.errors import InvalidInput
from podium.server.app import Services
from tests.tracing.support import T0_NS, genai_attrs, new_span_id, new_trace_id, request, span

T0 = datetime.fromtimestamp(T0_NS / 1e9, tz=UTC)


def _ingest(services: Services) -> dict[str, str]:
    """Four traces a second apart: an agent with a model call, a chat, a failure, no input."""
    ids = {key: new_trace_id() for key in ("agent", "chat", "failed", "empty")}
    root = new_span_id()
    spans = [
        span(
            ids["agent"],
            root,
            name="agent",
            start_ms=0,
            attrs={"input.value": "What is 2+2?", "output.value": "4"},
        ),
        span(
            ids["agent"],
            new_span_id(),
            parent=root,
            start_ms=10,
            attrs=genai_attrs(
                "gpt-4o",
                **{
                    "gen_ai.prompt": "Answer briefly: What is 2+2?",
                    "gen_ai.completion": "4.",
                    "podium.prompt.name": "qa",
                    "podium.prompt.version": 2,
                },
            ),
        ),
        span(
            ids["chat"],
            new_span_id(),
            start_ms=1000,
            attrs=genai_attrs(
                "gpt-4o-mini",
                **{"gen_ai.prompt": "Capital of France?", "gen_ai.completion": "Paris"},
            ),
        ),
        span(
            ids["failed"],
            new_span_id(),
            start_ms=2000,
            error=True,
            attrs=genai_attrs("gpt-4o", **{"gen_ai.prompt": "broken question"}),
        ),
        span(ids["empty"], new_span_id(), name="cron", start_ms=3000),
    ]
    services.tracing.ingest("alpha", request(*spans))
    services.tracing.add_score("alpha", ids["chat"].hex(), "quality", 0.5)
    services.tracing.add_score("alpha", ids["chat"].hex(), "quality", 0.9)
    return {key: value.hex() for key, value in ids.items()}


def _import(http: httpx.Client, name: str = "from-traces", **body: Any) -> httpx.Response:
    return http.post(f"/api/v1/datasets/{name}/import-traces", json={"project": "alpha", **body})


def _rows(http: httpx.Client, name: str = "from-traces") -> list[dict[str, Any]]:
    page = http.get(f"/api/v1/datasets/{name}/rows", params={"project": "alpha"})
    items: list[dict[str, Any]] = page.json()["items"]
    return items


def test_import_traces_makes_one_row_per_trace_newest_first(
    http: httpx.Client, services: Services
) -> None:
    ids = _ingest(services)
    created = _import(http, message="from prod")
    assert created.status_code == 201, created.text
    version = created.json()
    assert (version["version"], version["row_count"], version["message"]) == (1, 3, "from prod")
    assert version["steps"] == [
        {"name": "import_traces", "params": {"spans": "root", "limit": 10_000, "tags": []}}
    ]
    rows = _rows(http)
    # The trace without any input is skipped; the agent's row comes from its root span.
    assert [(r["input"], r["expected"]) for r in rows] == [
        ("broken question", None),
        ("Capital of France?", "Paris"),
        ("What is 2+2?", "4"),
    ]
    chat = rows[1]["metadata"]
    assert chat == {
        "source": "traces",
        "trace_id": ids["chat"],
        "span_id": chat["span_id"],
        "model": "gpt-4o-mini",
        "prompt": None,
        "scores": {"quality": 0.9},
        "start_time": "2023-11-14T22:13:21+00:00",
    }
    assert len(chat["span_id"]) == 16
    agent = rows[2]["metadata"]
    assert (agent["trace_id"], agent["model"]) == (ids["agent"], "gpt-4o")
    assert agent["prompt"] == {"name": "qa", "version": 2}

    again = _import(http)
    assert again.status_code == 200
    assert (again.json()["version"], again.json()["created"]) == (1, False)


def test_import_traces_filters_and_llm_spans(http: httpx.Client, services: Services) -> None:
    _ingest(services)
    only_mini = _import(http, "mini", model="gpt-4o-mini")
    assert only_mini.status_code == 201, only_mini.text
    assert [r["input"] for r in _rows(http, "mini")] == ["Capital of France?"]

    good = _import(http, "good", errors=False)
    assert [r["input"] for r in _rows(http, "good")] == ["Capital of France?", "What is 2+2?"]
    assert good.json()["steps"][0]["params"]["errors"] is False

    window = _import(
        http,
        "window",
        since=T0.replace(second=T0.second + 1).isoformat(),
        until=T0.replace(second=T0.second + 2).isoformat(),
    )
    assert window.status_code == 201, window.text
    assert [r["input"] for r in _rows(http, "window")] == ["Capital of France?"]

    calls = _import(http, "calls", spans="llm")
    assert calls.json()["row_count"] == 3
    assert [r["input"] for r in _rows(http, "calls")] == [
        "broken question",
        "Capital of France?",
        "Answer briefly: What is 2+2?",
    ]
    assert _rows(http, "calls")[2]["metadata"]["prompt"] == {"name": "qa", "version": 2}

    scored = _import(http, "scored", score_name="quality", min_score=0.8, limit=5)
    assert [r["input"] for r in _rows(http, "scored")] == ["Capital of France?"]
    assert scored.json()["steps"][0]["params"]["min_score"] == 0.8


def test_import_traces_mistakes_store_nothing(http: httpx.Client, services: Services) -> None:
    _ingest(services)
    none = _import(http, model="no-such-model")
    assert none.status_code == 422
    assert none.json()["detail"].startswith("no trace of project 'alpha' matches")
    assert http.get("/api/v1/datasets/from-traces", params={"project": "alpha"}).status_code == 404
    bad = _import(http, spans="every")
    assert bad.status_code == 422
    assert bad.json()["field"] == "spans"
    odd = _import(http, since="yesterday")
    assert odd.status_code == 422
    assert odd.json()["field"] == "since"


def test_sdk_import_traces(client: Client, services: Services) -> None:
    _ingest(services)
    version = data.import_traces(
        client, "qa", project="alpha", since=T0.replace(second=T0.second + 2), spans="llm"
    )
    assert version["row_count"] == 1
    assert [r["input"] for r in data.iter_rows(client, "qa", project="alpha")] == [
        "broken question"
    ]
    with pytest.raises(InvalidInput, match="no trace of project 'alpha' matches"):
        data.import_traces(client, "qa", project="alpha", model="nope")
