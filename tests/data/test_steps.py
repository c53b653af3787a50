"""The quality pipeline's steps on in-memory tables (no database)."""

from __future__ import annotations

import json
import random
import re

import numpy as np
import pyarrow as pa
import pytest

from podium.data.pipeline import parse_pipeline, run_pipeline
from podium.data.steps.filters import repetition_ratio
from podium.data.steps.minhash import near_duplicates, optimal_bands
from podium.data.steps.normalise import normalise_text
from podium.errors import InvalidInput


def _table(inputs: list[str], metadata: list[dict[str, object]] | None = None) -> pa.Table:
    metadata = metadata or [{} for _ in inputs]
    return pa.table(
        {
            "input": pa.array(inputs, pa.string()),
            "expected": pa.array([None] * len(inputs), pa.string()),
            "metadata": pa.array([json.dumps(m) for m in metadata], pa.string()),
        }
    )


def _run(table: pa.Table, *spec: dict[str, object]) -> tuple[pa.Table, list]:
    return run_pipeline(table, parse_pipeline(list(spec)))


def test_normalise_nfc_control_characters_and_whitespace() -> None:
    assert (
        normalise_text("Cafe\u0301 \t  au\x00 lait \r\nnext\u200b  line ")
        == "Café au lait\nnext line"
    )
    assert normalise_text("a \n b", collapse="all") == "a b"
    table, (report,) = _run(_table(["ok", "  padded  ", "e\u0301"]), {"name": "normalise"})
    assert table["input"].to_pylist() == ["ok", "padded", "é"]
    assert (report.changed, report.removed) == (2, 0)
    assert [e["row"] for e in report.examples] == [1, 2]


def test_exact_dedup_ignores_case_and_spacing_and_keeps_the_first() -> None:
    table, (report,) = _run(
        _table(["Hello  World", "hello world", "other", "HELLO WORLD "]), {"name": "exact_dedup"}
    )
    assert table["input"].to_pylist() == ["Hello  World", "other"]
    assert report.removed == 2
    assert [(e["row"], e["duplicate_of"]) for e in report.examples] == [(1, 0), (3, 0)]


def test_filter_by_length_and_repetition() -> None:
    assert repetition_ratio("buy now buy now buy now buy now") == pytest.approx(4 / 6)
    assert repetition_ratio("the quick brown fox jumps") == 0.0
    rows = ["short", "a perfectly normal sentence here", "buy now buy now buy now buy now"]
    table, (report,) = _run(
        _table(rows), {"name": "filter", "params": {"min_chars": 10, "max_repetition": 0.3}}
    )
    assert table["input"].to_pylist() == ["a perfectly normal sentence here"]
    assert report.removed == 2
    assert report.details == {"length": 1, "repetition": 1}


def test_split_is_deterministic_exact_and_stratified() -> None:
    inputs = [f"row {i}" for i in range(100)]
    metadata: list[dict[str, object]] = [{"lang": "en" if i < 60 else "fr"} for i in range(100)]
    spec = {
        "name": "split",
        "params": {"train": 0.5, "validation": 0.25, "test": 0.25, "stratify": "lang", "seed": 3},
    }
    table, (report,) = _run(_table(inputs, metadata), spec)
    splits = [json.loads(m) for m in table["metadata"].to_pylist()]
    assert report.details == {"train": 50, "validation": 25, "test": 25}
    en = [m["split"] for m in splits if m["lang"] == "en"]
    assert (en.count("train"), en.count("validation"), en.count("test")) == (30, 15, 15)
    # The same rows in another order land in the same splits.
    shuffled = list(range(100))
    random.Random(1).shuffle(shuffled)
    again, _ = _run(_table([inputs[i] for i in shuffled], [metadata[i] for i in shuffled]), spec)
    placed = dict(
        zip(
            again["input"].to_pylist(),
            [json.loads(m)["split"] for m in again["metadata"].to_pylist()],
            strict=True,
        )
    )
    assert all(placed[f"row {i}"] == splits[i]["split"] for i in range(100))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([], "the pipeline has no steps"),
        ([{"name": "dedupe"}], "unknown step 'dedupe'; the steps are exact_dedup, filter"),
        ([{"name": "near_dedup", "params": {"threshold": 2}}], "parameter 'threshold' must be"),
        ([{"name": "near_dedup", "params": {"treshold": 0.5}}], "has no parameter 'treshold'"),
        ([{"name": "split", "params": {"train": 0.9}}], "must add up to 1"),
        ([{"name": "near_dedup", "params": {"bands": 20, "rows": 10}}], "times rows must"),
    ],
)
def test_bad_pipelines_are_invalid_input(spec: list[dict[str, object]], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_pipeline(spec)


def planted_corpus(docs: int, every: int, seed: int = 0) -> tuple[list[str], list[tuple[int, int]]]:
    """Random documents plus, for every ``every``-th one, a copy with two words replaced."""
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(5000)]
    texts = [" ".join(rng.choices(vocabulary, k=rng.randint(80, 120))) for _ in range(docs)]
    planted = []
    for original in range(0, docs, every):
        words = texts[original].split()
        for _ in range(2):
            words[rng.randrange(len(words))] = rng.choice(vocabulary)
        planted.append((original, len(texts)))
        texts.append(" ".join(words))
    return texts, planted


def test_near_dedup_finds_planted_duplicates() -> None:
    """Documented threshold 0.7 (word 3-grams, 128 permutations, 16 bands x 8): recall >= 0.95."""
    texts, planted = planted_corpus(3000, 10)
    representative = near_duplicates(pa.array(texts), ngram=3, num_perm=128, threshold=0.7)
    found = sum(int(representative[copy]) == original for original, copy in planted)
    removed = set(np.flatnonzero(representative != np.arange(len(texts))).tolist())
    planted_copies = {copy for _, copy in planted}
    recall = found / len(planted)
    precision = len(removed & planted_copies) / len(removed)
    assert recall >= 0.95
    assert precision >= 0.99


def test_near_dedup_step_keeps_one_per_cluster_and_ignores_empty_rows() -> None:
    base = "the quick brown fox jumps over the lazy dog near the river bank today"
    rows = [base, base + " again", "", "", "completely different text about something else"]
    table, (report,) = _run(_table(rows), {"name": "near_dedup", "params": {"threshold": 0.6}})
    assert table["input"].to_pylist() == [base, "", "", rows[4]]
    assert report.removed == 1
    assert report.examples[0]["duplicate_of"] == 0
    assert report.params == {
        "ngram": 3,
        "num_perm": 128,
        "threshold": 0.6,
        "seed": 1,
        "false_negative_weight": 0.7,
    }


def test_optimal_bands_match_datasketch_choice() -> None:
    # datasketch's MinHashLSH(threshold=0.7, num_perm=128) picks b=14, r=9 the same way.
    assert optimal_bands(0.7, 128) == (14, 9)
    # The step's default weighs missed pairs more: verified candidates are cheap.
    assert optimal_bands(0.7, 128, 0.7) == (16, 8)


PII_TEXT = (
    "mail ada@example.com or +44 20 7946 0958, card 4111 1111 1111 1111, "
    "iban GB82 WEST 1234 5698 7654 32, ssn 123-45-6789, ip 10.0.0.1 and 2001:db8::1, "
    "db https://bob:secret@db.example.com/x"
)


def test_pii_finds_every_kind_and_reports_where() -> None:
    table, (report,) = _run(
        _table([PII_TEXT, "nothing here, card 4111 1111 1111 1112 fails Luhn"]), {"name": "pii"}
    )
    assert table["input"].to_pylist() == [
        "mail <EMAIL> or <PHONE>, card <CREDIT_CARD>, iban <IBAN>, ssn <NATIONAL_ID>, "
        "ip <IP> and <IP>, db <URL_CREDENTIALS>/x",
        "nothing here, card 4111 1111 1111 1112 fails Luhn",
    ]
    assert report.changed == 1
    assert report.details["found"] == {
        "url_credentials": 1,
        "email": 1,
        "credit_card": 1,
        "iban": 1,
        "national_id": 1,
        "ip": 2,
        "phone": 1,
    }
    first = report.details["findings"][0]
    assert first == {"row": 0, "column": "input", "kind": "email", "start": 5, "end": 20}
    assert PII_TEXT[first["start"] : first["end"]] == "ada@example.com"


def test_pii_mask_and_hash_modes_and_kind_selection() -> None:
    text = "write to ada@example.com from 10.0.0.1"
    spec = {"name": "pii", "params": {"mode": "mask", "kinds": ["email"]}}
    masked, _ = _run(_table([text]), spec)
    assert masked["input"].to_pylist() == ["write to *************** from 10.0.0.1"]
    hashed, _ = _run(_table([text, "ada@example.com"]), {"name": "pii", "params": {"mode": "hash"}})
    first, second = hashed["input"].to_pylist()
    assert re.fullmatch(r"write to <EMAIL:[0-9a-f]{10}> from <IP:[0-9a-f]{10}>", first)
    # Equal values hash alike, so redacted rows stay joinable.
    assert first.split(" ")[2] == second
