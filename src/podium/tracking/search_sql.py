"""The run search query: ``podium.tracking.filters`` conditions and sort terms turned into SQL.

Every condition on a metric, param or tag is an ``EXISTS`` subquery against ``latest_metrics``,
``run_params`` or ``run_tags`` correlated with the run; sort keys are scalar subqueries, with
``NULLS LAST`` so runs missing a key come last in either direction. Results are identical on
SQLite and PostgreSQL: LIKE is made case-sensitive on SQLite (as ``GLOB``), and text sorts by
byte order on PostgreSQL (``COLLATE "C"``, as SQLite's BINARY collation does).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import ColumnElement, Connection, collate, exists, select

from podium.tracking.filters import Condition, Field, FieldKind, OrderTerm
from podium.tracking.models import Run
from podium.tracking.sql import (
    experiments,
    latest_metrics,
    run_params,
    run_select,
    run_tags,
    runs,
    with_details,
)


def search_runs(
    conn: Connection,
    *,
    project_id: int,
    experiment_ids: Sequence[int] | None,
    conditions: Sequence[Condition],
    order: Sequence[OrderTerm],
    offset: int,
    limit: int,
) -> list[Run]:
    """Runs of the project (and experiments) matching every condition, sorted and paged.

    Missing keys sort last in either direction; ties fall back to start_time DESC, then id.
    """
    query = run_select().where(experiments.c.project_id == project_id)
    if experiment_ids is not None:
        query = query.where(runs.c.experiment_id.in_(list(experiment_ids)))
    for condition in conditions:
        query = query.where(_condition(conn, condition))
    sort = []
    for term in order:
        expr = _sort_value(conn, term.field)
        sort.append((expr.desc() if term.descending else expr.asc()).nulls_last())
    query = query.order_by(*sort, runs.c.start_time.desc(), runs.c.id)
    rows = list(conn.execute(query.offset(offset).limit(limit)))
    return with_details(conn, rows)


_ATTRIBUTE_COLUMNS = {
    "id": runs.c.id,
    "name": runs.c.name,
    "status": runs.c.status,
    "user": runs.c.user,
    "git_commit": runs.c.git_commit,
    "parent_run_id": runs.c.parent_run_id,
    "start_time": runs.c.start_time,
    "end_time": runs.c.end_time,
}
_KEYED = {FieldKind.PARAM: run_params, FieldKind.TAG: run_tags, FieldKind.METRIC: latest_metrics}


def _condition(conn: Connection, condition: Condition) -> ColumnElement[bool]:
    field, op, value = condition.field, condition.op, condition.value
    if field.kind is FieldKind.ATTRIBUTE:
        column = _ATTRIBUTE_COLUMNS[field.key]
        if op == "IS NULL":
            return column.is_(None)
        if op == "IS NOT NULL":
            return column.is_not(None)
        return _compare(conn, column, op, value)
    table = _KEYED[field.kind]
    has_key = exists().where(table.c.run_id == runs.c.id, table.c.key == field.key)
    if op == "IS NULL":
        return ~has_key
    if op == "IS NOT NULL":
        return has_key
    # Negative operators (!=, NOT LIKE, NOT IN) match runs that have the key with another value.
    return has_key.where(_compare(conn, table.c.value, op, value))


def _compare(conn: Connection, column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "=":
        return cast("ColumnElement[bool]", column == value)
    if op == "!=":
        return cast("ColumnElement[bool]", column != value)
    if op == "<":
        return cast("ColumnElement[bool]", column < value)
    if op == "<=":
        return cast("ColumnElement[bool]", column <= value)
    if op == ">":
        return cast("ColumnElement[bool]", column > value)
    if op == ">=":
        return cast("ColumnElement[bool]", column >= value)
    if op in ("IN", "NOT IN"):
        matched = column.in_(list(value))
        return cast("ColumnElement[bool]", ~matched if op == "NOT IN" else matched)
    negated = op.startswith("NOT ")
    parts = _like_parts(str(value))
    if op.endswith("ILIKE"):
        matched = column.ilike(_like_pattern(parts), escape="\\")
    elif conn.dialect.name == "sqlite":
        # SQLite's LIKE ignores ASCII case; GLOB is case-sensitive like PostgreSQL's LIKE.
        matched = column.op("GLOB", is_comparison=True)(_glob_pattern(parts))
    else:
        matched = column.like(_like_pattern(parts), escape="\\")
    return cast("ColumnElement[bool]", ~matched if negated else matched)


def _like_parts(pattern: str) -> list[str]:
    """Split a LIKE pattern into '%', '_' wildcards and literal characters (backslash escapes)."""
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            parts.append("\\" + pattern[i + 1])
            i += 2
            continue
        parts.append(ch if ch in "%_" else "\\" + ch)
        i += 1
    return parts


def _like_pattern(parts: list[str]) -> str:
    out = []
    for part in parts:
        if part in ("%", "_"):
            out.append(part)
        else:
            ch = part[1]
            out.append("\\" + ch if ch in "%_\\" else ch)
    return "".join(out)


def _glob_pattern(parts: list[str]) -> str:
    out = []
    for part in parts:
        if part == "%":
            out.append("*")
        elif part == "_":
            out.append("?")
        else:
            ch = part[1]
            out.append(f"[{ch}]" if ch in "*?[" else ch)
    return "".join(out)


def _sort_value(conn: Connection, field: Field) -> Any:
    if field.kind is FieldKind.ATTRIBUTE:
        column: Any = _ATTRIBUTE_COLUMNS[field.key]
        is_text = field.key not in ("start_time", "end_time")
    else:
        table = _KEYED[field.kind]
        column = (
            select(table.c.value)
            .where(table.c.run_id == runs.c.id, table.c.key == field.key)
            .scalar_subquery()
        )
        is_text = field.kind is not FieldKind.METRIC
    if is_text and conn.dialect.name == "postgresql":
        # Byte order, as SQLite's BINARY collation sorts, whatever the database's locale.
        return collate(column, "C")
    return column
