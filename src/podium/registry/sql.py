"""Tables and queries of the model registry: models, versions, aliases and alias history.

Every function takes a ``Connection`` already inside the caller's transaction and returns
domain models from ``podium.registry.models``; rows never leave this module. Lookups return
``None`` when nothing matches, so the service words the ``NotFound`` with the names the user
gave.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    ForeignKey,
    Index,
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
from podium.errors import Conflict
from podium.registry.models import Alias, AliasEvent, ModelVersion, RegisteredModel
from podium.store.clock import stored_time
from podium.store.columns import BigId, EpochMillis, Json
from podium.store.metadata import metadata

registered_models = Table(
    "registered_models",
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

model_versions = Table(
    "model_versions",
    metadata,
    Column(
        "model_id", Integer, ForeignKey("registered_models.id", ondelete="CASCADE"), nullable=False
    ),
    Column("version", Integer, nullable=False),
    Column("source_run_id", String(32), ForeignKey("runs.id", ondelete="SET NULL"), nullable=True),
    Column("artifact_sha256", String(64), nullable=True),
    Column("artifact_path", String(1000), nullable=True),
    Column("framework", String(100), nullable=True),
    Column("metadata", Json, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("model_card", Text, nullable=False, default=""),
    Column("created_at", EpochMillis, nullable=False),
    Column("created_by", String(200), nullable=True),
    PrimaryKeyConstraint("model_id", "version"),
    Index(None, "source_run_id"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column(
        "model_id", Integer, ForeignKey("registered_models.id", ondelete="CASCADE"), nullable=False
    ),
    Column("alias", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", EpochMillis, nullable=False),
    Column("updated_by", String(200), nullable=True),
    PrimaryKeyConstraint("model_id", "alias"),
)

# Append-only: every alias move, who made it and when. Rollback reads it.
alias_events = Table(
    "alias_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column(
        "model_id", Integer, ForeignKey("registered_models.id", ondelete="CASCADE"), nullable=False
    ),
    Column("alias", String(100), nullable=False),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=True),
    Column("actor", String(200), nullable=True),
    Column("reason", Text, nullable=False, default=""),
    Column("at", EpochMillis, nullable=False),
    Index(None, "model_id", "alias", "id"),
)


# -- conversions ------------------------------------------------------------------------------


def _aliases_by_model(conn: Connection, model_ids: list[int]) -> dict[int, dict[str, int]]:
    found: dict[int, dict[str, int]] = defaultdict(dict)
    if not model_ids:
        return found
    rows = conn.execute(
        select(model_aliases.c.model_id, model_aliases.c.alias, model_aliases.c.version)
        .where(model_aliases.c.model_id.in_(model_ids))
        .order_by(model_aliases.c.alias)
    )
    for row in rows:
        found[row.model_id][row.alias] = row.version
    return found


def _to_model(row: Any, aliases: dict[str, int]) -> RegisteredModel:
    return RegisteredModel(
        id=row.id,
        project=row.project,
        name=row.name,
        description=row.description,
        created_at=stored_time(row.created_at),
        updated_at=stored_time(row.updated_at),
        latest_version=row.latest_version,
        aliases=dict(aliases),
    )


def _to_version(row: Any, model: str, aliases: list[str]) -> ModelVersion:
    return ModelVersion(
        model=model,
        version=row.version,
        source_run_id=row.source_run_id,
        artifact_sha256=row.artifact_sha256,
        artifact_path=row.artifact_path,
        framework=row.framework,
        metadata=dict(row._mapping["metadata"]),
        description=row.description,
        model_card=row.model_card,
        created_at=stored_time(row.created_at),
        created_by=row.created_by,
        aliases=sorted(aliases),
    )


def _to_event(row: Any, model: str) -> AliasEvent:
    return AliasEvent(
        id=row.id,
        model=model,
        alias=row.alias,
        from_version=row.from_version,
        to_version=row.to_version,
        actor=row.actor,
        reason=row.reason,
        at=stored_time(row.at),
    )


_MODEL_COLUMNS = (
    registered_models.c.id,
    projects.c.name.label("project"),
    registered_models.c.name,
    registered_models.c.description,
    registered_models.c.created_at,
    registered_models.c.updated_at,
    registered_models.c.latest_version,
)


def _select_models() -> Any:
    return select(*_MODEL_COLUMNS).join(projects, projects.c.id == registered_models.c.project_id)


# -- registered models ------------------------------------------------------------------------


def insert_model(
    conn: Connection, project_id: int, project: str, name: str, description: str, now: int
) -> RegisteredModel:
    """Insert a model with no versions; raises ``Conflict`` if the name is taken in the project."""
    try:
        # A savepoint, so a duplicate leaves the caller's transaction usable on PostgreSQL.
        with conn.begin_nested():
            model_id = conn.execute(
                insert(registered_models)
                .values(
                    project_id=project_id,
                    name=name,
                    description=description,
                    created_at=now,
                    updated_at=now,
                    latest_version=0,
                )
                .returning(registered_models.c.id)
            ).scalar_one()
    except IntegrityError:
        raise Conflict(
            f"model {name!r} already exists in project {project!r}; pick another name or add "
            f"a version with POST /api/v1/models/{name}/versions",
            field="name",
        ) from None
    model = get_model_by_id(conn, model_id)
    assert model is not None  # just inserted in this transaction
    return model


def find_model(conn: Connection, project: str, name: str) -> RegisteredModel | None:
    """The model ``name`` in the project named ``project`` with its aliases, or None."""
    row = conn.execute(
        _select_models().where(projects.c.name == project, registered_models.c.name == name)
    ).first()
    if row is None:
        return None
    return _to_model(row, _aliases_by_model(conn, [row.id])[row.id])


def get_model_by_id(conn: Connection, model_id: int) -> RegisteredModel | None:
    """The model with this id and its aliases, or None."""
    row = conn.execute(_select_models().where(registered_models.c.id == model_id)).first()
    if row is None:
        return None
    return _to_model(row, _aliases_by_model(conn, [row.id])[row.id])


def lock_model(conn: Connection, project: str, name: str) -> int | None:
    """The model's id, its row locked until the transaction ends (PostgreSQL); None if absent.

    Alias moves read the current state and the history before writing, so concurrent moves of
    one model must queue. SQLite needs no row lock: its write transactions already hold the
    database lock (``BEGIN IMMEDIATE``).
    """
    return conn.execute(
        select(registered_models.c.id)
        .join(projects, projects.c.id == registered_models.c.project_id)
        .where(projects.c.name == project, registered_models.c.name == name)
        .with_for_update(of=registered_models)
    ).scalar_one_or_none()


def list_models(
    conn: Connection, project_id: int, offset: int, limit: int
) -> list[RegisteredModel]:
    """A page of the project's models, by name."""
    rows = conn.execute(
        _select_models()
        .where(registered_models.c.project_id == project_id)
        .order_by(registered_models.c.name)
        .offset(offset)
        .limit(limit)
    ).all()
    aliases = _aliases_by_model(conn, [r.id for r in rows])
    return [_to_model(r, aliases[r.id]) for r in rows]


def update_model_description(conn: Connection, model_id: int, description: str, now: int) -> None:
    """Replace the model's description."""
    conn.execute(
        update(registered_models)
        .where(registered_models.c.id == model_id)
        .values(description=description, updated_at=now)
    )


def touch_model(conn: Connection, model_id: int, now: int) -> None:
    """Mark the model as changed now (an alias moved)."""
    conn.execute(
        update(registered_models).where(registered_models.c.id == model_id).values(updated_at=now)
    )


def delete_model(conn: Connection, model_id: int) -> None:
    """Delete the model; its versions, aliases and history go with it (ON DELETE CASCADE)."""
    conn.execute(delete(registered_models).where(registered_models.c.id == model_id))


# -- versions ---------------------------------------------------------------------------------


def next_version_number(conn: Connection, model_id: int, now: int) -> int | None:
    """Allocate the model's next version number; None if the model is gone.

    One atomic ``UPDATE … RETURNING``: the row lock it takes makes concurrent writers queue, and
    since the caller inserts the version in the same transaction, a failed insert rolls the
    counter back too, so numbers stay dense (1, 2, 3 …) with no gaps or duplicates.
    """
    return conn.execute(
        update(registered_models)
        .where(registered_models.c.id == model_id)
        .values(latest_version=registered_models.c.latest_version + 1, updated_at=now)
        .returning(registered_models.c.latest_version)
    ).scalar_one_or_none()


def insert_version(
    conn: Connection,
    model_id: int,
    version: int,
    *,
    source_run_id: str | None,
    artifact_sha256: str | None,
    artifact_path: str | None,
    framework: str | None,
    metadata: dict[str, Any],
    description: str,
    model_card: str,
    created_at: int,
    created_by: str | None,
) -> None:
    """Insert one version row (raises ``IntegrityError`` if its run was deleted meanwhile)."""
    conn.execute(
        insert(model_versions).values(
            model_id=model_id,
            version=version,
            source_run_id=source_run_id,
            artifact_sha256=artifact_sha256,
            artifact_path=artifact_path,
            framework=framework,
            metadata=metadata,
            description=description,
            model_card=model_card,
            created_at=created_at,
            created_by=created_by,
        )
    )


def _version_aliases(conn: Connection, model_id: int, versions: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    if not versions:
        return found
    rows = conn.execute(
        select(model_aliases.c.alias, model_aliases.c.version).where(
            model_aliases.c.model_id == model_id, model_aliases.c.version.in_(versions)
        )
    )
    for row in rows:
        found[row.version].append(row.alias)
    return found


def get_version(conn: Connection, model: RegisteredModel, version: int) -> ModelVersion | None:
    """One version of ``model`` with the aliases pointing at it, or None."""
    row = conn.execute(
        select(model_versions).where(
            model_versions.c.model_id == model.id, model_versions.c.version == version
        )
    ).first()
    if row is None:
        return None
    return _to_version(row, model.name, _version_aliases(conn, model.id, [version])[version])


def list_versions(
    conn: Connection, model: RegisteredModel, offset: int, limit: int
) -> list[ModelVersion]:
    """A page of ``model``'s versions, newest first."""
    rows = conn.execute(
        select(model_versions)
        .where(model_versions.c.model_id == model.id)
        .order_by(model_versions.c.version.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    aliases = _version_aliases(conn, model.id, [r.version for r in rows])
    return [_to_version(r, model.name, aliases[r.version]) for r in rows]


# -- aliases and their history ----------------------------------------------------------------


def get_alias(conn: Connection, model_id: int, model: str, alias: str) -> Alias | None:
    """Where ``alias`` points now, or None if it is not set."""
    row = conn.execute(
        select(model_aliases).where(
            model_aliases.c.model_id == model_id, model_aliases.c.alias == alias
        )
    ).first()
    if row is None:
        return None
    return Alias(
        model=model,
        alias=row.alias,
        version=row.version,
        updated_at=stored_time(row.updated_at),
        updated_by=row.updated_by,
    )


def put_alias(
    conn: Connection, model_id: int, alias: str, version: int, actor: str | None, now: int
) -> None:
    """Point ``alias`` at ``version``, creating it if needed (caller holds the model lock)."""
    values = {"version": version, "updated_at": now, "updated_by": actor}
    changed = conn.execute(
        update(model_aliases)
        .where(model_aliases.c.model_id == model_id, model_aliases.c.alias == alias)
        .values(**values)
    ).rowcount
    if not changed:
        conn.execute(insert(model_aliases).values(model_id=model_id, alias=alias, **values))


def remove_alias(conn: Connection, model_id: int, alias: str) -> None:
    """Delete the alias row."""
    conn.execute(
        delete(model_aliases).where(
            model_aliases.c.model_id == model_id, model_aliases.c.alias == alias
        )
    )


def insert_alias_event(
    conn: Connection,
    model_id: int,
    alias: str,
    *,
    from_version: int | None,
    to_version: int | None,
    actor: str | None,
    reason: str,
    at: int,
) -> None:
    """Append one move of ``alias`` to the history."""
    conn.execute(
        insert(alias_events).values(
            model_id=model_id,
            alias=alias,
            from_version=from_version,
            to_version=to_version,
            actor=actor,
            reason=reason,
            at=at,
        )
    )


def list_alias_events(
    conn: Connection, model_id: int, model: str, alias: str | None = None, *, newest_first: bool
) -> list[AliasEvent]:
    """The model's alias moves (of one alias when given), in id order either way."""
    query = select(alias_events).where(alias_events.c.model_id == model_id)
    if alias is not None:
        query = query.where(alias_events.c.alias == alias)
    order = alias_events.c.id.desc() if newest_first else alias_events.c.id.asc()
    return [_to_event(r, model) for r in conn.execute(query.order_by(order))]
