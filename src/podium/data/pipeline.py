"""The quality pipeline: a list of named steps with parameters, run over one version's rows.

``parse_pipeline(spec)`` checks a spec (``[{"name": "near_dedup", "params": {...}}, …]``, the
shape of ``pipeline.yaml``'s ``steps``) and builds the steps, so a bad step name or parameter
fails before any work. ``run_pipeline(table, steps)`` applies them in order and returns the
final table with one report per step. Built-in steps register in ``STEPS``; a plugin adds its
own factory to the same mapping.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, cast

import pyarrow as pa  # type: ignore[import-untyped]

from podium.data.steps.base import (
    PipelineStep,
    RowProgress,
    StepFactory,
    StepOutcome,
    StepReport,
)
from podium.data.steps.dedup import ExactDedup
from podium.data.steps.filters import Filter
from podium.data.steps.language import LanguageFilter
from podium.data.steps.minhash import NearDedup
from podium.data.steps.normalise import Normalise
from podium.data.steps.pii import Pii
from podium.data.steps.split import Split
from podium.errors import InvalidInput

STEPS: dict[str, StepFactory] = {
    "normalise": Normalise,
    "exact_dedup": ExactDedup,
    "near_dedup": NearDedup,
    "filter": Filter,
    "language": LanguageFilter,
    "split": Split,
    "pii": Pii,
}
MAX_STEPS = 50


class PipelineProgress(Protocol):
    """Told when each step starts (with its rows in), how many rows it has done (row-by-row
    steps), and when it finishes (with its report)."""

    def started(self, index: int, rows_in: int) -> None: ...

    def rows(self, index: int, done: int) -> None: ...

    def finished(self, index: int, report: StepReport) -> None: ...


def parse_pipeline(spec: Sequence[Mapping[str, Any]]) -> list[PipelineStep]:
    """The steps of ``spec``; ``InvalidInput`` naming the first bad step or parameter."""
    if not spec:
        raise InvalidInput(
            "the pipeline has no steps; give at least one, e.g. "
            '[{"name": "normalise"}, {"name": "near_dedup", "params": {"threshold": 0.8}}]',
            field="steps",
        )
    if len(spec) > MAX_STEPS:
        raise InvalidInput(f"a pipeline has at most {MAX_STEPS} steps", field="steps")
    steps = []
    for entry in spec:
        name = entry.get("name")
        if name not in STEPS:
            raise InvalidInput(
                f"unknown step {name!r}; the steps are {', '.join(sorted(STEPS))}",
                field="steps.name",
            )
        params = entry.get("params") or {}
        if not isinstance(params, Mapping):
            raise InvalidInput(f"step {name!r}: params must be an object", field="steps.params")
        steps.append(STEPS[name](params))
    return steps


def run_pipeline(
    table: pa.Table,
    steps: Sequence[PipelineStep],
    progress: PipelineProgress | None = None,
) -> tuple[pa.Table, list[StepReport]]:
    """Apply ``steps`` in order; the final table and each step's report.

    ``progress`` (when given) hears when each step starts, its rows done (for steps whose
    ``apply`` takes ``rows``), and when it finishes.
    """
    reports = []
    for index, step in enumerate(steps):
        if progress is not None:
            progress.started(index, table.num_rows)
        if progress is not None and _takes_rows(step):
            with_rows = cast(Callable[[pa.Table, RowProgress], StepOutcome], step.apply)
            outcome = with_rows(table, _rows_of(progress, index))
        else:
            outcome = step.apply(table)
        table = outcome.table
        reports.append(outcome.report)
        if progress is not None:
            progress.finished(index, outcome.report)
    return table, reports


def _rows_of(progress: PipelineProgress, index: int) -> Callable[[int], None]:
    return lambda done: progress.rows(index, done)


def _takes_rows(step: PipelineStep) -> bool:
    # Steps written before row progress existed take only the table; they still run.
    try:
        return "rows" in inspect.signature(step.apply).parameters
    except (TypeError, ValueError):
        return False
