"""The local provider builds OpenAI's shapes (checked with the openai SDK's own models) from the
tiny random Llama and the real all-MiniLM-L6-v2, and turns request mistakes into clear 4xx."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from openai.types import Completion as OpenAICompletion
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from podium.gateway.models import RouteSpec
from podium.gateway.providers.base import Provider, ProviderError, ProviderModel
from podium.gateway.providers.local import LocalProvider
from tests.local_models.conftest import require_local, shared_model_cache

CHAT = {"model": "tiny-llama", "messages": [{"role": "user", "content": "Tell me a story."}]}


@pytest.fixture(scope="module")
def provider() -> Iterator[LocalProvider]:
    require_local()
    from podium.local_models.embeddings import Embedder
    from podium.local_models.generation import GenerationEngine
    from podium.local_models.weights import tiny_llama

    cache = shared_model_cache()
    engine = GenerationEngine(tiny_llama(cache))
    built = LocalProvider(engine=engine, embedder=Embedder())
    yield built
    engine.close()


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def collect(stream: Any) -> list[dict[str, Any]]:
    return [chunk async for chunk in stream]


def test_it_is_a_provider_listing_both_models(provider) -> None:
    assert isinstance(provider, Provider)
    assert run(provider.models()) == [
        ProviderModel("tiny-llama", "podium-local"),
        ProviderModel("all-minilm-l6-v2", "podium-local"),
    ]


def test_chat_answers_in_openai_shape_with_usage(provider) -> None:
    body = run(provider.chat({**CHAT, "max_tokens": 7, "temperature": 0}))
    answer = ChatCompletion.model_validate(body)
    assert answer.object == "chat.completion"
    assert answer.model == "tiny-llama"
    assert answer.choices[0].message.role == "assistant"
    assert answer.choices[0].message.content
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage is not None
    assert (answer.usage.completion_tokens, answer.usage.total_tokens) == (
        7,
        answer.usage.prompt_tokens + 7,
    )
    again = run(provider.chat({**CHAT, "max_tokens": 7, "temperature": 0}))
    assert again["choices"][0]["message"]["content"] == answer.choices[0].message.content


def test_n_choices_with_a_seed_are_distinct_and_repeatable(provider) -> None:
    request = {**CHAT, "max_tokens": 6, "n": 3, "seed": 11, "temperature": 1.2}
    first = ChatCompletion.model_validate(run(provider.chat(request)))
    second = ChatCompletion.model_validate(run(provider.chat(request)))
    texts = [c.message.content for c in first.choices]
    assert [c.index for c in first.choices] == [0, 1, 2]
    assert texts == [c.message.content for c in second.choices]
    assert len(set(texts)) == 3
    assert first.usage is not None and first.usage.completion_tokens == 18


def test_streamed_chat_has_role_deltas_finish_and_usage(provider) -> None:
    whole = run(provider.chat({**CHAT, "max_tokens": 9, "temperature": 0}))
    request = {**CHAT, "max_tokens": 9, "temperature": 0, "stream": True}
    chunks = run(
        collect(provider.stream_chat({**request, "stream_options": {"include_usage": True}}))
    )
    parsed = [ChatCompletionChunk.model_validate(c) for c in chunks]
    assert parsed[0].choices[0].delta.role == "assistant"
    assert len({c.id for c in parsed}) == 1
    text = "".join(c.choices[0].delta.content or "" for c in parsed if c.choices)
    assert text == whole["choices"][0]["message"]["content"]
    assert parsed[-2].choices[0].finish_reason == "length"
    assert parsed[-1].choices == []
    assert parsed[-1].usage is not None
    assert parsed[-1].usage.model_dump() | {} == {
        **whole["usage"],
        "completion_tokens_details": None,
        "prompt_tokens_details": None,
    }
    without = run(collect(provider.stream_chat(request)))
    assert without[-1]["choices"][0]["finish_reason"] == "length"
    assert all("usage" not in c for c in without)


def test_completions_and_their_stream_carry_text_to_the_end(provider) -> None:
    request = {"model": "tiny-llama", "prompt": "Once upon a time", "max_tokens": 5}
    whole = OpenAICompletion.model_validate(run(provider.complete({**request, "temperature": 0})))
    assert whole.object == "text_completion"
    assert whole.choices[0].finish_reason == "length"
    chunks = run(collect(provider.stream_complete({**request, "temperature": 0})))
    # OpenAI's own stream chunks carry finish_reason null until the last: only it validates.
    last = OpenAICompletion.model_validate(chunks[-1])
    assert last.choices[0].finish_reason == "length"
    assert all(c["object"] == "text_completion" for c in chunks)
    assert all(isinstance(c["choices"][0]["text"], str) for c in chunks)
    assert "".join(c["choices"][0]["text"] for c in chunks) == whole.choices[0].text
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None] * (len(chunks) - 1)
    several = run(provider.complete({**request, "prompt": ["a", "b"], "temperature": 0}))
    assert [c["index"] for c in several["choices"]] == [0, 1]
    ids = run(provider.complete({**request, "prompt": [28120, 905], "temperature": 0}))
    assert ids["usage"]["prompt_tokens"] == 2


def test_embeddings_in_float_and_base64_agree(provider) -> None:
    texts = ["A man is playing a guitar.", "Someone strums a guitar.", "Taxes rose."]
    plain = CreateEmbeddingResponse.model_validate(
        run(provider.embed({"model": "all-minilm-l6-v2", "input": texts}))
    )
    assert plain.object == "list"
    assert [d.index for d in plain.data] == [0, 1, 2]
    vectors = np.array([d.embedding for d in plain.data], dtype=np.float32)
    assert vectors.shape == (3, 384)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.5
    assert plain.usage.prompt_tokens == plain.usage.total_tokens > 3
    packed = run(
        provider.embed({"model": "all-minilm-l6-v2", "input": texts, "encoding_format": "base64"})
    )
    decoded = [np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in packed["data"]]
    np.testing.assert_array_equal(np.stack(decoded), vectors)
    one = run(provider.embed({"model": "all-minilm-l6-v2", "input": texts[0]}))
    assert len(one["data"]) == 1


@pytest.mark.parametrize(
    ("call", "request_body", "status", "words"),
    [
        ("chat", {**CHAT, "model": "gpt-4o"}, 404, "serves 'tiny-llama'"),
        ("chat", {**CHAT, "messages": []}, 400, "'messages'"),
        ("chat", {**CHAT, "messages": [{"role": "robot", "content": "x"}]}, 400, "messages[0]"),
        ("chat", {**CHAT, "messages": [{"role": "user", "content": 5}]}, 400, "content"),
        ("chat", {**CHAT, "temperature": "hot"}, 400, "'temperature' must be a number"),
        ("chat", {**CHAT, "temperature": 3}, 400, "temperature must be between 0 and 2"),
        ("chat", {**CHAT, "max_tokens": True}, 400, "'max_tokens' must be an integer"),
        ("chat", {**CHAT, "n": 9}, 400, "'n' must be between 1 and 8"),
        ("chat", {**CHAT, "stop": [1]}, 400, "'stop'"),
        ("chat", {**CHAT, "tools": [{"type": "function"}]}, 400, "does not support 'tools'"),
        ("stream_chat", {**CHAT, "n": 2}, 400, "n=1"),
        ("complete", {"model": "tiny-llama", "prompt": {}}, 400, "'prompt'"),
        ("complete", {"model": "tiny-llama", "prompt": "x", "echo": True}, 400, "'echo'"),
        ("complete", {"model": "tiny-llama", "prompt": [5] * 3000}, 400, "shorten it"),
        ("complete", {"model": "tiny-llama", "prompt": [-1]}, 400, "token ids must be between"),
        ("embed", {"model": "tiny-llama", "input": "x"}, 404, "all-minilm-l6-v2"),
        ("embed", {"model": "all-minilm-l6-v2", "input": []}, 400, "'input'"),
        ("embed", {"model": "all-minilm-l6-v2", "input": [1, 2]}, 400, "'input'"),
        ("embed", {"model": "all-minilm-l6-v2", "input": "x", "dimensions": 64}, 400, "384"),
        (
            "embed",
            {"model": "all-minilm-l6-v2", "input": "x", "encoding_format": "int8"},
            400,
            "encoding_format",
        ),
    ],
)
def test_request_mistakes_are_clear_non_retryable_errors(
    provider, call, request_body, status, words
) -> None:
    async def attempt() -> None:
        result = getattr(provider, call)(request_body)
        if call.startswith("stream"):
            await collect(result)
        else:
            await result

    with pytest.raises(ProviderError) as error:
        run(attempt())
    assert error.value.status == status
    assert error.value.retryable is False
    assert words in error.value.message


def test_streams_refuse_a_bad_prompt_before_their_first_chunk(provider) -> None:
    too_long = {"model": "tiny-llama", "prompt": [5] * 3000, "stream": True}
    chat = {**CHAT, "messages": [{"role": "user", "content": "word " * 3000}], "stream": True}

    async def first(stream: Any) -> Any:
        return await anext(stream)

    for stream in (provider.stream_complete(too_long), provider.stream_chat(chat)):
        with pytest.raises(ProviderError) as error:
            run(first(stream))
        assert (error.value.status, error.value.retryable) == (400, False)
        assert "shorten it" in error.value.message


def test_a_closed_engine_answers_503_retryable(provider) -> None:
    from podium.local_models.generation import GenerationEngine

    engine = GenerationEngine(_tiny())
    closed = LocalProvider(engine=engine)
    run(closed.aclose())  # an injected engine belongs to the caller: still open
    assert run(closed.chat({**CHAT, "max_tokens": 2}))["choices"]
    engine.close()
    with pytest.raises(ProviderError) as error:
        run(closed.chat({**CHAT, "max_tokens": 2}))
    assert (error.value.status, error.value.retryable) == (503, True)


def _tiny() -> Any:
    from podium.local_models.weights import tiny_llama

    return tiny_llama(shared_model_cache())


@pytest.fixture(scope="module")
def local_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A real server on loopback whose routes use the real SmolLM2 and MiniLM (SQLite: the
    serving path does not touch the database per request)."""
    require_local()
    from podium.server.app import build
    from podium.settings import Settings
    from tests.gateway.conftest import serving

    cache = shared_model_cache()
    settings = Settings(
        home=tmp_path_factory.mktemp("local-gateway"),
        password_hash_cost=10,
        model_cache=cache,
        local_threads=1,
    )
    services = build(settings)
    try:
        with serving(services) as running:
            running.put_route(
                "small",
                deployments=[
                    {"name": "smol", "provider": "local", "model": "smollm2-135m-instruct"}
                ],
            )
            running.put_route(
                "embed",
                deployments=[{"name": "mini", "provider": "local", "model": "all-minilm-l6-v2"}],
            )
            yield running
    finally:
        services.close()


@pytest.mark.slow
def test_the_openai_sdk_talks_to_smollm2_through_the_gateway(local_gateway) -> None:
    client = local_gateway.client()
    question = [{"role": "user", "content": "What is the capital of France?"}]
    answer = client.chat.completions.create(
        model="small", messages=question, max_tokens=12, temperature=0
    )
    text = answer.choices[0].message.content
    assert text and "Paris" in text
    assert answer.usage is not None and 0 < answer.usage.completion_tokens <= 12

    stream = client.chat.completions.create(
        model="small",
        messages=question,
        max_tokens=12,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == text
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == answer.usage.completion_tokens

    vectors = client.embeddings.create(model="embed", input=["a cat", "a kitten", "tax law"])
    a, b, c = (np.array(d.embedding) for d in vectors.data)
    assert len(a) == 384
    assert a @ b > a @ c


def test_the_server_warms_up_the_local_models_its_routes_use(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """With PODIUM_LOCAL_WARMUP the embedding model loads at start, before any request."""
    require_local()
    import time

    from podium.server.app import build
    from podium.settings import Settings
    from tests.gateway.conftest import serving

    cache = shared_model_cache()
    settings = Settings(
        home=tmp_path_factory.mktemp("warm"),
        password_hash_cost=10,
        model_cache=cache,
        local_warmup=True,
    )
    services = build(settings)
    try:
        services.gateway.service.put_route(
            "default",
            "embed",
            RouteSpec.model_validate(
                {"deployments": [{"name": "m", "provider": "local", "model": "all-minilm-l6-v2"}]}
            ),
            actor="test",
        )
        with serving(services) as running:
            deadline = time.monotonic() + 120
            provider: Any = None
            while time.monotonic() < deadline:
                provider = services.gateway._providers.get(("local",))
                if provider is not None and provider._embedder is not None:
                    break
                time.sleep(0.2)
            assert provider is not None and provider._embedder is not None
            assert provider._engine is None  # no route uses the language model
            vectors = running.client().embeddings.create(model="embed", input=["warm"])
            assert len(vectors.data[0].embedding) == 384
    finally:
        services.close()
