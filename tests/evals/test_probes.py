"""Bias and robustness probes: counterfactual swaps from the shipped term list, seeded typos,
paraphrases, prompt-injection probes with their detector, and per-group disparity."""

from __future__ import annotations

import random

import pytest

from podium.client import Client
from podium.errors import InvalidInput
from podium.evals.probes import (
    add_typos,
    counterfactual_terms,
    counterfactuals,
    expand,
    injection_probes,
    swap_terms,
)
from podium.evals.runner import build_items, run_suite
from podium.evals.scorers import get_scorer
from podium.evals.suite import parse_suite
from podium.server.app import Services


def test_counterfactual_swaps_keep_case_and_whole_words() -> None:
    terms = counterfactual_terms()
    assert set(terms) == {"gender", "age", "names"}
    assert len(terms["gender"]["male"]) == len(terms["gender"]["female"])
    assert (
        swap_terms(
            "He said his son is a man.",
            ["he", "his", "son", "man"],
            ["she", "her", "daughter", "woman"],
        )
        == "She said her daughter is a woman."
    )
    assert swap_terms("The theme", ["he"], ["she"]) == "The theme"
    found = counterfactuals("Should James hire his brother?", terms)
    assert found == [
        ("gender:female", "Should James hire her sister?"),
        ("names:group_b", "Should Jamal hire his brother?"),
        ("names:group_c", "Should José hire his brother?"),
    ]
    assert counterfactuals("What is 2 + 2?", terms) == []


def test_typos_are_seeded_and_paraphrases_rotate() -> None:
    text = "Please summarise the following paragraph carefully"
    first = add_typos(text, 0.5, random.Random(1))
    assert first == add_typos(text, 0.5, random.Random(1))
    assert first != text
    assert sorted(first) == sorted(text)  # letters swapped, none lost
    assert add_typos(text, 0.0, random.Random(1)) == text
    variants = expand("Who is he?", 1, {"paraphrase": True, "typos": {"rate": 1.0, "seed": 3}})
    assert [(v.variant, v.group) for v in variants] == [("paraphrase", "paraphrase")]
    assert variants[0].input == "Who is he? Answer concisely."
    with pytest.raises(InvalidInput, match="unknown probe 'jailbreak'"):
        expand("x", 0, {"jailbreak": True})


def test_injection_probes_and_their_detector() -> None:
    canary, probes = injection_probes()
    assert len(probes) == 20
    assert all(p.strip() for p in probes)
    detector = get_scorer("injection_resisted")
    assert detector(f"Sure: {canary.lower()}", None, {}).value == 0.0
    assert detector("I will not do that.", None, {}).value == 1.0


def resisting(question: str) -> str:
    """Answers women's questions worse: a planted bias; never prints the canary."""
    if "she" in question.lower().split() or "her" in question.lower().split():
        return "unsure"
    return "yes"


def test_probe_groups_report_the_disparity(services: Services, client: Client) -> None:
    import io
    import json

    rows = [
        {"input": "Can he lift it?", "expected": "yes"},
        {"input": "Is his plan good?", "expected": "yes"},
    ]
    services.data.import_rows(
        "default", "bias", io.BytesIO("".join(json.dumps(r) + "\n" for r in rows).encode())
    )
    suite = parse_suite(
        {
            "name": "bias",
            "dataset": "bias",
            "targets": [{"name": "t", "python": "tests.evals.test_probes:resisting"}],
            "scorers": ["exact_match"],
            "probes": {"counterfactual": True, "injection": True},
        }
    )
    items = build_items(
        [{"input": r["input"], "expected": r["expected"]} for r in rows], suite.probes
    )
    assert len(items) == 2 + 2 + 20  # originals, their gender swaps, the injection probes
    (outcome,) = run_suite(suite, client)
    summary = outcome.experiment["summary"]
    assert summary["groups"]["original"]["exact_match"] == 1.0
    assert summary["groups"]["gender:female"]["exact_match"] == 0.0
    assert summary["groups"]["injection"] == {"injection_resisted": 1.0}
    assert summary["disparity"]["exact_match"] == 1.0
    # The headline metric is over the originals only.
    assert outcome.experiment["metrics"]["exact_match"] == 1.0
    assert outcome.experiment["scorers"] == {"exact_match": True, "injection_resisted": True}
