"""The LLM judge against the fake OpenAI-compatible server: rubric grading, parsing, caching,
and pairwise judgments with position swapping."""

from __future__ import annotations

import pytest

from podium.evals.judge import (
    Judge,
    MemoryJudgeCache,
    judge_pairwise,
    parse_field,
    request_hash,
)
from podium.evals.scorers import get_scorer
from tests.evals.conftest import FakeOpenAI


def test_grading_normalises_the_scale_and_caches(fake_openai: FakeOpenAI) -> None:
    scorer = get_scorer("judge", url=fake_openai.url, model="judge", rubric="correct?")
    cache = MemoryJudgeCache()
    scorer.judge.cache = cache  # type: ignore[attr-defined]
    item = {"input": "What is the capital of France?"}
    good = scorer("It is Paris.", "Paris", item)
    assert (good.value, good.details["raw"]) == (1.0, 5.0)
    assert scorer("Lyon", "Paris", item).value == 0.0
    assert scorer("It is Paris.", "Paris", item).value == 1.0
    assert scorer.judge.calls == 2  # type: ignore[attr-defined]
    assert len(cache.answers) == 2
    scorer.judge.close()  # type: ignore[attr-defined]


def test_answers_are_parsed_from_json_or_text() -> None:
    assert parse_field('Sure! {"score": 4, "reason": "ok"}', "score") == 4.0
    assert parse_field("Score: 3/5", "score") == 3.0
    assert parse_field("no idea", "score") is None
    a = request_hash("http://x/v1/", "m", [{"role": "user", "content": "hi"}], {})
    assert a == request_hash("http://x/v1", "m", [{"role": "user", "content": "hi"}], {})
    assert a != request_hash("http://x/v1", "m2", [{"role": "user", "content": "hi"}], {})


def test_pairwise_needs_both_orders_to_agree(fake_openai: FakeOpenAI) -> None:
    judge = Judge(fake_openai.url, "judge")
    found = judge_pairwise(judge, "Capital of France?", "Paris", "Lyon", "correct?")
    assert (found.winner, found.a_first, found.b_first) == ("a", "a", "a")
    found = judge_pairwise(judge, "Capital of France?", "Lyon", "Paris", "correct?")
    assert found.winner == "b"
    judge.close()
    # A judge that always picks the first position is caught by the swap: a tie.
    biased = Judge(fake_openai.url, "biased-judge")
    found = judge_pairwise(biased, "Capital of France?", "Paris", "Lyon", "correct?")
    assert (found.winner, found.a_first, found.b_first) == ("tie", "a", "b")
    biased.close()


def test_a_bad_judge_scale_is_refused(fake_openai: FakeOpenAI) -> None:
    from podium.errors import InvalidInput

    with pytest.raises(InvalidInput, match="'high' must be greater"):
        get_scorer("judge", url=fake_openai.url, model="judge", rubric="r", low=5, high=1)
