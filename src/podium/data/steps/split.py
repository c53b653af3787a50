"""``split``: a deterministic train/validation/test split written to ``metadata.split``.

Each row's place is decided by a hash of its content and the ``seed``, so the same row lands in
the same split every time, whatever the order of the rows. With ``stratify`` (a metadata key),
each group (value of that key) is split in the given proportions on its own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]

from podium.data.formats import canonical_json
from podium.data.steps.base import Params, RowProgress, StepOutcome, report
from podium.errors import InvalidInput

SPLITS = ("train", "validation", "test")


class Split:
    """The ``split`` step."""

    name = "split"

    def __init__(self, given: Mapping[str, Any]) -> None:
        params = Params(self.name, given)
        self.train = params.number("train", 0.8, low=0.0, high=1.0)
        self.validation = params.number("validation", 0.1, low=0.0, high=1.0)
        self.test = params.number("test", 0.1, low=0.0, high=1.0)
        self.seed = params.number("seed", 0, low=0, high=2**31, integer=True)
        self.stratify = params.text("stratify", None)
        self.params = params.done()
        if abs(self.train + self.validation + self.test - 1.0) > 1e-9:
            raise InvalidInput(
                "step 'split': train + validation + test must add up to 1 (e.g. 0.8, 0.1, 0.1)",
                field="steps.train",
            )

    def _rank(self, text: str) -> bytes:
        return hashlib.blake2b(f"{self.seed}\x00{text}".encode(), digest_size=8).digest()

    def apply(self, table: pa.Table, rows: RowProgress | None = None) -> StepOutcome:
        """Set ``metadata.split`` on every row."""
        inputs = table["input"].to_pylist()
        expected = table["expected"].to_pylist()
        metadata = [json.loads(m) for m in table["metadata"].to_pylist()]
        groups: dict[str, list[int]] = {}
        for index, meta in enumerate(metadata):
            key = "" if self.stratify is None else canonical_json(meta.get(self.stratify))
            groups.setdefault(key, []).append(index)
        counts = dict.fromkeys(SPLITS, 0)
        for members in groups.values():
            # Order by content hash, then cut at the proportions: exact sizes per group.
            members.sort(key=lambda i: self._rank(f"{inputs[i]}\x00{expected[i]}"))
            cut_train = round(len(members) * self.train)
            cut_validation = cut_train + round(len(members) * self.validation)
            for position, index in enumerate(members):
                name = (
                    "train"
                    if position < cut_train
                    else "validation"
                    if position < cut_validation
                    else "test"
                )
                metadata[index]["split"] = name
                counts[name] += 1
        column = pa.array([canonical_json(m) for m in metadata], pa.string())
        result = table.set_column(2, "metadata", column)
        return StepOutcome(
            result,
            report(self.name, self.params, table, result, changed=table.num_rows, details=counts),
        )
