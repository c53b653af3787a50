"""Drift with the real all-MiniLM-L6-v2 embeddings (``podium.local_models``), the default."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from podium.tracing.drift import DriftDetector, DriftSample
from tests.support.requirements import missing
from tests.tracing.test_drift import english_only

pytestmark = pytest.mark.slow

QUESTIONS_ABOUT_WEATHER = [
    "Will it rain in {} tomorrow?",
    "What is the temperature in {} this weekend?",
    "Is there a storm warning for {}?",
    "How windy will it be in {} on Monday?",
    "Should I bring an umbrella in {} today?",
]
QUESTIONS_ABOUT_BILLING = [
    "Why was my card charged twice for order {}?",
    "How do I get a refund for invoice {}?",
    "Can you change the billing address on account {}?",
    "When will payment {} be credited to my balance?",
    "Which price applies to subscription {}?",
]
CITIES = ["Paris", "Lagos", "Osaka", "Lima", "Oslo", "Perth", "Quito", "Cairo"]


def questions(templates: list[str], rng: np.random.Generator, n: int) -> list[str]:
    return [
        templates[int(rng.integers(len(templates)))].format(
            CITIES[int(rng.integers(len(CITIES)))] if "{}" in templates[0] else ""
        )
        for _ in range(n)
    ]


def test_minilm_embeddings_detect_a_topic_shift_and_not_resampling() -> None:
    if importlib.util.find_spec("podium.local_models.embeddings") is None:
        missing("podium.local_models.embeddings is not available")
    detector = DriftDetector(detect_languages=english_only, permutations=300)  # default embedder
    rng = np.random.default_rng(0)

    def sample(templates: list[str]) -> DriftSample:
        return DriftSample(questions(templates, rng, 30), [], 0, 30)

    reference = sample(QUESTIONS_ABOUT_WEATHER)
    shifted = detector.compare(reference, sample(QUESTIONS_ABOUT_BILLING))
    embedding = {s.name: s for s in shifted.statistics}["embedding_input"]
    assert embedding.p_value is not None and embedding.p_value < 0.01
    assert embedding.detail["permutations"] >= 300
    same = detector.compare(reference, sample(QUESTIONS_ABOUT_WEATHER))
    assert {s.name: s for s in same.statistics}["embedding_input"].p_value > 0.01
