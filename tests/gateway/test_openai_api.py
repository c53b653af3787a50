"""The real ``openai`` SDK against the gateway on loopback: chat, streaming, completions,
embeddings, models, and the exact errors a client sees."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from tests.gateway.conftest import GatewayServer, backend_name, deployment
from tests.gateway.upstream import FaultyUpstream


def _route(shared_gateway: GatewayServer, upstream: FaultyUpstream, **spec: object) -> str:
    name = backend_name()
    shared_gateway.put_route("chat", deployments=[deployment(upstream, name)], **spec)
    return name


def test_chat_non_streaming(shared_gateway: GatewayServer, upstream: FaultyUpstream) -> None:
    name = _route(shared_gateway, upstream)
    reply = shared_gateway.client().chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content == f"hello from {name}"
    assert reply.model == "chat"  # the public name, not the provider's
    assert reply.usage is not None and reply.usage.total_tokens == 12
    # The upstream saw the provider's model name and the client's messages.
    sent = upstream.backends[name].last_body
    assert sent["model"] == f"{name}-model"
    assert sent["messages"] == [{"role": "user", "content": "hi"}]


def test_chat_streaming_relays_every_chunk(
    shared_gateway: GatewayServer, upstream: FaultyUpstream
) -> None:
    name = _route(shared_gateway, upstream)
    stream = shared_gateway.client().chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"hello from {name}"
    assert all(c.model == "chat" for c in chunks)
    # Usage was not asked for, so the usage-only chunk the gateway requested is not relayed.
    assert all(c.choices for c in chunks)


def test_streaming_with_usage_and_raw_sse_framing(
    shared_gateway: GatewayServer, upstream: FaultyUpstream
) -> None:
    _route(shared_gateway, upstream)
    body = {
        "model": "chat",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    raw = httpx.post(shared_gateway.url + "/v1/chat/completions", json=body).text
    events = [e for e in raw.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    assert '"usage":{"prompt_tokens":5' in events[-2]


def test_completions_streamed_and_not(
    shared_gateway: GatewayServer, upstream: FaultyUpstream
) -> None:
    name = _route(shared_gateway, upstream)
    client = shared_gateway.client()
    reply = client.completions.create(model="chat", prompt="say hi")
    assert reply.choices[0].text == f"hello from {name}"
    chunks = list(client.completions.create(model="chat", prompt="say hi", stream=True))
    assert "".join(c.choices[0].text for c in chunks) == f"hello from {name}"
    assert chunks[-1].choices[0].text == f" {name}"  # the last chunk still carries text


def test_embeddings(shared_gateway: GatewayServer, upstream: FaultyUpstream) -> None:
    _route(shared_gateway, upstream)
    reply = shared_gateway.client().embeddings.create(model="chat", input=["a", "b"])
    assert [d.embedding for d in reply.data] == [[0.1, 0.2, 0.0], [0.1, 0.2, 1.0]]


def test_models_lists_the_projects_routes(
    shared_gateway: GatewayServer, upstream: FaultyUpstream
) -> None:
    _route(shared_gateway, upstream)
    shared_gateway.put_route("other", deployments=[deployment(upstream, backend_name())])
    shared_gateway.put_route("elsewhere", project="p2", deployments=[deployment(upstream, "x")])
    models = shared_gateway.client().models.list()
    ids = [m.id for m in models.data]
    # Other tests of this module add routes to the same project; p2's never show here.
    assert ids == sorted(ids) and {"chat", "other"} <= set(ids)
    assert "elsewhere" not in ids
    scoped = shared_gateway.client(default_headers={"x-podium-project": "p2"}).models.list()
    assert [m.id for m in scoped.data] == ["elsewhere"]
    assert {m.owned_by for m in models.data} == {"default"}


def test_unknown_model_is_a_404_in_openai_format(shared_gateway: GatewayServer) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        shared_gateway.client().chat.completions.create(
            model="nope", messages=[{"role": "user", "content": "hi"}]
        )
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["code"] == "model_not_found"
    assert error["param"] == "model"
    assert error["type"] == "not_found_error"
    assert "podium gateway routes apply" in error["message"]


@pytest.mark.parametrize(
    ("body", "param", "message"),
    [
        (b"{not json", None, "not valid JSON"),
        (b"[1, 2]", None, "must be a JSON object"),
        (b'{"model": "chat"}', "messages", "'messages' is required"),
        (b'{"model": "chat", "messages": "hi"}', "messages", "list of message objects"),
        (b'{"messages": []}', "model", "'model' is required"),
        (b'{"model": "chat", "messages": [], "stream": "yes"}', "stream", "true or false"),
    ],
)
def test_malformed_requests_get_400(
    shared_gateway: GatewayServer, body: bytes, param: str | None, message: str
) -> None:
    reply = httpx.post(
        shared_gateway.url + "/v1/chat/completions",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert message in error["message"]


def test_unknown_v1_path_and_method(shared_gateway: GatewayServer) -> None:
    reply = httpx.post(shared_gateway.url + "/v1/nothing", json={})
    assert reply.status_code == 404
    assert "/v1/chat/completions" in reply.json()["error"]["message"]
    reply = httpx.get(shared_gateway.url + "/v1/chat/completions")
    assert reply.status_code == 405
    assert reply.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("mode", "status", "error_class"),
    [
        ("429", 429, openai.RateLimitError),
        ("500", 502, openai.InternalServerError),
        ("malformed", 502, openai.InternalServerError),
        ("drop", 502, openai.InternalServerError),
    ],
)
def test_upstream_failures_reach_the_client_as_openai_errors(
    shared_gateway: GatewayServer,
    upstream: FaultyUpstream,
    mode: str,
    status: int,
    error_class: type[openai.APIStatusError],
) -> None:
    name = _route(shared_gateway, upstream, retries=0)
    upstream.set(name, mode)
    with pytest.raises(error_class) as caught:
        shared_gateway.client().chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == status
    body = caught.value.body
    assert isinstance(body, dict) and set(body) == {"message", "type", "param", "code"}
    assert upstream.calls(name) == 1


def test_upstream_timeout_is_a_504(shared_gateway: GatewayServer, upstream: FaultyUpstream) -> None:
    name = backend_name()
    upstream.set(name, "slow", delay_s=1.0)
    shared_gateway.put_route(
        "chat", retries=0, deployments=[deployment(upstream, name, read_timeout_s=0.2)]
    )
    with pytest.raises(openai.APIStatusError) as caught:
        shared_gateway.client().chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "hi"}]
        )
    assert caught.value.status_code == 504
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["code"] == "timeout"


def test_upstream_4xx_passes_through_without_retry(
    shared_gateway: GatewayServer, upstream: FaultyUpstream
) -> None:
    name = _route(shared_gateway, upstream, retries=3)
    upstream.set(name, "400")
    reply = httpx.post(
        shared_gateway.url + "/v1/chat/completions",
        json={"model": "chat", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["message"] == f"{name} says 400"
    assert upstream.calls(name) == 1


def test_a_stream_cut_midway_ends_with_an_error_event(
    shared_gateway: GatewayServer, upstream: FaultyUpstream
) -> None:
    name = _route(shared_gateway, upstream, retries=2)
    upstream.set(name, "cut")
    body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    raw = httpx.post(shared_gateway.url + "/v1/chat/completions", json=body).text
    events = [e.removeprefix("data: ") for e in raw.split("\n\n") if e]
    assert '"content":"hello"' in events[0]
    error = json.loads(events[-1])["error"]
    assert error["type"] == "api_error" and "cannot reach the upstream" in error["message"]
    assert upstream.calls(name) == 1  # no retry once the client has seen output
    # The OpenAI SDK turns that event into an exception after the first chunk.
    stream = shared_gateway.client().chat.completions.create(
        model="chat", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    seen = []
    with pytest.raises(openai.APIError, match="cannot reach the upstream"):
        for chunk in stream:
            seen.append(chunk.choices[0].delta.content)
    assert seen == ["hello"]


def test_upstream_key_comes_from_the_named_variable_and_is_never_stored(
    shared_gateway: GatewayServer, upstream: FaultyUpstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = backend_name()
    variable = f"PODIUM_TEST_KEY_{name.upper()}"
    monkeypatch.setenv(variable, "sk-upstream-secret")
    shared_gateway.put_route(
        "keyed", deployments=[deployment(upstream, name, api_key_env=variable)]
    )
    reply = shared_gateway.client().chat.completions.create(
        model="keyed", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content == f"hello from {name}"
    assert upstream.backends[name].last_authorization == "Bearer sk-upstream-secret"
    shown = httpx.get(shared_gateway.url + "/api/v1/gateway/routes/keyed").text
    assert variable in shown and "sk-upstream-secret" not in shown

    unset = backend_name()
    shared_gateway.put_route(
        "unkeyed", deployments=[deployment(upstream, unset, api_key_env="PODIUM_TEST_UNSET_KEY")]
    )
    with pytest.raises(openai.InternalServerError) as caught:
        shared_gateway.client().chat.completions.create(
            model="unkeyed", messages=[{"role": "user", "content": "hi"}]
        )
    assert "$PODIUM_TEST_UNSET_KEY, which is not set" in caught.value.message
    assert upstream.calls(unset) == 0
