"""``exact_dedup``: drop rows whose normalised ``input`` (and optionally ``expected``) was seen.

The key is a hash of the text after NFKC, case folding and whitespace collapsing, so rows that
differ only in spacing or case count as duplicates. The first occurrence is kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]

from podium.data.steps.base import Params, RowProgress, StepOutcome, example, report
from podium.data.steps.normalise import normalise_text


def dedup_key(text: str) -> bytes:
    """The exact-dedup key of ``text``."""
    folded = normalise_text(text, form="NFKC", collapse="all").casefold()
    return hashlib.blake2b(folded.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class ExactDedup:
    """The ``exact_dedup`` step."""

    name = "exact_dedup"

    def __init__(self, given: Mapping[str, Any]) -> None:
        params = Params(self.name, given)
        self.fields = params.choice("on", "input", ("input", "input+expected"))
        self.params = params.done()

    def apply(self, table: pa.Table, rows: RowProgress | None = None) -> StepOutcome:
        """Keep the first row of every key."""
        inputs = table["input"].to_pylist()
        expected = table["expected"].to_pylist()
        seen: dict[bytes, int] = {}
        keep = []
        examples: list[dict[str, Any]] = []
        for index, text in enumerate(inputs):
            if self.fields == "input+expected":
                text = f"{text}\x00{expected[index] or ''}"
            key = dedup_key(text)
            if key in seen:
                if len(examples) < 5:
                    examples.append(example(table, index, duplicate_of=seen[key]))
                continue
            seen[key] = index
            keep.append(index)
        result = table.take(pa.array(keep, pa.int64()))
        return StepOutcome(result, report(self.name, self.params, table, result, examples=examples))
