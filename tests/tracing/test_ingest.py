"""OTLP/HTTP ingest at /otlp/v1/traces: encodings, errors, partial success, idempotence, mapping."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from podium.client._transport import InProcessTransport
from podium.server.app import build, create_app
from podium.settings import Settings
from tests.tracing.support import (
    JSON,
    PROTOBUF,
    genai_attrs,
    new_span_id,
    new_trace_id,
    request,
    span,
)

URL = "/otlp/v1/traces"


def _otlp_json(req: Any) -> bytes:
    """The OTLP JSON encoding of a request: protobuf's JSON mapping with hex ids."""
    doc = json_format.MessageToDict(req)
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in s:
                        s[key] = __import__("base64").b64decode(s[key]).hex()
    return json.dumps(doc).encode()


def _traces(http: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    reply = http.get("/api/v1/traces", params=params)
    assert reply.status_code == 200, reply.text
    items: list[dict[str, Any]] = reply.json()["items"]
    return items


def test_protobuf_export_is_stored_with_genai_fields_and_cost(http: httpx.Client) -> None:
    trace, root, child = new_trace_id(), new_span_id(), new_span_id()
    body = request(
        span(trace, root, name="agent", duration_ms=400),
        span(
            trace,
            child,
            parent=root,
            start_ms=50,
            duration_ms=250,
            attrs=genai_attrs(
                "gpt-4o-mini",
                2000,
                1000,
                **{
                    "gen_ai.prompt": "What is 2+2?",
                    "gen_ai.completion": "4",
                    "session.id": "s-1",
                    "user.id": "u-1",
                    "podium.prompt.name": "math",
                    "podium.prompt.version": 3,
                    "custom.flag": True,
                },
            ),
        ),
    ).SerializeToString()
    reply = http.post(URL, content=body, headers=PROTOBUF)
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/x-protobuf"
    assert ExportTraceServiceResponse.FromString(reply.content) == ExportTraceServiceResponse()

    [listed] = _traces(http)
    assert listed["trace_id"] == trace.hex()
    assert listed["name"] == "agent"
    assert listed["span_count"] == 2
    assert listed["duration_ms"] == 400.0
    assert listed["model"] == "gpt-4o-mini"
    assert (listed["input_tokens"], listed["output_tokens"]) == (2000, 1000)
    # gpt-4o-mini: $0.15 / 1M input, $0.60 / 1M output
    assert listed["cost_usd"] == pytest.approx(2000 * 0.15e-6 + 1000 * 0.6e-6)
    assert (listed["session_id"], listed["user_id"]) == ("s-1", "u-1")
    assert (listed["prompt_name"], listed["prompt_version"]) == ("math", 3)

    detail = http.get(f"/api/v1/traces/{trace.hex()}").json()
    [root_node] = detail["spans"]
    assert root_node["span_id"] == root.hex()
    [llm] = root_node["children"]
    assert llm["provider"] == "openai"
    assert llm["operation"] == "chat"
    assert llm["input_text"] == "What is 2+2?"
    assert llm["output_text"] == "4"
    assert llm["duration_ms"] == 250.0
    assert llm["service_name"] == "svc"
    assert llm["attributes"]["custom.flag"] is True


def test_json_and_gzip_encodings(http: httpx.Client) -> None:
    t1, t2 = new_trace_id(), new_trace_id()
    as_json = _otlp_json(request(span(t1, new_span_id(), attrs=genai_attrs())))
    reply = http.post(URL, content=as_json, headers=JSON)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == {}

    zipped = gzip.compress(
        request(span(t2, new_span_id(), attrs=genai_attrs())).SerializeToString()
    )
    reply = http.post(URL, content=zipped, headers={**PROTOBUF, "Content-Encoding": "gzip"})
    assert reply.status_code == 200
    assert {t["trace_id"] for t in _traces(http)} == {t1.hex(), t2.hex()}


def test_resending_a_batch_stores_each_span_once(http: httpx.Client) -> None:
    trace = new_trace_id()
    spans = [span(trace, new_span_id(), attrs=genai_attrs(input_tokens=10, output_tokens=5))]
    spans.append(span(trace, new_span_id(), attrs=genai_attrs(input_tokens=10, output_tokens=5)))
    body = request(*spans).SerializeToString()
    for _ in range(3):
        assert http.post(URL, content=body, headers=PROTOBUF).status_code == 200
    [listed] = _traces(http)
    assert listed["span_count"] == 2
    assert (listed["input_tokens"], listed["output_tokens"]) == (20, 10)
    # A later batch adding a third span to the same trace folds into the same row.
    extra = request(span(trace, new_span_id(), attrs=genai_attrs(input_tokens=1, output_tokens=1)))
    assert http.post(URL, content=extra.SerializeToString(), headers=PROTOBUF).status_code == 200
    [listed] = _traces(http)
    assert (listed["span_count"], listed["input_tokens"]) == (3, 21)


def test_spans_with_bad_ids_are_rejected_and_the_rest_stored(http: httpx.Client) -> None:
    good = new_trace_id()
    body = request(
        span(good, new_span_id(), name="kept"),
        span(b"", new_span_id(), name="no-trace-id"),
        span(new_trace_id(), b"\x00" * 8, name="zero-span-id"),
        span(new_trace_id(), b"abc", name="short-span-id"),
    ).SerializeToString()
    reply = http.post(URL, content=body, headers=PROTOBUF)
    assert reply.status_code == 200
    partial = ExportTraceServiceResponse.FromString(reply.content).partial_success
    assert partial.rejected_spans == 3
    assert "no-trace-id" in partial.error_message
    assert "zero-span-id" in partial.error_message
    assert [t["trace_id"] for t in _traces(http)] == [good.hex()]


def test_json_partial_success_and_non_hex_ids(http: httpx.Client) -> None:
    good = new_trace_id()
    doc = json.loads(_otlp_json(request(span(good, new_span_id()), span(good, new_span_id()))))
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["spanId"] = "not-hex!"
    reply = http.post(URL, content=json.dumps(doc), headers=JSON)
    assert reply.status_code == 200
    assert reply.json()["partialSuccess"]["rejectedSpans"] == "1"
    assert [t["span_count"] for t in _traces(http)] == [1]


@pytest.mark.parametrize(
    ("body", "headers", "status", "field"),
    [
        (b"\xff\xff\xff garbage", PROTOBUF, 422, "body"),
        (b"{not json", JSON, 422, "body"),
        (b"[1, 2]", JSON, 422, "body"),
        (b'{"resourceSpans": 5}', JSON, 422, "body"),
        (b"hello", {"Content-Type": "text/plain"}, 415, "content-type"),
        (b"hello", {}, 415, "content-type"),
        (b"not gzip", {**PROTOBUF, "Content-Encoding": "gzip"}, 422, "body"),
        (b"x", {**PROTOBUF, "Content-Encoding": "br"}, 415, "content-encoding"),
    ],
)
def test_malformed_requests_get_clear_4xx(
    http: httpx.Client, body: bytes, headers: dict[str, str], status: int, field: str
) -> None:
    reply = http.post(URL, content=body, headers=headers)
    assert reply.status_code == status, reply.text
    problem = reply.json()
    assert problem["field"] == field
    assert problem["detail"]
    assert _traces(http) == []


def test_project_from_header_and_query(http: httpx.Client) -> None:
    t1, t2 = new_trace_id(), new_trace_id()
    body1 = request(span(t1, new_span_id())).SerializeToString()
    body2 = request(span(t2, new_span_id())).SerializeToString()
    assert http.post(
        URL, content=body1, headers={**PROTOBUF, "X-Podium-Project": "alpha"}
    ).is_success
    assert http.post(URL, params={"project": "beta"}, content=body2, headers=PROTOBUF).is_success
    assert [t["trace_id"] for t in _traces(http, project="alpha")] == [t1.hex()]
    assert [t["trace_id"] for t in _traces(http, project="beta")] == [t2.hex()]
    assert http.get(f"/api/v1/traces/{t1.hex()}", params={"project": "beta"}).status_code == 404
    bad = http.post(URL, content=body1, headers={**PROTOBUF, "X-Podium-Project": "no spaces!"})
    assert bad.status_code == 422


@pytest.fixture
def small_http(settings: Settings) -> Iterator[httpx.Client]:
    """A Podium whose body limit is 4 KiB."""
    services = build(settings.model_copy(update={"max_body_bytes": 4096}))
    transport = InProcessTransport(create_app(services))
    with httpx.Client(transport=transport, base_url="http://podium.test") as client:
        yield client
    services.close()


def test_oversized_bodies_get_413_compressed_or_not(small_http: httpx.Client) -> None:
    trace = new_trace_id()
    big = request(
        *[span(trace, new_span_id(), attrs={"pad": "x" * 200}) for _ in range(40)]
    ).SerializeToString()
    assert len(big) > 4096
    assert small_http.post(URL, content=big, headers=PROTOBUF).status_code == 413
    zipped = gzip.compress(big)
    assert len(zipped) < 4096  # small on the wire, too large once inflated
    reply = small_http.post(URL, content=zipped, headers={**PROTOBUF, "Content-Encoding": "gzip"})
    assert reply.status_code == 413
    assert "decompressed" in reply.json()["detail"]
    assert small_http.get("/api/v1/traces").json()["items"] == []


def test_openinference_attributes_and_errors(http: httpx.Client) -> None:
    trace = new_trace_id()
    attrs = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "claude-3-5-sonnet-20241022",
        "llm.provider": "anthropic",
        "llm.token_count.prompt": 100,
        "llm.token_count.completion": 20,
        "input.value": "hi",
        "output.value": "hello",
        "session.id": "sess",
        "user.id": "bob",
    }
    failed = span(
        trace,
        new_span_id(),
        attrs=attrs,
        events=[("exception", {"exception.message": "rate limited"})],
    )
    assert http.post(URL, content=request(failed).SerializeToString(), headers=PROTOBUF).is_success
    [listed] = _traces(http)
    assert listed["error"] is True
    assert listed["model"] == "claude-3-5-sonnet-20241022"
    assert listed["cost_usd"] == pytest.approx(100 * 3e-6 + 20 * 15e-6)
    [node] = http.get(f"/api/v1/traces/{trace.hex()}").json()["spans"]
    assert (node["provider"], node["operation"]) == ("anthropic", "LLM")
    assert (node["input_text"], node["output_text"]) == ("hi", "hello")
    assert node["status"] == "error"
    assert node["status_message"] == "rate limited"


def test_older_genai_token_names_and_message_events(http: httpx.Client) -> None:
    trace = new_trace_id()
    attrs = {
        "gen_ai.system": "openai",
        "gen_ai.response.model": "unknown-model-x",
        "gen_ai.usage.prompt_tokens": 7,
        "gen_ai.usage.completion_tokens": 3,
    }
    events = [
        ("gen_ai.user.message", {"content": "question"}),
        ("gen_ai.choice", {"content": "answer"}),
    ]
    body = request(span(trace, new_span_id(), attrs=attrs, events=events)).SerializeToString()
    assert http.post(URL, content=body, headers=PROTOBUF).is_success
    [node] = http.get(f"/api/v1/traces/{trace.hex()}").json()["spans"]
    assert (node["input_tokens"], node["output_tokens"]) == (7, 3)
    assert node["cost_usd"] is None  # not in the price table
    assert (node["input_text"], node["output_text"]) == ("question", "answer")
    assert [e["name"] for e in node["events"]] == ["gen_ai.user.message", "gen_ai.choice"]


def test_nul_characters_and_absurd_counts_do_not_sink_a_batch(http: httpx.Client) -> None:
    trace = new_trace_id()
    attrs = genai_attrs(input_tokens=2**40, output_tokens=-3, **{"key\x00": "va\x00lue"})
    body = request(span(trace, new_span_id(), name="na\x00me", attrs=attrs)).SerializeToString()
    assert http.post(URL, content=body, headers=PROTOBUF).status_code == 200
    [node] = http.get(f"/api/v1/traces/{trace.hex()}").json()["spans"]
    assert node["name"] == "name"
    assert node["attributes"]["key"] == "value"
    assert (node["input_tokens"], node["output_tokens"], node["cost_usd"]) == (None, None, None)
