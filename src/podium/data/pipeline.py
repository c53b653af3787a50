"""The quality pipeline: a list of named steps with parameters, run over one version's rows.

``parse_pipeline(spec)`` checks a spec (``[{"name": "near_dedup", "params": {...}}, …]``, the
shape of ``pipeline.yaml``'s ``steps``) and builds the steps, so a bad step name or parameter
fails before any work. ``run_pipeline(table, steps)`` applies them in order and returns the
final table with one report per step. Built-in steps register in ``STEPS``; a plugin adds its
own factory to the same mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pyarrow as pa  # type: ignore[import-untyped]

from podium.data.steps.base import PipelineStep, StepFactory, StepReport
from podium.data.steps.dedup import ExactDedup
from podium.data.steps.filters import Filter
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
    "split": Split,
    "pii": Pii,
}
MAX_STEPS = 50


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
    progress: Callable[[int, str], None] | None = None,
) -> tuple[pa.Table, list[StepReport]]:
    """Apply ``steps`` in order; the final table and each step's report."""
    reports = []
    for index, step in enumerate(steps):
        if progress is not None:
            progress(index, step.name)
        outcome = step.apply(table)
        table = outcome.table
        reports.append(outcome.report)
    return table, reports
