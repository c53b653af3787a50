"""``normalise``: Unicode NFC, control characters removed, whitespace collapsed.

Applied to ``input`` and ``expected``. Newlines and tabs are kept unless ``collapse`` is
``all`` (then every whitespace run becomes one space); other control characters go.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any, Literal

import pyarrow as pa  # type: ignore[import-untyped]

from podium.data.steps.base import (
    Params,
    RowProgress,
    StepOutcome,
    column_share,
    counted,
    example,
    report,
)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b\ufeff]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u3000]+")
_ALL_SPACE = re.compile(r"\s+")


def normalise_text(
    text: str, *, form: Literal["NFC", "NFKC"] = "NFC", collapse: str = "spaces"
) -> str:
    """``text`` in Unicode ``form``, without control characters, whitespace collapsed."""
    text = unicodedata.normalize(form, text)
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    if collapse == "all":
        return _ALL_SPACE.sub(" ", text).strip()
    lines = (_SPACES.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(lines).strip()


class Normalise:
    """The ``normalise`` step."""

    name = "normalise"

    def __init__(self, given: Mapping[str, Any]) -> None:
        params = Params(self.name, given)
        self.form: Literal["NFC", "NFKC"] = (
            "NFKC" if params.choice("form", "NFC", ("NFC", "NFKC")) == "NFKC" else "NFC"
        )
        self.collapse = params.choice("collapse", "spaces", ("spaces", "all"))
        self.params = params.done()

    def apply(self, table: pa.Table, rows: RowProgress | None = None) -> StepOutcome:
        """Normalise every row's input and expected."""
        changed = 0
        examples: list[dict[str, Any]] = []
        columns = {}
        for position, column in enumerate(("input", "expected")):
            values = table[column].to_pylist()
            out: list[str | None] = []
            share = column_share(rows, position, 2, table.num_rows)
            for index, value in counted(values, share):
                if value is None:
                    out.append(None)
                    continue
                clean = normalise_text(value, form=self.form, collapse=self.collapse)
                if clean != value:
                    changed += 1
                    if len(examples) < 5:
                        examples.append(example(table, index, after=clean[:200]))
                out.append(clean)
            columns[column] = pa.array(out, pa.string())
        result = table.set_column(0, "input", columns["input"]).set_column(
            1, "expected", columns["expected"]
        )
        return StepOutcome(
            result,
            report(self.name, self.params, table, result, changed=changed, examples=examples),
        )
