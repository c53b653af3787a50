"""LLM-as-judge: a rubric graded by a model behind any OpenAI-compatible endpoint.

``JudgeScorer`` (registered as ``judge``) asks the judge model for a score on a 1..N scale and
normalises it to 0..1. ``judge_pairwise`` compares two outputs and asks twice, with the
positions swapped; a winner counts only when both orders agree (position bias is the judge
failure seen most often), otherwise the verdict is a tie.

Judge calls are cached by the sha256 of the request (URL, model, messages, parameters): the
runner plugs in ``RestJudgeCache``, which stores answers in the server's database, so re-running
a suite, or another suite asking the same question, does not pay for the judge again.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx

from podium.errors import InvalidInput, NotFound
from podium.evals._openai import chat_completion
from podium.evals.scorers import Score, register_scorer

GRADE_SYSTEM = (
    "You are a strict, fair grader. Grade the RESPONSE against the RUBRIC on a scale from "
    "{low} (worst) to {high} (best). Reply with JSON only: "
    '{{"score": <integer {low}-{high}>, "reason": "<one sentence>"}}'
)
GRADE_USER = (
    "QUESTION:\n{input}\n\nREFERENCE ANSWER:\n{expected}\n\nRESPONSE:\n{output}\n\n"
    "RUBRIC:\n{rubric}"
)
PAIR_SYSTEM = (
    "You compare two responses to the same question against the RUBRIC. Reply with JSON only: "
    '{"winner": 1 or 2 (or 0 for a tie), "reason": "<one sentence>"}'
)
PAIR_USER = (
    "QUESTION:\n{input}\n\nRUBRIC:\n{rubric}\n\nRESPONSE 1:\n{first}\n\nRESPONSE 2:\n{second}"
)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


class JudgeCache(Protocol):
    """Where judge answers are kept, by request hash."""

    def get(self, key: str) -> str | None:
        """The cached answer, or None."""
        ...

    def put(self, key: str, answer: str) -> None:
        """Keep ``answer`` for ``key``."""
        ...


@dataclass
class MemoryJudgeCache:
    """A per-process cache (the default when no server is involved)."""

    answers: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: str) -> str | None:
        with self._lock:
            return self.answers.get(key)

    def put(self, key: str, answer: str) -> None:
        with self._lock:
            self.answers[key] = answer


@dataclass
class RestJudgeCache:
    """The judge cache kept in the server's database, through ``/api/v1/evals/judge-cache``."""

    client: Any  # podium.client.Client
    project: str = "default"

    def get(self, key: str) -> str | None:
        try:
            found = self.client.get(f"/evals/judge-cache/{key}", project=self.project)
        except NotFound:
            return None
        return str(found["answer"])

    def put(self, key: str, answer: str) -> None:
        self.client.request(
            "PUT",
            f"/evals/judge-cache/{key}",
            params={"project": self.project},
            json={"answer": answer},
        )


def request_hash(
    url: str, model: str, messages: list[dict[str, Any]], params: dict[str, Any]
) -> str:
    """The cache key of one judge request: sha256 of its canonical JSON."""
    canonical = json.dumps(
        {"url": url.rstrip("/"), "model": model, "messages": messages, "params": params},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class Judge:
    """A judge model at an OpenAI-compatible ``url`` with a cache in front of it."""

    url: str
    model: str
    api_key: str | None = None
    timeout: float = 60.0
    cache: JudgeCache | None = None
    http: httpx.Client = field(default_factory=httpx.Client)
    params: dict[str, Any] = field(default_factory=lambda: {"temperature": 0})
    calls: int = 0  # requests that reached the model (not served by the cache)

    def close(self) -> None:
        """Release the judge's connections."""
        self.http.close()

    def ask(self, system: str, user: str) -> str:
        """The judge's answer to one question, from the cache when it was asked before."""
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        key = request_hash(self.url, self.model, messages, self.params)
        if self.cache is not None:
            cached = self.cache.get(key)
            if cached is not None:
                return cached
        answer = chat_completion(
            self.http,
            self.url,
            self.model,
            messages,
            params=self.params,
            api_key=self.api_key,
            timeout=self.timeout,
        ).text
        self.calls += 1
        if self.cache is not None:
            self.cache.put(key, answer)
        return answer


def parse_field(answer: str, key: str) -> float | None:
    """The number under ``key`` in a JSON answer, else the first number in the text."""
    start, end = answer.find("{"), answer.rfind("}")
    if 0 <= start < end:
        try:
            value = json.loads(answer[start : end + 1]).get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                return float(value)
        except (ValueError, AttributeError):
            pass
    match = _NUMBER.search(answer)
    return float(match.group()) if match else None


@dataclass
class JudgeScorer:
    """Rubric grading by a judge model, normalised from ``low..high`` to 0..1."""

    judge: Judge
    rubric: str
    low: int = 1
    high: int = 5
    name: str = "judge"
    higher_is_better: bool = True

    def __call__(self, output: str, expected: str | None, item: dict[str, Any]) -> Score:
        system = GRADE_SYSTEM.format(low=self.low, high=self.high)
        user = GRADE_USER.format(
            input=item.get("input", ""),
            expected=expected or "(none)",
            output=output,
            rubric=self.rubric,
        )
        answer = self.judge.ask(system, user)
        raw = parse_field(answer, "score")
        if raw is None:
            return Score(0.0, {"error": "the judge gave no score", "answer": answer[:500]})
        value = min(max((raw - self.low) / (self.high - self.low), 0.0), 1.0)
        return Score(value, {"raw": raw, "answer": answer[:500]})


@register_scorer("judge")
def judge(
    url: str,
    model: str,
    rubric: str,
    low: int = 1,
    high: int = 5,
    api_key: str | None = None,
    timeout: float = 60.0,
    max_tokens: int | None = None,
) -> JudgeScorer:
    """An LLM-as-judge scorer grading against ``rubric`` with the model at ``url``
    (``max_tokens`` bounds the judge's reply: a grade needs few tokens)."""
    if high <= low:
        raise InvalidInput("judge scorer: 'high' must be greater than 'low'", field="scorers")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not 1 <= max_tokens <= 4096):
        raise InvalidInput("judge scorer: 'max_tokens' must be 1..4096", field="scorers")
    made = Judge(url, model, api_key, timeout)
    if max_tokens is not None:
        made.params = {**made.params, "max_tokens": max_tokens}
    return JudgeScorer(made, rubric, low, high)


@dataclass(frozen=True)
class PairwiseVerdict:
    """The pairwise outcome: ``a``, ``b`` or ``tie`` (the two orders disagreed or said tie)."""

    winner: Literal["a", "b", "tie"]
    a_first: str  # winner when a was shown first
    b_first: str  # winner when b was shown first


def _pick(answer: str) -> str:
    value = parse_field(answer, "winner")
    return {1.0: "1", 2.0: "2"}.get(value if value is not None else 0.0, "0")


def judge_pairwise(judge: Judge, question: str, a: str, b: str, rubric: str) -> PairwiseVerdict:
    """Compare outputs ``a`` and ``b`` in both orders; a winner needs both orders to agree."""
    first = _pick(
        judge.ask(PAIR_SYSTEM, PAIR_USER.format(input=question, rubric=rubric, first=a, second=b))
    )
    second = _pick(
        judge.ask(PAIR_SYSTEM, PAIR_USER.format(input=question, rubric=rubric, first=b, second=a))
    )
    a_first = {"1": "a", "2": "b"}.get(first, "tie")
    b_first = {"1": "b", "2": "a"}.get(second, "tie")
    winner: Literal["a", "b", "tie"] = "tie"
    if a_first == b_first == "a":
        winner = "a"
    elif a_first == b_first == "b":
        winner = "b"
    return PairwiseVerdict(winner, a_first, b_first)
