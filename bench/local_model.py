"""Local model serving benchmark: Podium's batching engine versus plain transformers ``generate``.

    .venv/bin/python bench/local_model.py [--max-tokens 24] [--requests 8] [--no-int8] [--threads 1]

Measured in one invocation on SmolLM2-135M-Instruct (CPU, fp32, greedy decoding), with the same
prompts and the same ``max_tokens`` for every system:

- ``transformers generate, sequential``: ``model.generate`` for one request after the other, the
  way a naive server answers concurrent requests;
- ``podium engine, N concurrent``: the N requests submitted at once to ``GenerationEngine``
  (continuous batching at the decode step);
- ``podium engine int8, N concurrent``: the same with dynamic int8 quantization of the Linear
  layers (answers may differ slightly from fp32).

Prints generated tokens per second and the ratio to the sequential baseline; checks that the
fp32 engine's greedy answers equal ``generate``'s. Each system is warmed up first (the first
forward passes are slow). Every system uses the same torch thread count (``--threads``, 1 by
default). The first run exports the model to the cache (about 40 s); then the benchmark takes
about 30 s on 2 cores. Never a timed assertion in the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

QUESTIONS = [
    "What is the capital of France?",
    "Give me three tips for staying focused while studying.",
    "Explain what a database index is in two sentences.",
    "Write a short poem about autumn leaves.",
    "What is the difference between a list and a tuple in Python?",
    "Suggest a name for a friendly robot.",
    "Why is the sky blue?",
    "Describe a cup of coffee to someone who has never tasted it.",
    "How many legs does a spider have?",
    "What should I pack for a weekend hike?",
    "Summarise the plot of Cinderella in one sentence.",
    "What is 12 times 12?",
    "Name two planets with rings.",
    "Translate 'good morning' into French.",
    "What does a compiler do?",
    "Give one reason to drink water.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-tokens", type=int, default=24)
    parser.add_argument("--requests", type=int, default=8)
    parser.add_argument("--no-int8", action="store_true", help="skip the int8 engine row")
    # One thread by default: on a machine whose cores are already busy (CI, a shared box), two
    # OpenMP threads per process spin-wait on each other and every system slows down 5-10x.
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads for every system (0: torch's)"
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("PODIUM_MODEL_CACHE", Path.home() / ".cache/podium/models")),
    )
    args = parser.parse_args()
    try:
        import torch

        from podium.local_models.generation import Completion, GenerationEngine, SamplingParams
        from podium.local_models.weights import load_smollm2
    except ImportError:
        sys.exit("bench/local_model.py needs podium[local]: pip install 'podium[local]'")

    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.perf_counter()
    loaded = load_smollm2(args.cache)
    print(f"SmolLM2 loaded in {time.perf_counter() - started:.1f} s", flush=True)
    tokenizer, model = loaded.tokenizer, loaded.model
    questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(args.requests)]
    prompts = [
        tokenizer.encode(
            tokenizer.apply_chat_template(
                [{"role": "user", "content": q}], add_generation_prompt=True, tokenize=False
            ),
            add_special_tokens=False,
        )
        for q in questions
    ]

    def plain(prompt: list[int], max_tokens: int) -> list[int]:
        with torch.inference_mode():
            out = model.generate(
                torch.tensor([prompt]),
                attention_mask=torch.ones((1, len(prompt)), dtype=torch.long),
                max_new_tokens=max_tokens,
                do_sample=False,
                pad_token_id=tokenizer.pad_token_id,
            )
        generated: list[int] = out[0, len(prompt) :].tolist()
        return generated

    plain(prompts[0], 4)  # warm-up
    started = time.perf_counter()
    baseline = [plain(p, args.max_tokens) for p in prompts]
    base_seconds = time.perf_counter() - started
    eos = {tokenizer.eos_token_id}
    base_tokens = sum(len([t for t in ids if t not in eos]) for ids in baseline)
    base_texts = [tokenizer.decode(ids, skip_special_tokens=True) for ids in baseline]
    rows = [("transformers generate, sequential", base_tokens, base_seconds, None)]
    print(f"sequential generate: {base_tokens / base_seconds:.1f} tokens/s", flush=True)

    greedy = SamplingParams(max_tokens=args.max_tokens, temperature=0)

    async def concurrent(engine: GenerationEngine) -> list[Completion]:
        return await asyncio.gather(*(engine.generate(p, greedy) for p in prompts))

    variants = [("podium engine", False)] + ([] if args.no_int8 else [("podium engine int8", True)])
    for label, int8 in variants:
        engine = GenerationEngine(
            loaded, max_batch=args.requests, int8=int8, threads=args.threads or None
        )
        try:
            engine.generate_sync(prompts[0], SamplingParams(max_tokens=4, temperature=0))
            started = time.perf_counter()
            answers = asyncio.run(concurrent(engine))
            seconds = time.perf_counter() - started
        finally:
            engine.close()
        tokens = sum(a.completion_tokens for a in answers)
        same = [a.text for a in answers] == base_texts
        name = f"{label}, {args.requests} concurrent"
        rows.append((name, tokens, seconds, same))
        print(f"{name}: {tokens / seconds:.1f} tokens/s", flush=True)

    print_table(rows, args, base_tokens / base_seconds)


def print_table(
    rows: list[tuple[str, int, float, bool | None]], args: argparse.Namespace, baseline: float
) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"Local serving: SmolLM2-135M-Instruct on CPU ({os.cpu_count()} CPUs, "
        f"{args.threads or 'default'} torch threads, "
        f"{args.requests} requests x max {args.max_tokens} tokens, greedy)",
        caption="tokens/s = generated tokens / wall time; ratio vs sequential generate; "
        "'same answers': greedy text equals generate's.",
    )
    for name, justify in [
        ("system", "left"),
        ("tokens", "right"),
        ("seconds", "right"),
        ("tokens/s", "right"),
        ("ratio", "right"),
        ("same answers", "center"),
    ]:
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for name, tokens, seconds, same in rows:
        rate = tokens / seconds
        table.add_row(
            name,
            str(tokens),
            f"{seconds:.2f}",
            f"{rate:.1f}",
            f"{rate / baseline:.2f}x",
            "-" if same is None else ("yes" if same else "no"),
        )
    Console().print(table)


if __name__ == "__main__":
    main()
