"""``filter``: drop rows by length (characters or words), by repetition and by an expression.

Repetition is the share of word ``ngram``-grams in a row that repeat an earlier one (0 for text
with no repeated phrase, near 1 for "buy now buy now buy now …"), as in the Gopher rules.
``expression`` keeps the rows for which a sandboxed Jinja2 expression over ``input``,
``expected`` and ``metadata`` is true (see ``podium.data.steps.expression``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]

from podium.data.steps.base import Params, RowProgress, StepOutcome, counted, example, report
from podium.data.steps.expression import compile_row_expression

_WORD = re.compile(r"\w+")


def repetition_ratio(text: str, ngram: int = 3) -> float:
    """The share of word ``ngram``-grams in ``text`` that repeat an earlier one."""
    words = _WORD.findall(text.lower())
    grams = [tuple(words[i : i + ngram]) for i in range(len(words) - ngram + 1)]
    if not grams:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


class Filter:
    """The ``filter`` step."""

    name = "filter"

    def __init__(self, given: Mapping[str, Any]) -> None:
        params = Params(self.name, given)
        self.min_chars = params.number("min_chars", 0, low=0, high=1e12, integer=True)
        self.max_chars = params.number("max_chars", 1e12, low=1, high=1e12, integer=True)
        self.min_words = params.number("min_words", 0, low=0, high=1e12, integer=True)
        self.max_words = params.number("max_words", 1e12, low=1, high=1e12, integer=True)
        self.max_repetition = params.number("max_repetition", 1.0, low=0.0, high=1.0)
        self.ngram = params.number("repetition_ngram", 3, low=1, high=32, integer=True)
        # Recorded in the lineage only when given, so older filters keep their exact params.
        expression = params.text("expression", None) if "expression" in given else None
        self.params = params.done()
        self.expression = None if expression is None else compile_row_expression(expression)

    def _why(self, text: str, expected: str | None, metadata: str) -> str | None:
        if not self.min_chars <= len(text) <= self.max_chars:
            return f"length {len(text)} chars"
        words = len(_WORD.findall(text))
        if not self.min_words <= words <= self.max_words:
            return f"{words} words"
        if self.max_repetition < 1.0:
            ratio = repetition_ratio(text, self.ngram)
            if ratio > self.max_repetition:
                return f"repetition {math.floor(ratio * 100) / 100:.2f}"
        if self.expression is not None and not self.expression(text, expected, metadata):
            return "expression false"
        return None

    def apply(self, table: pa.Table, rows: RowProgress | None = None) -> StepOutcome:
        """Keep the rows that pass every bound."""
        keep = []
        examples: list[dict[str, Any]] = []
        reasons: dict[str, int] = {}
        columns = zip(
            table["input"].to_pylist(),
            table["expected"].to_pylist(),
            table["metadata"].to_pylist(),
            strict=True,
        )
        for index, (text, expected, metadata) in counted(columns, rows):
            why = self._why(text, expected, metadata)
            if why is None:
                keep.append(index)
                continue
            kind = why.split(" ")[0] if not why[0].isdigit() else "words"
            reasons[kind] = reasons.get(kind, 0) + 1
            if len(examples) < 5:
                examples.append(example(table, index, reason=why))
        result = table.take(pa.array(keep, pa.int64()))
        return StepOutcome(
            result,
            report(self.name, self.params, table, result, examples=examples, details=reasons),
        )
