"""Tables and queries of experiment tracking: experiments, runs, params, tags, metrics, artifacts.

Query functions take a ``Connection`` (the caller owns the transaction) and return models from
``podium.tracking.models``; rows never leave this module and ``search_sql`` (the run search,
built on ``run_select`` and ``with_details`` here). Everything runs on SQLite and PostgreSQL;
where the two differ (NaN storage, the fastest bulk insert) it is handled next to the query.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields as dataclass_fields
from datetime import datetime
from functools import lru_cache
from itertools import repeat
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    Select,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.types import TypeDecorator

from podium.access.sql import projects
from podium.errors import Conflict, NotFound
from podium.store.clock import from_ms, now_ms
from podium.store.columns import BigId, EpochMillis
from podium.store.metadata import metadata
from podium.tracking.models import (
    Artifact,
    Experiment,
    LatestMetric,
    MetricPoint,
    Run,
    RunDetail,
)
from podium.tracking.schemas import RunStatus

experiments = Table(
    "experiments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", EpochMillis, nullable=False),
    UniqueConstraint("project_id", "name"),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column(
        "experiment_id", Integer, ForeignKey("experiments.id", ondelete="CASCADE"), nullable=False
    ),
    Column("name", String(250), nullable=False),
    Column("status", String(16), nullable=False),
    Column("start_time", EpochMillis, nullable=False),
    Column("end_time", EpochMillis, nullable=True),
    Column("parent_run_id", String(32), ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    Column("git_commit", String(64), nullable=True),
    Column("command", Text, nullable=True),
    Column("user", String(200), nullable=True),
    Index(None, "experiment_id", "start_time"),
    Index(None, "parent_run_id"),
)

run_params = Table(
    "run_params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("run_id", "key"),
)

run_tags = Table(
    "run_tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Text, nullable=False),
    PrimaryKeyConstraint("run_id", "key"),
)

# Every logged point; append-only.
metrics = Table(
    "metrics",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Float, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", EpochMillis, nullable=False),
    Index(None, "run_id", "key", "step"),
)

# The point with the highest (step, timestamp) per run and key: what search and sort read.
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Float, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp", EpochMillis, nullable=False),
    PrimaryKeyConstraint("run_id", "key"),
)

run_artifacts = Table(
    "run_artifacts",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("path", String(1000), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("created_at", EpochMillis, nullable=False),
    PrimaryKeyConstraint("run_id", "path"),
)


# -- rows to models ----------------------------------------------------------------------------


def _when(ms: int) -> datetime:
    moment = from_ms(ms)
    assert moment is not None
    return moment


def _float(value: Any) -> float:
    # SQLite cannot store NaN in a REAL column (it becomes NULL), so NaN is kept as the text
    # 'NaN' there; float() turns it back. Text sorts above every number in SQLite, exactly where
    # PostgreSQL sorts NaN, so ordering and comparisons agree on both databases.
    return value if isinstance(value, float) else float(value)


def _storable(conn: Connection) -> Callable[[float], float | str]:
    """How a metric value is bound: NaN becomes the text 'NaN' on SQLite (see ``_float``)."""
    if conn.dialect.name == "sqlite":
        return lambda v: "NaN" if v != v else v
    return lambda v: v


def _upsert_insert(conn: Connection, table: Table) -> Any:
    if conn.dialect.name == "sqlite":
        return sqlite_insert(table)
    return postgresql_insert(table)


def _experiment(row: Any) -> Experiment:
    return Experiment(
        id=row.id,
        project=row.project_name,
        name=row.name,
        description=row.description,
        created_at=_when(row.created_at),
        run_count=row.run_count,
    )


def _run(
    row: Any,
    params: dict[str, str] | None = None,
    tags: dict[str, str] | None = None,
    latest: dict[str, LatestMetric] | None = None,
) -> Run:
    return Run(
        id=row.id,
        project=row.project_name,
        experiment_id=row.experiment_id,
        experiment=row.experiment_name,
        name=row.name,
        status=RunStatus(row.status),
        start_time=_when(row.start_time),
        end_time=from_ms(row.end_time),
        parent_run_id=row.parent_run_id,
        git_commit=row.git_commit,
        command=row.command,
        user=row.user,
        params=params or {},
        tags=tags or {},
        metrics=latest or {},
    )


def _artifact(row: Any) -> Artifact:
    return Artifact(
        path=row.path, sha256=row.sha256, size=row.size, created_at=_when(row.created_at)
    )


# -- experiments -------------------------------------------------------------------------------


def _experiment_select() -> Select[Any]:
    run_count = (
        select(func.count())
        .select_from(runs)
        .where(runs.c.experiment_id == experiments.c.id)
        .scalar_subquery()
    )
    return select(
        experiments, projects.c.name.label("project_name"), run_count.label("run_count")
    ).select_from(experiments.join(projects, projects.c.id == experiments.c.project_id))


def insert_experiment(conn: Connection, project_id: int, name: str, description: str) -> Experiment:
    """Insert an experiment; raises ``Conflict`` when the project already has one so named."""
    try:
        with conn.begin_nested():
            new_id = conn.execute(
                insert(experiments)
                .values(
                    project_id=project_id, name=name, description=description, created_at=now_ms()
                )
                .returning(experiments.c.id)
            ).scalar_one()
    except IntegrityError:
        raise Conflict(
            f"experiment {name!r} already exists in this project; pick another name",
            field="name",
        ) from None
    return get_experiment(conn, new_id)


def get_experiment(conn: Connection, experiment_id: int) -> Experiment:
    """The experiment with this id; raises ``NotFound``."""
    row = conn.execute(_experiment_select().where(experiments.c.id == experiment_id)).first()
    if row is None:
        raise NotFound(
            f"experiment {experiment_id} does not exist; list them with GET /api/v1/experiments",
            field="experiment_id",
        )
    return _experiment(row)


def find_experiment(conn: Connection, project_id: int, name: str) -> Experiment | None:
    """The project's experiment with this name, or None."""
    row = conn.execute(
        _experiment_select().where(
            experiments.c.project_id == project_id, experiments.c.name == name
        )
    ).first()
    return _experiment(row) if row is not None else None


def list_experiments(
    conn: Connection, project_id: int, offset: int, limit: int
) -> list[Experiment]:
    """The project's experiments by name."""
    query = (
        _experiment_select()
        .where(experiments.c.project_id == project_id)
        .order_by(experiments.c.name, experiments.c.id)
        .offset(offset)
        .limit(limit)
    )
    return [_experiment(row) for row in conn.execute(query)]


def experiment_ids(conn: Connection, project_id: int, names: Sequence[str]) -> dict[str, int]:
    """Ids of the project's experiments among ``names`` (missing names are left out)."""
    query = select(experiments.c.name, experiments.c.id).where(
        experiments.c.project_id == project_id, experiments.c.name.in_(list(names))
    )
    return {row.name: row.id for row in conn.execute(query)}


# -- runs --------------------------------------------------------------------------------------


def run_select() -> Select[Any]:
    """Runs joined with their experiment and project names (what ``Run`` needs)."""
    return select(
        runs,
        experiments.c.name.label("experiment_name"),
        projects.c.name.label("project_name"),
    ).select_from(
        runs.join(experiments, experiments.c.id == runs.c.experiment_id).join(
            projects, projects.c.id == experiments.c.project_id
        )
    )


def insert_run(
    conn: Connection,
    *,
    run_id: str,
    experiment_id: int,
    name: str,
    start_time: int,
    parent_run_id: str | None,
    git_commit: str | None,
    command: str | None,
    user: str | None,
) -> None:
    """Insert a RUNNING run."""
    conn.execute(
        insert(runs).values(
            id=run_id,
            experiment_id=experiment_id,
            name=name,
            status=RunStatus.RUNNING.value,
            start_time=start_time,
            end_time=None,
            parent_run_id=parent_run_id,
            git_commit=git_commit,
            command=command,
            user=user,
        )
    )


def run_exists(conn: Connection, run_id: str) -> bool:
    """Whether a run with this id exists."""
    return conn.execute(select(runs.c.id).where(runs.c.id == run_id)).first() is not None


def run_times(conn: Connection, run_id: str) -> tuple[str, int, int | None] | None:
    """(status, start_time, end_time) of a run, or None when it does not exist."""
    row = conn.execute(
        select(runs.c.status, runs.c.start_time, runs.c.end_time).where(runs.c.id == run_id)
    ).first()
    return (row.status, row.start_time, row.end_time) if row is not None else None


def get_runs(conn: Connection, run_ids: Sequence[str]) -> dict[str, Run]:
    """The runs among ``run_ids`` that exist, with params, tags and latest metrics."""
    rows = list(conn.execute(run_select().where(runs.c.id.in_(list(run_ids)))))
    return {run.id: run for run in with_details(conn, rows)}


def get_run_detail(conn: Connection, run_id: str) -> RunDetail | None:
    """The run with everything logged to it and its children's ids, or None."""
    found = get_runs(conn, [run_id]).get(run_id)
    if found is None:
        return None
    children = conn.execute(
        select(runs.c.id)
        .where(runs.c.parent_run_id == run_id)
        .order_by(runs.c.start_time, runs.c.id)
    ).scalars()
    fields = {f.name: getattr(found, f.name) for f in dataclass_fields(Run)}
    return RunDetail(**fields, artifacts=list_artifacts(conn, run_id), child_run_ids=list(children))


def with_details(conn: Connection, rows: Sequence[Any]) -> list[Run]:
    """Runs for ``rows`` with params, tags and latest metrics: one query per table, no N+1."""
    if not rows:
        return []
    ids = [row.id for row in rows]
    params: dict[str, dict[str, str]] = {run_id: {} for run_id in ids}
    tags: dict[str, dict[str, str]] = {run_id: {} for run_id in ids}
    latest: dict[str, dict[str, LatestMetric]] = {run_id: {} for run_id in ids}
    for table, target in ((run_params, params), (run_tags, tags)):
        query = (
            select(table.c.run_id, table.c.key, table.c.value)
            .where(table.c.run_id.in_(ids))
            .order_by(table.c.run_id, table.c.key)
        )
        for row in conn.execute(query):
            target[row.run_id][row.key] = row.value
    query = (
        select(latest_metrics)
        .where(latest_metrics.c.run_id.in_(ids))
        .order_by(latest_metrics.c.run_id, latest_metrics.c.key)
    )
    for row in conn.execute(query):
        latest[row.run_id][row.key] = LatestMetric(_float(row.value), row.step, row.timestamp)
    return [_run(row, params[row.id], tags[row.id], latest[row.id]) for row in rows]


def update_run(conn: Connection, run_id: str, values: dict[str, Any]) -> None:
    """Set columns of a run (``status``, ``end_time``, ``name``)."""
    if values:
        conn.execute(update(runs).where(runs.c.id == run_id).values(**values))


def delete_run(conn: Connection, run_id: str) -> bool:
    """Delete a run and its rows (blobs stay: they may be shared); False if it did not exist."""
    # Explicit deletes instead of relying on ON DELETE CASCADE: it needs SQLite's foreign_keys
    # pragma, and being explicit keeps the cost visible.
    for table in (metrics, latest_metrics, run_params, run_tags, run_artifacts):
        conn.execute(delete(table).where(table.c.run_id == run_id))
    conn.execute(update(runs).where(runs.c.parent_run_id == run_id).values(parent_run_id=None))
    return conn.execute(delete(runs).where(runs.c.id == run_id)).rowcount > 0


# -- params and tags ---------------------------------------------------------------------------


def insert_params(conn: Connection, run_id: str, params: dict[str, str]) -> dict[str, str]:
    """Insert params that are not set yet; return every requested key's value as stored.

    ``ON CONFLICT DO NOTHING`` makes concurrent writers of the same key safe; the caller
    compares the stored values with what it asked for to detect a conflicting value.
    """
    if not params:
        return {}
    stmt = _upsert_insert(conn, run_params).on_conflict_do_nothing(
        index_elements=[run_params.c.run_id, run_params.c.key]
    )
    conn.execute(
        stmt, [{"run_id": run_id, "key": k, "value": v} for k, v in sorted(params.items())]
    )
    query = select(run_params.c.key, run_params.c.value).where(
        run_params.c.run_id == run_id, run_params.c.key.in_(list(params))
    )
    return {row.key: row.value for row in conn.execute(query)}


def upsert_tags(conn: Connection, run_id: str, tags: dict[str, str]) -> None:
    """Set tags, overwriting existing values."""
    if not tags:
        return
    stmt = _upsert_insert(conn, run_tags)
    stmt = stmt.on_conflict_do_update(
        index_elements=[run_tags.c.run_id, run_tags.c.key], set_={"value": stmt.excluded.value}
    )
    conn.execute(stmt, [{"run_id": run_id, "key": k, "value": v} for k, v in sorted(tags.items())])


def delete_tag(conn: Connection, run_id: str, key: str) -> bool:
    """Remove a tag; False when the run has no such tag."""
    result = conn.execute(
        delete(run_tags).where(run_tags.c.run_id == run_id, run_tags.c.key == key)
    )
    return result.rowcount > 0


# -- metrics -----------------------------------------------------------------------------------


class _RawFloat(TypeDecorator[Any]):
    """A float bound untouched, so SQLite's 'NaN' text is not coerced back to a float NaN."""

    impl = Float
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> None:
        return None


_METRIC_COLUMNS = ("run_id", "key", "value", "step", "timestamp")

# SQLite: one executemany of this statement, compiled once and sent with tuples (SQLAlchemy's
# per-row parameter processing would cost more than SQLite's own insert).
_SQLITE_METRIC_INSERT = insert(metrics).values(
    run_id=bindparam("p_run"),
    key=bindparam("p_key"),
    value=bindparam("p_value", type_=_RawFloat()),
    step=bindparam("p_step"),
    timestamp=bindparam("p_ts"),
)

# PostgreSQL: one statement whatever the batch size, the columns sent as four arrays and
# unnested server-side; about twice as fast as psycopg's pipelined executemany.
_POINTS = (
    func.unnest(
        bindparam("p_keys", type_=ARRAY(String)),
        bindparam("p_values", type_=ARRAY(Float)),
        bindparam("p_steps", type_=ARRAY(BigInteger)),
        bindparam("p_stamps", type_=ARRAY(BigInteger)),
    )
    .table_valued("key", "value", "step", "timestamp")
    .render_derived(name="points")
)
_POSTGRES_METRIC_INSERT = insert(metrics).from_select(
    list(_METRIC_COLUMNS),
    select(
        bindparam("p_run", type_=String),
        _POINTS.c.key,
        _POINTS.c.value,
        _POINTS.c.step,
        _POINTS.c.timestamp,
    ),
)


@lru_cache(maxsize=4)
def _sqlite_metric_insert_sql(dialect: Dialect) -> str:
    compiled = _SQLITE_METRIC_INSERT.compile(dialect=dialect)
    assert compiled.positiontup == ["p_run", "p_key", "p_value", "p_step", "p_ts"]
    return compiled.string


def _latest_upsert(conn: Connection) -> Any:
    upsert = _upsert_insert(conn, latest_metrics).values(
        run_id=bindparam("p_run"),
        key=bindparam("p_key"),
        value=bindparam("p_value", type_=_RawFloat()),
        step=bindparam("p_step"),
        timestamp=bindparam("p_ts"),
    )
    new, old = upsert.excluded, latest_metrics.c
    return upsert.on_conflict_do_update(
        index_elements=[old.run_id, old.key],
        set_={"value": new.value, "step": new.step, "timestamp": new.timestamp},
        # ">=" on the timestamp: with the default step 0, a point logged later in the same
        # millisecond still becomes the latest one (as in MLflow).
        where=or_(new.step > old.step, and_(new.step == old.step, new.timestamp >= old.timestamp)),
    )


def insert_metrics(conn: Connection, run_id: str, points: Sequence[MetricPoint]) -> None:
    """Append ``points`` and move ``latest_metrics`` forward: two statements per batch.

    The points go in with one statement (an ``executemany`` on SQLite, an ``unnest`` of arrays
    on PostgreSQL). The batch's best point per key (highest ``(step, timestamp)``, the later
    one on a tie) is found here in Python; the upsert's WHERE then only replaces a stored
    latest point that is not newer, so concurrent writers converge on the maximum whatever
    order they commit in. Upsert rows are sorted by key so concurrent PostgreSQL transactions
    lock them in the same order (no deadlocks).
    """
    if not points:
        return
    store = _storable(conn)
    keys: list[str] = []
    values: list[float | str] = []
    steps: list[int] = []
    stamps: list[int] = []
    best: dict[str, MetricPoint] = {}
    for point in points:
        keys.append(point.key)
        values.append(store(point.value))
        steps.append(point.step)
        stamps.append(point.timestamp)
        current = best.get(point.key)
        if current is None or (point.step, point.timestamp) >= (current.step, current.timestamp):
            best[point.key] = point
    if conn.dialect.name == "postgresql":
        conn.execute(
            _POSTGRES_METRIC_INSERT,
            {
                "p_run": run_id,
                "p_keys": keys,
                "p_values": values,
                "p_steps": steps,
                "p_stamps": stamps,
            },
        )
    else:
        conn.exec_driver_sql(
            _sqlite_metric_insert_sql(conn.dialect),
            list(zip(repeat(run_id), keys, values, steps, stamps, strict=False)),
        )
    conn.execute(
        _latest_upsert(conn),
        [
            {
                "p_run": run_id,
                "p_key": key,
                "p_value": store(p.value),
                "p_step": p.step,
                "p_ts": p.timestamp,
            }
            for key, p in sorted(best.items())
        ],
    )


def metric_history(
    conn: Connection,
    run_id: str,
    key: str,
    offset: int,
    limit: int,
    max_points: int | None = None,
) -> list[MetricPoint]:
    """A metric's points ordered by (step, timestamp, id), optionally downsampled.

    With ``max_points``, a longer series is reduced to ``max_points`` points: the first, the
    last and evenly spaced ones between (by position), chosen in SQL with ``row_number()``;
    ``offset``/``limit`` then page over the reduced series.
    """
    m = metrics.c
    where = and_(m.run_id == run_id, m.key == key)
    order = (m.step, m.timestamp, m.id)
    if max_points is not None:
        total = conn.execute(select(func.count()).select_from(metrics).where(where)).scalar_one()
        if total > max_points:
            numbered = (
                select(
                    m.step,
                    m.value,
                    m.timestamp,
                    m.id,
                    (func.row_number().over(order_by=order) - 1).label("rn"),
                )
                .where(where)
                .subquery()
            )
            # Keep row rn when rn == floor(k * span / slots) for some k (span = total - 1,
            # slots = max_points - 1): with k = ceil(rn * slots / span), that is
            # k * span < (rn + 1) * slots. Integer arithmetic only: both databases agree.
            span, slots = total - 1, max_points - 1
            rn = numbered.c.rn
            k = (rn * _int(slots) + _int(span - 1)) // _int(span)
            query = (
                select(numbered.c.step, numbered.c.value, numbered.c.timestamp)
                .where(k * _int(span) < (rn + _int(1)) * _int(slots))
                .order_by(numbered.c.rn)
                .offset(offset)
                .limit(limit)
            )
            return [
                MetricPoint(key, _float(row.value), row.step, row.timestamp)
                for row in conn.execute(query)
            ]
    query = select(m.step, m.value, m.timestamp).where(where).order_by(*order)
    return [
        MetricPoint(key, _float(row.value), row.step, row.timestamp)
        for row in conn.execute(query.offset(offset).limit(limit))
    ]


def _int(value: int) -> Any:
    return literal(value, BigInteger)


# -- artifacts ---------------------------------------------------------------------------------


def upsert_artifact(conn: Connection, run_id: str, path: str, sha256: str, size: int) -> Artifact:
    """Record (or re-point) the artifact at ``path`` of a run."""
    stmt = _upsert_insert(conn, run_artifacts).values(
        run_id=run_id, path=path, sha256=sha256, size=size, created_at=now_ms()
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[run_artifacts.c.run_id, run_artifacts.c.path],
        set_={
            "sha256": stmt.excluded.sha256,
            "size": stmt.excluded.size,
            "created_at": stmt.excluded.created_at,
        },
    )
    conn.execute(stmt)
    found = get_artifact(conn, run_id, path)
    assert found is not None
    return found


def list_artifacts(conn: Connection, run_id: str) -> list[Artifact]:
    """A run's artifacts by path."""
    query = (
        select(run_artifacts).where(run_artifacts.c.run_id == run_id).order_by(run_artifacts.c.path)
    )
    return [_artifact(row) for row in conn.execute(query)]


def get_artifact(conn: Connection, run_id: str, path: str) -> Artifact | None:
    """The artifact at ``path`` of a run, or None."""
    row = conn.execute(
        select(run_artifacts).where(run_artifacts.c.run_id == run_id, run_artifacts.c.path == path)
    ).first()
    return _artifact(row) if row is not None else None


def project_of_run(conn: Connection, run_id: str) -> str | None:
    """The name of the project that owns a run, or None if there is no such run."""
    return conn.execute(
        select(projects.c.name)
        .select_from(runs.join(experiments, experiments.c.id == runs.c.experiment_id))
        .join(projects, projects.c.id == experiments.c.project_id)
        .where(runs.c.id == run_id)
    ).scalar_one_or_none()


def project_of_experiment(conn: Connection, experiment_id: int) -> str | None:
    """The name of the project that owns an experiment, or None."""
    return conn.execute(
        select(projects.c.name)
        .select_from(experiments.join(projects, projects.c.id == experiments.c.project_id))
        .where(experiments.c.id == experiment_id)
    ).scalar_one_or_none()
