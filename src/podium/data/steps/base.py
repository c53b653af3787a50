"""The step contract, its report, and parameter checking shared by every step."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import pyarrow as pa  # type: ignore[import-untyped]

from podium.errors import InvalidInput

MAX_EXAMPLES = 5
ROW_TICK = 1000  # rows between two progress reports of a row-by-row step

T = TypeVar("T")
RowProgress = Callable[[int], None]
"""Told how many rows a step has done so far (for a job's progress)."""


@dataclass(frozen=True)
class StepReport:
    """What one step did: rows in and out, rows removed or changed, and examples of each."""

    name: str
    params: dict[str, Any]
    rows_in: int
    rows_out: int
    removed: int
    changed: int
    examples: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepOutcome:
    """A step's resulting table and its report."""

    table: pa.Table
    report: StepReport


class PipelineStep(Protocol):
    """One named, parametrised transformation of a dataset's rows."""

    name: str
    params: dict[str, Any]

    def apply(self, table: pa.Table) -> StepOutcome:
        """Return the transformed table with a report of what changed.

        A step may also take ``rows: RowProgress | None = None`` and call it now and then with
        the rows it has done, for a job's progress (``counted`` does that for a loop).
        """
        ...


StepFactory = Callable[[Mapping[str, Any]], PipelineStep]


class Params:
    """Reads a step's parameters, raising ``InvalidInput`` that names the step and parameter."""

    def __init__(self, step: str, given: Mapping[str, Any]) -> None:
        self.step = step
        self.given = dict(given)
        self.used: dict[str, Any] = {}

    def fail(self, key: str, why: str) -> InvalidInput:
        """The error for parameter ``key``, saying ``why``."""
        return InvalidInput(f"step {self.step!r}: parameter {key!r} {why}", field=f"steps.{key}")

    def number(
        self, key: str, default: float, *, low: float, high: float, integer: bool = False
    ) -> Any:
        """A number in [low, high] (an int when ``integer``)."""
        value = self.given.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"must be a number, not {value!r}")
        if integer and value != int(value):
            raise self.fail(key, f"must be a whole number, not {value!r}")
        if not low <= value <= high:
            raise self.fail(key, f"must be between {low:g} and {high:g}, not {value!r}")
        value = int(value) if integer else float(value)
        self.used[key] = value
        return value

    def choice(self, key: str, default: str, options: tuple[str, ...]) -> str:
        """One of ``options``."""
        value = self.given.get(key, default)
        if value not in options:
            raise self.fail(key, f"must be one of {', '.join(options)}, not {value!r}")
        self.used[key] = value
        return str(value)

    def text(self, key: str, default: str | None) -> str | None:
        """A string or None."""
        value = self.given.get(key, default)
        if value is not None and not isinstance(value, str):
            raise self.fail(key, f"must be a string, not {value!r}")
        self.used[key] = value
        return value

    def flag(self, key: str, default: bool) -> bool:
        """A boolean."""
        value = self.given.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, not {value!r}")
        self.used[key] = value
        return value

    def strings(self, key: str, default: tuple[str, ...], options: tuple[str, ...]) -> list[str]:
        """A list of strings from ``options``."""
        value = self.given.get(key, list(default))
        if not isinstance(value, list) or any(v not in options for v in value):
            raise self.fail(key, f"must be a list drawn from {', '.join(options)}")
        self.used[key] = list(value)
        return list(value)

    def done(self) -> dict[str, Any]:
        """The checked parameters; ``InvalidInput`` for any the step does not know."""
        unknown = sorted(set(self.given) - set(self.used))
        if unknown:
            raise InvalidInput(
                f"step {self.step!r} has no parameter {unknown[0]!r}; it takes "
                f"{', '.join(sorted(self.used)) or 'none'}",
                field=f"steps.{unknown[0]}",
            )
        return dict(self.used)


def counted(values: Iterable[T], rows: RowProgress | None) -> Iterator[tuple[int, T]]:
    """``enumerate(values)``, telling ``rows`` the count done every ``ROW_TICK`` rows."""
    for index, value in enumerate(values):
        if rows is not None and index and index % ROW_TICK == 0:
            rows(index)
        yield index, value


def column_share(
    rows: RowProgress | None, position: int, columns: int, total: int
) -> RowProgress | None:
    """For a step that scans ``columns`` columns in turn: the progress of column ``position``
    as rows done overall (a row is done once every column is)."""
    if rows is None:
        return None
    return lambda done: rows((position * total + done) // columns)


def example(table: pa.Table, index: int, **extra: Any) -> dict[str, Any]:
    """A short example of row ``index`` for a report."""
    text = table["input"][index].as_py()
    return {"row": index, "input": text[:200], **extra}


def report(
    name: str,
    params: dict[str, Any],
    before: pa.Table,
    after: pa.Table,
    *,
    changed: int = 0,
    examples: list[dict[str, Any]] | None = None,
    details: dict[str, Any] | None = None,
) -> StepReport:
    """A report comparing row counts before and after."""
    return StepReport(
        name=name,
        params=params,
        rows_in=before.num_rows,
        rows_out=after.num_rows,
        removed=before.num_rows - after.num_rows,
        changed=changed,
        examples=(examples or [])[:MAX_EXAMPLES],
        details=details or {},
    )
