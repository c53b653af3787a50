"""GenerationEngine on the tiny random Llama: batching equals decoding alone, sampling, stop
strings, streaming, limits and shutdown."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from podium.errors import InvalidInput, ServiceUnavailable
from podium.local_models.generation import (
    Completion,
    Finished,
    GenerationEngine,
    SamplingParams,
    TextDelta,
    _safe_end,
)

GREEDY = SamplingParams(max_tokens=16, temperature=0)
QUESTIONS = [
    "What is 2+2?",
    "Name a colour and say at length why you like it so very much.",
    "hi",
    "Write a haiku about the sea, the wind and the long grey evening.",
    "Why?",
]


def prompts(engine: GenerationEngine) -> list[list[int]]:
    return [engine.chat_prompt([{"role": "user", "content": q}]) for q in QUESTIONS]


def reference(tiny, prompt: list[int], max_tokens: int) -> str:
    """Plain transformers greedy generate, one request at a time."""
    import torch

    out = tiny.model.generate(
        torch.tensor([prompt]),
        attention_mask=torch.ones((1, len(prompt)), dtype=torch.long),
        max_new_tokens=max_tokens,
        do_sample=False,
        pad_token_id=tiny.tokenizer.pad_token_id,
    )
    return tiny.tokenizer.decode(out[0, len(prompt) :], skip_special_tokens=True)


async def gather(engine: GenerationEngine, items: list[list[int]], params: SamplingParams):
    return await asyncio.gather(*(engine.generate(p, params) for p in items))


def test_concurrent_greedy_answers_equal_plain_generate(tiny, engine) -> None:
    items = prompts(engine)
    expected = [reference(tiny, p, 16) for p in items]
    answers = asyncio.run(gather(engine, items, GREEDY))
    assert [a.text for a in answers] == expected
    for prompt, answer in zip(items, answers, strict=True):
        assert answer == Completion(answer.text, "length", len(prompt), 16)
    assert len({a.text for a in answers}) == len(items)  # different prompts, different answers


def test_requests_join_a_running_batch_and_still_match(engine) -> None:
    items = prompts(engine)
    alone = [engine.generate_sync(p, SamplingParams(max_tokens=24, temperature=0)) for p in items]

    async def staggered() -> list[Completion]:
        first = engine.stream(items[0], SamplingParams(max_tokens=24, temperature=0))
        parts = [await anext(first)]  # the first request is decoding now
        later = asyncio.gather(
            *(engine.generate(p, SamplingParams(max_tokens=24, temperature=0)) for p in items[1:])
        )
        async for event in first:
            parts.append(event)
        texts = "".join(e.text for e in parts if isinstance(e, TextDelta))
        done = parts[-1]
        assert isinstance(done, Finished)
        head = Completion(texts, done.finish_reason, done.prompt_tokens, done.completion_tokens)
        return [head, *await later]

    assert asyncio.run(staggered()) == alone


def test_more_requests_than_the_batch_wait_for_a_slot(tiny) -> None:
    small = GenerationEngine(tiny, max_batch=2)
    try:
        items = prompts(small)
        alone = [small.generate_sync(p, GREEDY).text for p in items]
        assert [a.text for a in asyncio.run(gather(small, items, GREEDY))] == alone
    finally:
        small.close()


def test_threads_can_call_generate_sync_concurrently(engine) -> None:
    items = prompts(engine)
    alone = [engine.generate_sync(p, GREEDY).text for p in items]
    results: dict[int, str] = {}

    def work(i: int) -> None:
        results[i] = engine.generate_sync(items[i], GREEDY).text

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(items))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert [results[i] for i in range(len(items))] == alone


def test_streamed_deltas_add_up_to_the_answer(engine) -> None:
    prompt = prompts(engine)[1]
    whole = engine.generate_sync(prompt, GREEDY)

    async def collect() -> list[object]:
        return [e async for e in engine.stream(prompt, GREEDY)]

    events = asyncio.run(collect())
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert all(d.text for d in deltas)
    assert "".join(d.text for d in deltas) == whole.text
    assert events[-1] == Finished("length", len(prompt), 16)
    assert len(deltas) > 1


def test_a_stop_string_cuts_the_answer_before_it(engine) -> None:
    prompt = prompts(engine)[3]
    full = engine.generate_sync(prompt, SamplingParams(max_tokens=20, temperature=0)).text
    stop = full[len(full) // 2 : len(full) // 2 + 3]
    cut = engine.generate_sync(prompt, SamplingParams(max_tokens=20, temperature=0, stop=(stop,)))
    assert cut.text == full[: full.index(stop)]
    assert cut.finish_reason == "stop"
    assert cut.completion_tokens < 20


def test_seeded_sampling_repeats_and_differs_from_another_seed(engine) -> None:
    prompt = prompts(engine)[0]
    hot = SamplingParams(max_tokens=12, temperature=1.5, seed=7)
    first = engine.generate_sync(prompt, hot).text
    assert engine.generate_sync(prompt, hot).text == first
    other = {engine.generate_sync(prompt, SamplingParams(12, 1.5, 1.0, (), s)).text for s in (1, 2)}
    assert other - {first}
    # top_p this small keeps only the most likely token: greedy decoding.
    narrow = SamplingParams(max_tokens=12, temperature=1.0, top_p=1e-6, seed=3)
    greedy = SamplingParams(max_tokens=12, temperature=0)
    assert engine.generate_sync(prompt, narrow).text == engine.generate_sync(prompt, greedy).text


def test_leaving_a_stream_early_frees_its_slot(tiny) -> None:
    single = GenerationEngine(tiny, max_batch=1)
    try:
        prompt = prompts(single)[0]

        async def abandon() -> None:
            events = single.stream(prompt, SamplingParams(max_tokens=1000, temperature=0))
            await anext(events)
            await events.aclose()

        asyncio.run(abandon())
        # With one slot, this only finishes if the abandoned request left the batch.
        answer = single.generate_sync(prompt, GREEDY)
        assert answer.completion_tokens == 16
    finally:
        single.close()


def test_the_context_window_bounds_prompt_and_answer(tiny, engine) -> None:
    window = engine.context_length
    assert window == 2048
    with pytest.raises(InvalidInput) as too_long:
        engine.generate_sync([5] * window, GREEDY)
    assert too_long.value.field == "prompt"
    assert "2047" in too_long.value.message
    with pytest.raises(InvalidInput) as empty:
        engine.generate_sync([], GREEDY)
    assert empty.value.field == "prompt"
    with pytest.raises(InvalidInput, match="between 0 and 49151"):
        engine.generate_sync([1, 49152], GREEDY)
    edge = engine.generate_sync([5] * (window - 3), SamplingParams(max_tokens=50, temperature=0))
    assert (edge.finish_reason, edge.completion_tokens) == ("length", 3)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_tokens": 0}, "max_tokens"),
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": -1}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"stop": ("",)}, "stop"),
        ({"stop": ("a", "b", "c", "d", "e")}, "stop"),
    ],
)
def test_out_of_range_sampling_params_name_the_field(kwargs, field) -> None:
    with pytest.raises(InvalidInput) as error:
        SamplingParams(**kwargs)
    assert error.value.field == field


def test_closing_fails_running_requests_and_refuses_new_ones(tiny) -> None:
    closing = GenerationEngine(tiny, max_batch=1)  # full: the second request waits in line
    prompt = prompts(closing)[0]
    endless = SamplingParams(max_tokens=100_000, temperature=0)

    async def outcome(events: Any) -> BaseException | None:
        try:
            async for _ in events:
                pass
        except ServiceUnavailable as exc:
            return exc
        return None

    async def run_then_close() -> list[BaseException | None]:
        running = closing.stream(prompt, endless)
        await anext(running)
        waiting = asyncio.ensure_future(outcome(closing.stream(prompt, endless)))
        await asyncio.sleep(0.05)
        started = time.perf_counter()
        await asyncio.to_thread(closing.close)
        assert time.perf_counter() - started < 5
        return [await outcome(running), await waiting]

    errors = asyncio.run(run_then_close())
    assert all(isinstance(e, ServiceUnavailable) for e in errors)
    assert all("shut down" in e.message for e in errors if isinstance(e, ServiceUnavailable))
    with pytest.raises(ServiceUnavailable):
        closing.generate_sync(prompt, GREEDY)
    assert not closing._thread.is_alive()


def test_int8_quantizes_linear_layers_and_still_generates(tiny) -> None:
    import torch

    quantized = GenerationEngine(tiny, int8=True)
    try:
        layer = quantized._model.model.layers[0].self_attn.q_proj
        assert isinstance(layer, torch.ao.nn.quantized.dynamic.Linear)
        assert isinstance(tiny.model.model.layers[0].self_attn.q_proj, torch.nn.Linear)
        answer = quantized.generate_sync(prompts(quantized)[0], GREEDY)
        assert (answer.finish_reason, answer.completion_tokens) == ("length", 16)
    finally:
        quantized.close()


def test_chat_prompt_uses_the_template(engine) -> None:
    text = engine._tokenizer.decode(engine.chat_prompt([{"role": "user", "content": "hi"}]))
    assert text.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")
    with pytest.raises(InvalidInput):
        engine.chat_prompt([])


def test_partial_characters_and_stop_prefixes_are_held_back(tiny) -> None:
    # A multi-byte character split across tokens decodes as U+FFFD until it is complete.
    ids = tiny.tokenizer.encode("🎉")
    assert len(ids) > 1
    assert tiny.tokenizer.decode(ids[:1]).endswith("\ufffd")
    assert _safe_end("ok \ufffd", ()) == 3
    assert _safe_end("say END", ("ENDING",)) == 4
    assert _safe_end("say EN", ("END", "N!")) == 4
    assert _safe_end("plain", ("zzz",)) == 5
