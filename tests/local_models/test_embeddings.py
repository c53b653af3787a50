"""all-MiniLM-L6-v2 embeddings: shape, unit length, batching, meaning, the shared instance."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from podium.errors import InvalidInput
from podium.local_models import embeddings


def test_embeddings_are_unit_float32_rows_of_384(embedder) -> None:
    vectors = embedder.embed(["hello", "a much longer sentence about databases", "日本語 🎉"])
    assert vectors.shape == (3, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, 384)


def test_paraphrases_are_closer_than_unrelated_sentences(embedder) -> None:
    a, b, c, d = embedder.embed(
        [
            "A man is playing a guitar.",
            "Someone is strumming a guitar.",
            "The stock market fell sharply today.",
            "How do I reset my password?",
        ]
    )
    assert float(a @ b) > 0.7
    assert float(a @ c) < 0.2
    assert float(a @ b) > float(a @ c) + 0.5
    assert float(d @ b) < 0.2


def test_batching_does_not_change_an_embedding(embedder) -> None:
    texts = [f"sentence number {i} about {'cats' if i % 2 else 'ships'}" for i in range(40)]
    together = embedder.embed(texts)  # two batches of 32 and 8, with padding
    alone = np.stack([embedder.embed([t])[0] for t in texts[::13]])
    np.testing.assert_allclose(together[::13], alone, atol=1e-5)


def test_wrong_inputs_name_the_field(embedder) -> None:
    with pytest.raises(InvalidInput) as one_string:
        embedder.embed("just one string")
    assert one_string.value.field == "input"
    with pytest.raises(InvalidInput):
        embedder.embed(["ok", 3])  # type: ignore[list-item]


def test_embed_texts_shares_one_instance_across_threads(embedder) -> None:
    seen: list[object] = []
    results: list[np.ndarray] = []

    def work() -> None:
        seen.append(embeddings.shared_embedder())
        results.append(embeddings.embed_texts(["the same text"]))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(seen) == 4 and all(s is seen[0] for s in seen)
    np.testing.assert_allclose(results[0], embedder.embed(["the same text"]), atol=1e-6)
    assert all(np.array_equal(r, results[0]) for r in results)
