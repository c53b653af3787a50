"""Tables and queries of the data part: datasets and their immutable versions.

Every function takes a ``Connection`` already inside the caller's transaction and returns
domain models from ``podium.data.models``; rows never leave this module. Lookups return ``None``
when nothing matches, so the service words the ``NotFound``. A version's rows are not here: they
are a Parquet blob named by the version's ``sha256``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    ForeignKey,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from podium.access.sql import projects
from podium.data.models import Dataset, DatasetVersion, Step
from podium.errors import Conflict
from podium.store.clock import stored_time
from podium.store.columns import EpochMillis, Json
from podium.store.metadata import metadata

datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", EpochMillis, nullable=False),
    Column("updated_at", EpochMillis, nullable=False),
    # Bumped atomically (UPDATE … RETURNING) to hand out dense version numbers.
    Column("latest_version", Integer, nullable=False, default=0),
    UniqueConstraint("project_id", "name"),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("dataset_id", Integer, ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("row_count", BigInteger, nullable=False),
    Column("schema", Json, nullable=False),
    Column("message", Text, nullable=False, default=""),
    Column("created_at", EpochMillis, nullable=False),
    Column("created_by", String(200), nullable=True),
    # Lineage: the versions this one was made from, and the steps (name + params) that made it.
    Column("parents", Json, nullable=False),
    Column("steps", Json, nullable=False),
    PrimaryKeyConstraint("dataset_id", "version"),
)


def _select_datasets() -> Any:
    return select(
        datasets.c.id,
        projects.c.name.label("project"),
        datasets.c.name,
        datasets.c.description,
        datasets.c.created_at,
        datasets.c.updated_at,
        datasets.c.latest_version,
    ).join(projects, projects.c.id == datasets.c.project_id)


def _to_dataset(row: Any) -> Dataset:
    return Dataset(
        id=row.id,
        project=row.project,
        name=row.name,
        description=row.description,
        created_at=stored_time(row.created_at),
        updated_at=stored_time(row.updated_at),
        latest_version=row.latest_version,
    )


def _to_version(row: Any, dataset: Dataset) -> DatasetVersion:
    return DatasetVersion(
        dataset=dataset.name,
        project=dataset.project,
        version=row.version,
        sha256=row.sha256,
        size=row.size,
        row_count=row.row_count,
        schema=list(row.schema),
        message=row.message,
        created_at=stored_time(row.created_at),
        created_by=row.created_by,
        parents=[int(p) for p in row.parents],
        steps=[Step(s["name"], dict(s.get("params") or {})) for s in row.steps],
    )


# -- datasets -----------------------------------------------------------------------------------


def insert_dataset(
    conn: Connection, project_id: int, project: str, name: str, description: str, now: int
) -> int:
    """Insert a dataset with no versions; its id. ``Conflict`` if the name is taken."""
    try:
        # A savepoint, so a duplicate leaves the caller's transaction usable on PostgreSQL.
        with conn.begin_nested():
            dataset_id: int = conn.execute(
                insert(datasets)
                .values(
                    project_id=project_id,
                    name=name,
                    description=description,
                    created_at=now,
                    updated_at=now,
                    latest_version=0,
                )
                .returning(datasets.c.id)
            ).scalar_one()
    except IntegrityError:
        raise Conflict(
            f"dataset {name!r} already exists in project {project!r}; import a new version "
            f"with PUT /api/v1/datasets/{name}/content (or `podium data import`)",
            field="name",
        ) from None
    return dataset_id


def find_dataset(
    conn: Connection, project: str, name: str, *, lock: bool = False
) -> Dataset | None:
    """The dataset ``name`` in ``project``, or None; ``lock`` holds its row (PostgreSQL)."""
    query = _select_datasets().where(projects.c.name == project, datasets.c.name == name)
    if lock:
        query = query.with_for_update(of=datasets)
    row = conn.execute(query).first()
    return None if row is None else _to_dataset(row)


def list_datasets(conn: Connection, project_id: int, offset: int, limit: int) -> list[Dataset]:
    """A page of the project's datasets, by name."""
    rows = conn.execute(
        _select_datasets()
        .where(datasets.c.project_id == project_id)
        .order_by(datasets.c.name)
        .offset(offset)
        .limit(limit)
    ).all()
    return [_to_dataset(r) for r in rows]


def delete_dataset(conn: Connection, dataset_id: int) -> None:
    """Delete the dataset; its versions go with it (ON DELETE CASCADE)."""
    conn.execute(delete(dataset_versions).where(dataset_versions.c.dataset_id == dataset_id))
    conn.execute(delete(datasets).where(datasets.c.id == dataset_id))


# -- versions -----------------------------------------------------------------------------------


def next_version_number(conn: Connection, dataset_id: int, now: int) -> int:
    """Allocate the dataset's next version number in one atomic ``UPDATE … RETURNING``.

    The caller inserts the version in the same transaction, so a failure rolls the counter back
    too and numbers stay dense (1, 2, 3 …).
    """
    number: int = conn.execute(
        update(datasets)
        .where(datasets.c.id == dataset_id)
        .values(latest_version=datasets.c.latest_version + 1, updated_at=now)
        .returning(datasets.c.latest_version)
    ).scalar_one()
    return number


def insert_version(
    conn: Connection, dataset_id: int, version: DatasetVersion, created_at: int
) -> None:
    """Insert one immutable version row."""
    conn.execute(
        insert(dataset_versions).values(
            dataset_id=dataset_id,
            version=version.version,
            sha256=version.sha256,
            size=version.size,
            row_count=version.row_count,
            schema=version.schema,
            message=version.message,
            created_at=created_at,
            created_by=version.created_by,
            parents=version.parents,
            steps=[{"name": s.name, "params": s.params} for s in version.steps],
        )
    )


def get_version(conn: Connection, dataset: Dataset, version: int) -> DatasetVersion | None:
    """One version of ``dataset``, or None."""
    row = conn.execute(
        select(dataset_versions).where(
            dataset_versions.c.dataset_id == dataset.id, dataset_versions.c.version == version
        )
    ).first()
    return None if row is None else _to_version(row, dataset)


def list_versions(
    conn: Connection, dataset: Dataset, offset: int, limit: int
) -> list[DatasetVersion]:
    """A page of ``dataset``'s versions, newest first."""
    rows = conn.execute(
        select(dataset_versions)
        .where(dataset_versions.c.dataset_id == dataset.id)
        .order_by(dataset_versions.c.version.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    return [_to_version(r, dataset) for r in rows]
