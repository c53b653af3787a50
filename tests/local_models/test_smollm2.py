"""The real SmolLM2-135M-Instruct: it answers, and batching changes no greedy answer."""

from __future__ import annotations

import asyncio
import time

import pytest

from podium.local_models.generation import GenerationEngine, SamplingParams
from podium.local_models.weights import load_smollm2

pytestmark = pytest.mark.slow

QUESTIONS = [
    "What is the capital of France?",
    "Say hello in Spanish.",
    "List three fruits.",
    "What colour is the sky on a clear day?",
]


def test_a_chat_answer_is_text_and_batching_keeps_greedy_answers(smollm2) -> None:
    # One thread: test processes share the cores (pytest -n 2 on 2 CPUs); see docs.
    engine = GenerationEngine(smollm2, threads=1)
    try:
        greedy = SamplingParams(max_tokens=20, temperature=0)
        items = [engine.chat_prompt([{"role": "user", "content": q}]) for q in QUESTIONS]
        alone = [engine.generate_sync(p, greedy) for p in items]

        async def together():
            return await asyncio.gather(*(engine.generate(p, greedy) for p in items))

        assert asyncio.run(together()) == alone
        assert "Paris" in alone[0].text
        assert all(a.text.strip() and a.completion_tokens > 0 for a in alone)
    finally:
        engine.close()


def test_a_second_load_reads_the_export(model_cache, smollm2) -> None:
    started = time.perf_counter()
    again = load_smollm2(model_cache)
    assert time.perf_counter() - started < 15  # the GGUF path takes 20 s and more
    assert again.model.config.num_hidden_layers == 30
    assert again.tokenizer.chat_template == smollm2.tokenizer.chat_template
