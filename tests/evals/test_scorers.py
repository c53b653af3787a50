"""Each scorer against known values: SQuAD F1/EM on hand-checked pairs, sacrebleu's own numbers,
ROUGE-L by hand, JSON schema, classification metrics and the confusion matrix."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import sacrebleu

from podium.errors import InvalidInput, MissingExtra
from podium.evals.scorers import (
    Score,
    get_scorer,
    lcs_length,
    normalize_answer,
    register_scorer,
    rouge_l,
    scorer_names,
    squad_f1,
    to_score,
)

ITEM: dict[str, Any] = {"input": "q", "metadata": {}, "latency_ms": 12.5, "cost": 0.002}


def score(name: str, output: str, expected: str | None, **params: Any) -> float:
    return get_scorer(name, **params)(output, expected, ITEM).value


def test_squad_normalisation_and_f1_on_hand_checked_pairs() -> None:
    assert normalize_answer("The  Eiffel Tower!") == "eiffel tower"
    assert normalize_answer("an apple, a pear") == "apple pear"
    # prediction tokens: cat sat on mat (4); truth: cat sat (2); overlap 2 -> P=0.5, R=1, F1=2/3
    assert squad_f1("the cat sat on the mat", "a cat sat") == pytest.approx(2 / 3)
    # no overlap
    assert squad_f1("dog", "cat") == 0.0
    # repeated tokens count once each side: pred "a a b"->[b]... normalised "a" is an article
    assert squad_f1("red red blue", "red blue blue") == pytest.approx(2 / 3)
    assert score("f1", "Paris, France", "Paris") == pytest.approx(2 / 3)
    assert score("squad_em", "the Paris.", "paris") == 1.0
    assert score("squad_em", "Paris France", "paris") == 0.0
    # several gold answers as a JSON list: the best one counts
    assert score("f1", "William Shakespeare", '["Shakespeare", "William Shakespeare"]') == 1.0


def test_exact_match_contains_regex_and_json() -> None:
    assert score("exact_match", " 4\n", "4") == 1.0
    assert score("exact_match", "four", "4") == 0.0
    assert score("contains", "The answer is Paris.", "paris") == 1.0
    assert score("contains", "The answer is Paris.", None, value="Lyon") == 0.0
    assert score("contains", "Paris", None, value="paris", case_sensitive=True) == 0.0
    assert score("not_contains", "all fine", None, value="sorry") == 1.0
    assert score("not_contains", "Sorry, I cannot", None, value="sorry") == 0.0
    assert score("regex", "order 1234 shipped", None, pattern=r"\b\d{4}\b") == 1.0
    assert score("regex", "ORDER", None, pattern="order", flags="i") == 1.0
    assert score("regex", "none here", None, pattern=r"\d") == 0.0
    assert score("json_valid", '{"a": 1}', None) == 1.0
    assert score("json_valid", "{a: 1}", None) == 0.0
    with pytest.raises(InvalidInput, match="bad pattern"):
        get_scorer("regex", pattern="(")


def test_json_schema_conformance() -> None:
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name"],
    }
    scorer = get_scorer("json_schema", schema=schema)
    assert scorer('{"name": "Ada", "age": 36}', None, ITEM) == Score(1.0)
    bad = scorer('{"age": "old"}', None, ITEM)
    assert bad.value == 0.0
    assert sorted(bad.details["errors"]) == [
        "'name' is a required property",
        "'old' is not of type 'integer'",
    ]
    assert scorer("not json", None, ITEM).value == 0.0
    with pytest.raises(InvalidInput, match="invalid schema"):
        get_scorer("json_schema", schema={"type": "no-such-type"})


def test_bleu_and_chrf_match_sacrebleu() -> None:
    hyp, ref = "the cat is on the mat", "the cat sat on the mat"
    assert score("bleu", hyp, ref) == pytest.approx(sacrebleu.sentence_bleu(hyp, [ref]).score / 100)
    assert score("chrf", hyp, ref) == pytest.approx(sacrebleu.sentence_chrf(hyp, [ref]).score / 100)
    assert score("bleu", ref, ref) == pytest.approx(1.0)
    assert score("chrf", ref, ref) == pytest.approx(1.0)
    # By hand: n-gram precisions 5/6, 3/5, 1/4 and 0/3 (sacrebleu's "exp" smoothing makes it
    # 1/(2*3)); equal lengths, no brevity penalty: (5/6 * 3/5 * 1/4 * 1/6) ** (1/4).
    assert score("bleu", hyp, ref) == pytest.approx((5 / 6 * 3 / 5 * 1 / 4 * 1 / 6) ** 0.25)
    assert score("bleu", "completely different words", ref) == pytest.approx(0.0, abs=1e-3)


def test_rouge_l_by_hand() -> None:
    assert lcs_length("abcbdab", "bdcaba") == 4  # the textbook example
    # LCS("the cat sat on the mat", "the cat on the mat") = 5; P = 5/6, R = 1 -> F = 10/11
    assert rouge_l("the cat sat on the mat", "the cat on the mat") == pytest.approx(10 / 11)
    assert score("rouge_l", "The cat, on the mat!", "the cat on the mat") == 1.0
    assert rouge_l("", "") == 1.0
    assert rouge_l("x", "y") == 0.0


def test_embedding_similarity_with_an_injected_embedder() -> None:
    vectors = {"a": [1.0, 0.0], "b": [0.6, 0.8], "c": [0.0, 1.0]}
    scorer = get_scorer("embedding_similarity", embed=lambda texts: [vectors[t] for t in texts])
    assert scorer("a", "a", ITEM).value == pytest.approx(1.0)
    assert scorer("a", "b", ITEM).value == pytest.approx(0.6)
    assert scorer("a", "c", ITEM).value == pytest.approx(0.0)


def test_embedding_similarity_default_needs_the_local_models() -> None:
    scorer = get_scorer("embedding_similarity")
    try:
        import podium.local_models.embeddings  # noqa: F401
    except ImportError:
        with pytest.raises(MissingExtra, match=r"podium\[local\]"):
            scorer("a", "b", ITEM)
        return
    same = scorer("The cat sat on the mat.", "The cat sat on the mat.", ITEM).value
    assert same == pytest.approx(1.0, abs=1e-4)
    assert scorer("The cat sat.", "Stock prices fell sharply.", ITEM).value < 0.5
    assert isinstance(np.float64(same), float)


def test_classification_accuracy_and_confusion_matrix() -> None:
    scorer = get_scorer("classification")
    truth = ["pos", "pos", "neg", "neg", "neu"]
    pred = ["pos", "neg", "neg", "neg", "pos"]
    assert [scorer(p, t, ITEM).value for p, t in zip(pred, truth, strict=True)] == [1, 0, 1, 1, 0]
    agg = scorer.aggregate(pred, truth)  # type: ignore[attr-defined]
    assert agg["accuracy"] == pytest.approx(3 / 5)
    assert agg["confusion"] == {
        "neg": {"neg": 2, "neu": 0, "pos": 0, "(other)": 0},
        "neu": {"neg": 0, "neu": 0, "pos": 1, "(other)": 0},
        "pos": {"neg": 1, "neu": 0, "pos": 1, "(other)": 0},
    }
    # neg: P=2/3 R=1 F=0.8; neu: 0; pos: P=1/2 R=1/2 F=0.5
    assert agg["per_class"]["neg"] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8})
    assert agg["macro_f1"] == pytest.approx((0.8 + 0 + 0.5) / 3)
    assert agg["macro_precision"] == pytest.approx((2 / 3 + 0 + 0.5) / 3)


def test_latency_and_cost_read_the_item() -> None:
    latency = get_scorer("latency")
    assert latency("x", None, ITEM).value == 12.5
    assert latency.higher_is_better is False
    assert score("cost", "x", None) == 0.002


def test_custom_scorers_and_the_registry() -> None:
    assert to_score(True) == Score(1.0)
    assert to_score({"score": 0.25, "why": "x"}) == Score(0.25, {"why": "x"})
    with pytest.raises(InvalidInput, match="return a float or a dict"):
        to_score("high", "mine")

    @register_scorer("always_half_for_test")
    def _half() -> Any:
        return get_scorer("exact_match")

    assert "always_half_for_test" in scorer_names()
    assert {"exact_match", "f1", "bleu", "judge", "injection_resisted"} <= set(scorer_names())
    with pytest.raises(InvalidInput, match="unknown scorer 'nope'; use one of"):
        get_scorer("nope")
    with pytest.raises(InvalidInput, match="scorer 'regex'"):
        get_scorer("regex", patern="x")
