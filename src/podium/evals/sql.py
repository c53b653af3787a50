"""Tables and queries of the evals part: experiments, per-item results and the judge cache.

Every function takes a ``Connection`` inside the caller's transaction and returns models from
``podium.evals.models``; rows never leave this module. An experiment row shares its id with the
tracking run it extends and goes when the run is deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    and_,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from podium.access.sql import projects
from podium.evals.models import Experiment, ItemResult
from podium.store.clock import from_ms, stored_time
from podium.store.columns import EpochMillis, Json
from podium.store.metadata import metadata

eval_experiments = Table(
    "eval_experiments",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("suite", String(200), nullable=False),
    Column("target", String(200), nullable=False),
    Column("target_hash", String(64), nullable=False),
    Column("dataset", String(200), nullable=False),
    Column("dataset_version", Integer, nullable=False),
    Column("prompt", String(200), nullable=True),
    Column("prompt_version", Integer, nullable=True),
    Column("scorers", Json, nullable=False),
    Column("status", String(16), nullable=False),
    Column("label", String(64), nullable=True),
    Column("created_at", EpochMillis, nullable=False),
    Column("finished_at", EpochMillis, nullable=True),
    Column("metrics", Json, nullable=False),
    Column("summary", Json, nullable=False),
    Index(None, "project_id", "suite", "created_at"),
)

eval_items = Table(
    "eval_items",
    metadata,
    Column(
        "run_id",
        String(32),
        ForeignKey("eval_experiments.run_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("item_key", String(64), nullable=False),
    Column("position", Integer, nullable=False),
    Column("variant", String(64), nullable=False),
    Column("group_name", String(200), nullable=True),
    Column("input", Text, nullable=False),
    Column("expected", Text, nullable=True),
    Column("output", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("latency_ms", Float, nullable=False),
    Column("cost", Float, nullable=False),
    Column("scores", Json, nullable=False),
    Column("details", Json, nullable=False),
    PrimaryKeyConstraint("run_id", "item_key"),
)

eval_judge_cache = Table(
    "eval_judge_cache",
    metadata,
    # Per project: a judge answer quotes the item it graded, so it must not cross projects.
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("answer", Text, nullable=False),
    Column("created_at", EpochMillis, nullable=False),
    PrimaryKeyConstraint("project_id", "request_hash"),
)


def _experiment(row: Any, count: int = 0) -> Experiment:
    return Experiment(
        id=row.run_id,
        project=row.project,
        suite=row.suite,
        target=row.target,
        target_hash=row.target_hash,
        dataset=row.dataset,
        dataset_version=row.dataset_version,
        prompt=row.prompt,
        prompt_version=row.prompt_version,
        scorers=dict(row.scorers),
        status=row.status,
        label=row.label,
        created_at=stored_time(row.created_at),
        finished_at=from_ms(row.finished_at),
        metrics=dict(row.metrics),
        summary=dict(row.summary),
        item_count=count,
    )


def _select_experiments() -> Any:
    count = (
        select(func.count())
        .where(eval_items.c.run_id == eval_experiments.c.run_id)
        .scalar_subquery()
        .label("item_count")
    )
    return select(eval_experiments, projects.c.name.label("project"), count).join(
        projects, projects.c.id == eval_experiments.c.project_id
    )


def insert_experiment(conn: Connection, project_id: int, values: dict[str, Any]) -> None:
    """Add an experiment row (``values`` names the columns besides ``project_id``)."""
    conn.execute(insert(eval_experiments).values(project_id=project_id, **values))


def get_experiment(conn: Connection, run_id: str) -> Experiment | None:
    """The experiment with its item count, or None."""
    row = conn.execute(_select_experiments().where(eval_experiments.c.run_id == run_id)).first()
    return _experiment(row, row.item_count) if row is not None else None


def find_running(
    conn: Connection, project_id: int, suite: str, target_hash: str, dataset: str, version: int
) -> str | None:
    """The newest unfinished experiment of this suite, target and dataset version (to resume)."""
    c = eval_experiments.c
    return conn.execute(
        select(c.run_id)
        .where(
            and_(
                c.project_id == project_id,
                c.suite == suite,
                c.target_hash == target_hash,
                c.dataset == dataset,
                c.dataset_version == version,
                c.status == "running",
            )
        )
        .order_by(c.created_at.desc())
        .limit(1)
    ).scalar()


def list_experiments(
    conn: Connection,
    project_id: int,
    *,
    suite: str | None,
    label: str | None,
    offset: int,
    limit: int,
) -> list[Experiment]:
    """A project's experiments, newest first, optionally of one suite and/or label."""
    c = eval_experiments.c
    query = _select_experiments().where(c.project_id == project_id)
    if suite is not None:
        query = query.where(c.suite == suite)
    if label is not None:
        query = query.where(c.label == label)
    query = query.order_by(c.created_at.desc(), c.run_id).offset(offset).limit(limit)
    return [_experiment(row, row.item_count) for row in conn.execute(query)]


def update_experiment(conn: Connection, run_id: str, **values: Any) -> None:
    """Change columns of an experiment (status, metrics, summary, label …)."""
    conn.execute(update(eval_experiments).where(eval_experiments.c.run_id == run_id).values(values))


def clear_label(conn: Connection, project_id: int, suite: str, label: str) -> None:
    """Take ``label`` off every experiment of the suite (a label marks one experiment)."""
    c = eval_experiments.c
    conn.execute(
        update(eval_experiments)
        .where(and_(c.project_id == project_id, c.suite == suite, c.label == label))
        .values(label=None)
    )


def _item(row: Any) -> ItemResult:
    return ItemResult(
        key=row.item_key,
        position=row.position,
        variant=row.variant,
        group=row.group_name,
        input=row.input,
        expected=row.expected,
        output=row.output,
        error=row.error,
        latency_ms=row.latency_ms,
        cost=row.cost,
        scores=dict(row.scores),
        details=dict(row.details),
    )


def item_keys(conn: Connection, run_id: str, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` the experiment already holds."""
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = list(keys[start : start + 500])
        found.update(
            conn.execute(
                select(eval_items.c.item_key).where(
                    and_(eval_items.c.run_id == run_id, eval_items.c.item_key.in_(chunk))
                )
            ).scalars()
        )
    return found


def insert_items(conn: Connection, run_id: str, items: Sequence[ItemResult]) -> None:
    """Add item results (the caller removed keys already present)."""
    if not items:
        return
    conn.execute(
        insert(eval_items),
        [
            {
                "run_id": run_id,
                "item_key": i.key,
                "position": i.position,
                "variant": i.variant,
                "group_name": i.group,
                "input": i.input,
                "expected": i.expected,
                "output": i.output,
                "error": i.error,
                "latency_ms": i.latency_ms,
                "cost": i.cost,
                "scores": i.scores,
                "details": i.details,
            }
            for i in items
        ],
    )


def replace_item(conn: Connection, run_id: str, item: ItemResult) -> None:
    """Overwrite an item's output and scores (a re-run that completed a partial result)."""
    c = eval_items.c
    conn.execute(
        update(eval_items)
        .where(and_(c.run_id == run_id, c.item_key == item.key))
        .values(
            output=item.output,
            error=item.error,
            latency_ms=item.latency_ms,
            cost=item.cost,
            scores=item.scores,
            details=item.details,
        )
    )


def list_items(
    conn: Connection, run_id: str, offset: int = 0, limit: int | None = None
) -> list[ItemResult]:
    """An experiment's item results in dataset order."""
    query = (
        select(eval_items)
        .where(eval_items.c.run_id == run_id)
        .order_by(eval_items.c.position, eval_items.c.item_key)
        .offset(offset)
    )
    if limit is not None:
        query = query.limit(limit)
    return [_item(row) for row in conn.execute(query)]


def get_judge_answer(conn: Connection, project_id: int, request_hash: str) -> str | None:
    """The project's cached judge answer for a request hash, or None."""
    c = eval_judge_cache.c
    return conn.execute(
        select(c.answer).where(and_(c.project_id == project_id, c.request_hash == request_hash))
    ).scalar()


def put_judge_answer(
    conn: Connection, project_id: int, request_hash: str, answer: str, at: int
) -> None:
    """Keep a judge answer; a concurrent writer of the same hash wins quietly (same answer)."""
    dialect_insert: Any = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(
        dialect_insert(eval_judge_cache)
        .values(project_id=project_id, request_hash=request_hash, answer=answer, created_at=at)
        .on_conflict_do_nothing(index_elements=["project_id", "request_hash"])
    )
