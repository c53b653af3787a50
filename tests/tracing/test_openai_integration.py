"""``instrument_openai``: the real ``openai`` SDK against a fake OpenAI server on loopback."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
import pytest

import podium
from podium.client import Client
from podium.client.integrations.openai import instrument_openai, uninstrument_openai

CHAT = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-2024-08-06",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Paris"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
}
COMPLETION = {
    "id": "cmpl-1",
    "object": "text_completion",
    "created": 1,
    "model": "gpt-3.5-turbo-instruct",
    "choices": [{"index": 0, "text": " world", "finish_reason": "length", "logprobs": None}],
    "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
}
EMBEDDINGS = {
    "object": "list",
    "data": [
        {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]},
        {"object": "embedding", "index": 1, "embedding": [0.3, 0.4]},
    ],
    "model": "text-embedding-3-small",
    "usage": {"prompt_tokens": 4, "total_tokens": 4},
}


def _chunk(content: str | None, finish: str | None = None) -> dict[str, Any]:
    delta = {"content": content} if content is not None else {}
    return {
        "id": "chatcmpl-2",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


class _FakeOpenAI(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body.get("model") == "nope":
            self._send(400, {"error": {"message": "model nope does not exist", "type": "bad"}})
        elif self.path.endswith("/chat/completions") and body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for chunk in (_chunk("Hello"), _chunk(" there"), _chunk(None, "stop")):
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
        elif self.path.endswith("/chat/completions"):
            self._send(200, CHAT)
        elif self.path.endswith("/completions"):
            self._send(200, COMPLETION)
        else:
            self._send(200, EMBEDDINGS)

    def _send(self, status: int, document: dict[str, Any]) -> None:
        raw = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    server.server_close()


def _spans(client: Client) -> list[dict[str, Any]]:
    assert podium.flush(60)
    spans: list[dict[str, Any]] = []
    for listed in client.get("/traces", limit=100)["items"]:
        spans += client.get(f"/traces/{listed['trace_id']}")["spans"]
    return spans


def _span(client: Client) -> dict[str, Any]:
    [only] = _spans(client)
    return only


def test_chat_completion_records_model_messages_output_usage_and_cost(
    traced: Client, fake_openai: str
) -> None:
    with openai.OpenAI(base_url=fake_openai, api_key="sk-test") as llm:
        instrument_openai(llm)
        instrument_openai(llm)  # idempotent
        messages = [{"role": "user", "content": "Capital of France?"}]
        reply = llm.chat.completions.create(model="gpt-4o", messages=messages, temperature=0.2)
    assert reply.choices[0].message.content == "Paris"
    span = _span(traced)
    assert span["name"] == "chat gpt-4o"
    assert (span["kind"], span["provider"], span["operation"]) == ("client", "openai", "chat")
    assert span["model"] == "gpt-4o-2024-08-06"
    assert json.loads(span["input_text"]) == messages
    assert span["output_text"] == "Paris"
    assert (span["input_tokens"], span["output_tokens"]) == (12, 3)
    assert span["cost_usd"] == pytest.approx(12 * 2.5e-6 + 3 * 10e-6)
    assert span["attributes"]["gen_ai.request.temperature"] == 0.2
    assert span["attributes"]["gen_ai.response.finish_reasons"] == ["stop"]


def test_a_stream_span_ends_when_consumed_and_tokens_are_estimated(
    traced: Client, fake_openai: str
) -> None:
    with openai.OpenAI(base_url=fake_openai, api_key="sk-test") as llm:
        instrument_openai(llm)
        stream = llm.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        assert podium.flush(5)
        assert traced.get("/traces")["items"] == []  # the span is still open
        text = "".join(c.choices[0].delta.content or "" for c in stream)
    assert text == "Hello there"
    span = _span(traced)
    assert span["output_text"] == "Hello there"
    assert span["model"] == "gpt-4o-mini"
    assert span["attributes"]["podium.tokens_estimated"] is True
    assert span["output_tokens"] == 2  # "Hello there" in cl100k
    assert span["input_tokens"] is not None and span["input_tokens"] > 0


def test_async_client_with_completions_and_embeddings_inside_a_trace(
    traced: Client, fake_openai: str
) -> None:
    async def main() -> None:
        async with openai.AsyncOpenAI(base_url=fake_openai, api_key="sk-test") as llm:
            instrument_openai(llm)
            with podium.trace("job", user_id="bob"):
                done = await llm.completions.create(model="gpt-3.5-turbo-instruct", prompt="hello")
                assert done.choices[0].text == " world"
                vectors = await llm.embeddings.create(
                    model="text-embedding-3-small", input=["a", "b"]
                )
                assert len(vectors.data) == 2

    asyncio.run(main())
    [root] = _spans(traced)
    assert (root["name"], root["user_id"]) == ("job", "bob")
    children = {c["operation"]: c for c in root["children"]}
    assert children["text_completion"]["input_text"] == "hello"
    assert children["text_completion"]["output_text"] == " world"
    assert (
        children["text_completion"]["input_tokens"],
        children["text_completion"]["output_tokens"],
    ) == (2, 1)
    assert children["embeddings"]["input_tokens"] == 4
    assert children["embeddings"]["attributes"]["gen_ai.embeddings.count"] == 2


def test_an_api_error_is_recorded_and_raised_unchanged(traced: Client, fake_openai: str) -> None:
    with openai.OpenAI(base_url=fake_openai, api_key="sk-test", max_retries=0) as llm:
        instrument_openai(llm)
        with pytest.raises(openai.BadRequestError):
            llm.chat.completions.create(model="nope", messages=[{"role": "user", "content": "x"}])
    span = _span(traced)
    assert span["status"] == "error"
    assert "BadRequestError" in span["status_message"]


def test_global_instrumentation_covers_new_clients_and_can_be_undone(
    traced: Client, fake_openai: str
) -> None:
    instrument_openai()
    try:
        with openai.OpenAI(base_url=fake_openai, api_key="sk-test") as llm:
            llm.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "q"}])
    finally:
        uninstrument_openai()
    with openai.OpenAI(base_url=fake_openai, api_key="sk-test") as llm:
        llm.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "q"}])
    assert [s["name"] for s in _spans(traced)] == ["chat gpt-4o"]
