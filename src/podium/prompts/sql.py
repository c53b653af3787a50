"""Tables and queries of the prompt registry: prompts, versions, labels and label history.

Every function takes a ``Connection`` already inside the caller's transaction and returns
domain models from ``podium.prompts.models``; rows never leave this module. Lookups return
``None`` when nothing matches, so the service words the ``NotFound``.
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
from podium.prompts.models import Label, LabelEvent, Prompt, PromptContent, PromptVersion
from podium.store.clock import stored_time
from podium.store.columns import BigId, EpochMillis, Json
from podium.store.metadata import metadata

prompts = Table(
    "prompts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("created_at", EpochMillis, nullable=False),
    Column("updated_at", EpochMillis, nullable=False),
    # Bumped atomically (UPDATE … RETURNING) to hand out dense version numbers.
    Column("latest_version", Integer, nullable=False, default=0),
    UniqueConstraint("project_id", "name"),
)

prompt_versions = Table(
    "prompt_versions",
    metadata,
    Column("prompt_id", Integer, ForeignKey("prompts.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("template", Text, nullable=True),
    Column("messages", Json, nullable=True),
    Column("variables", Json, nullable=False),
    Column("model_params", Json, nullable=False),
    Column("config", Json, nullable=False),
    Column("tags", Json, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("message", Text, nullable=False, default=""),
    Column("created_at", EpochMillis, nullable=False),
    Column("created_by", String(200), nullable=True),
    PrimaryKeyConstraint("prompt_id", "version"),
)

prompt_labels = Table(
    "prompt_labels",
    metadata,
    Column("prompt_id", Integer, ForeignKey("prompts.id", ondelete="CASCADE"), nullable=False),
    Column("label", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", EpochMillis, nullable=False),
    Column("updated_by", String(200), nullable=True),
    PrimaryKeyConstraint("prompt_id", "label"),
)

# Append-only: every label move, who made it and when. Rollback reads it.
prompt_label_events = Table(
    "prompt_label_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("prompt_id", Integer, ForeignKey("prompts.id", ondelete="CASCADE"), nullable=False),
    Column("label", String(100), nullable=False),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=True),
    Column("actor", String(200), nullable=True),
    Column("reason", Text, nullable=False, default=""),
    Column("at", EpochMillis, nullable=False),
    Index(None, "prompt_id", "label", "id"),
)


def _labels_by_prompt(conn: Connection, prompt_ids: list[int]) -> dict[int, dict[str, int]]:
    found: dict[int, dict[str, int]] = defaultdict(dict)
    if not prompt_ids:
        return found
    rows = conn.execute(
        select(prompt_labels.c.prompt_id, prompt_labels.c.label, prompt_labels.c.version)
        .where(prompt_labels.c.prompt_id.in_(prompt_ids))
        .order_by(prompt_labels.c.label)
    )
    for row in rows:
        found[row.prompt_id][row.label] = row.version
    return found


def _to_prompt(row: Any, labels: dict[str, int]) -> Prompt:
    return Prompt(
        id=row.id,
        project=row.project,
        name=row.name,
        kind=row.kind,
        created_at=stored_time(row.created_at),
        updated_at=stored_time(row.updated_at),
        latest_version=row.latest_version,
        labels=dict(labels),
    )


def _to_version(row: Any, prompt: Prompt, labels: list[str]) -> PromptVersion:
    return PromptVersion(
        prompt=prompt.name,
        project=prompt.project,
        version=row.version,
        kind=prompt.kind,
        template=row.template,
        messages=list(row.messages) if row.messages is not None else None,
        variables=list(row.variables),
        model_params=dict(row.model_params),
        config=dict(row.config),
        tags=list(row.tags),
        sha256=row.sha256,
        message=row.message,
        created_at=stored_time(row.created_at),
        created_by=row.created_by,
        labels=sorted(labels),
    )


def _select_prompts() -> Any:
    return select(
        prompts.c.id,
        projects.c.name.label("project"),
        prompts.c.name,
        prompts.c.kind,
        prompts.c.created_at,
        prompts.c.updated_at,
        prompts.c.latest_version,
    ).join(projects, projects.c.id == prompts.c.project_id)


# -- prompts ------------------------------------------------------------------------------------


def insert_prompt(
    conn: Connection, project_id: int, project: str, name: str, kind: str, now: int
) -> int:
    """Insert a prompt with no versions; its id. ``Conflict`` if the name is taken."""
    try:
        # A savepoint, so a duplicate leaves the caller's transaction usable on PostgreSQL.
        with conn.begin_nested():
            prompt_id: int = conn.execute(
                insert(prompts)
                .values(
                    project_id=project_id,
                    name=name,
                    kind=kind,
                    created_at=now,
                    updated_at=now,
                    latest_version=0,
                )
                .returning(prompts.c.id)
            ).scalar_one()
    except IntegrityError:
        raise Conflict(
            f"prompt {name!r} already exists in project {project!r}; push a new version with "
            f"POST /api/v1/prompts/{name}/versions (or `podium prompts push`)",
            field="name",
        ) from None
    return prompt_id


def find_prompt(conn: Connection, project: str, name: str, *, lock: bool = False) -> Prompt | None:
    """The prompt ``name`` in ``project`` with its labels, or None.

    With ``lock`` its row stays locked until the transaction ends (PostgreSQL; SQLite write
    transactions already hold the database lock), so pushes and label moves queue.
    """
    query = _select_prompts().where(projects.c.name == project, prompts.c.name == name)
    if lock:
        query = query.with_for_update(of=prompts)
    row = conn.execute(query).first()
    if row is None:
        return None
    return _to_prompt(row, _labels_by_prompt(conn, [row.id])[row.id])


def list_prompts(conn: Connection, project_id: int, offset: int, limit: int) -> list[Prompt]:
    """A page of the project's prompts, by name."""
    rows = conn.execute(
        _select_prompts()
        .where(prompts.c.project_id == project_id)
        .order_by(prompts.c.name)
        .offset(offset)
        .limit(limit)
    ).all()
    labels = _labels_by_prompt(conn, [r.id for r in rows])
    return [_to_prompt(r, labels[r.id]) for r in rows]


def delete_prompt(conn: Connection, prompt_id: int) -> None:
    """Delete the prompt; versions, labels and history go with it (ON DELETE CASCADE)."""
    conn.execute(delete(prompts).where(prompts.c.id == prompt_id))


def touch_prompt(conn: Connection, prompt_id: int, now: int) -> None:
    """Mark the prompt as changed now (a label moved)."""
    conn.execute(update(prompts).where(prompts.c.id == prompt_id).values(updated_at=now))


# -- versions -----------------------------------------------------------------------------------


def next_version_number(conn: Connection, prompt_id: int, now: int) -> int:
    """Allocate the prompt's next version number in one atomic ``UPDATE … RETURNING``.

    The caller inserts the version in the same transaction, so a failure rolls the counter back
    too and numbers stay dense (1, 2, 3 …).
    """
    number: int = conn.execute(
        update(prompts)
        .where(prompts.c.id == prompt_id)
        .values(latest_version=prompts.c.latest_version + 1, updated_at=now)
        .returning(prompts.c.latest_version)
    ).scalar_one()
    return number


def insert_version(
    conn: Connection,
    prompt_id: int,
    version: int,
    content: PromptContent,
    *,
    tags: list[str],
    message: str,
    created_at: int,
    created_by: str | None,
) -> None:
    """Insert one immutable version row."""
    conn.execute(
        insert(prompt_versions).values(
            prompt_id=prompt_id,
            version=version,
            template=content.template,
            messages=content.messages,
            variables=content.variables,
            model_params=content.model_params,
            config=content.config,
            tags=tags,
            sha256=content.sha256,
            message=message,
            created_at=created_at,
            created_by=created_by,
        )
    )


def _version_labels(conn: Connection, prompt_id: int, versions: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    if not versions:
        return found
    rows = conn.execute(
        select(prompt_labels.c.label, prompt_labels.c.version).where(
            prompt_labels.c.prompt_id == prompt_id, prompt_labels.c.version.in_(versions)
        )
    )
    for row in rows:
        found[row.version].append(row.label)
    return found


def get_version(conn: Connection, prompt: Prompt, version: int) -> PromptVersion | None:
    """One version of ``prompt`` with the labels pointing at it, or None."""
    row = conn.execute(
        select(prompt_versions).where(
            prompt_versions.c.prompt_id == prompt.id, prompt_versions.c.version == version
        )
    ).first()
    if row is None:
        return None
    labels = _version_labels(conn, prompt.id, [version])[version]
    if version == prompt.latest_version:
        labels = [*labels, "latest"]
    return _to_version(row, prompt, labels)


def list_versions(conn: Connection, prompt: Prompt, offset: int, limit: int) -> list[PromptVersion]:
    """A page of ``prompt``'s versions, newest first."""
    rows = conn.execute(
        select(prompt_versions)
        .where(prompt_versions.c.prompt_id == prompt.id)
        .order_by(prompt_versions.c.version.desc())
        .offset(offset)
        .limit(limit)
    ).all()
    labels = _version_labels(conn, prompt.id, [r.version for r in rows])
    for row in rows:
        if row.version == prompt.latest_version:
            labels[row.version].append("latest")
    return [_to_version(r, prompt, labels[r.version]) for r in rows]


# -- labels and their history -------------------------------------------------------------------


def get_label(conn: Connection, prompt: Prompt, label: str) -> Label | None:
    """Where ``label`` points now, or None if it is not set."""
    row = conn.execute(
        select(prompt_labels).where(
            prompt_labels.c.prompt_id == prompt.id, prompt_labels.c.label == label
        )
    ).first()
    if row is None:
        return None
    return Label(
        prompt=prompt.name,
        label=row.label,
        version=row.version,
        updated_at=stored_time(row.updated_at),
        updated_by=row.updated_by,
    )


def put_label(
    conn: Connection, prompt_id: int, label: str, version: int, actor: str | None, now: int
) -> None:
    """Point ``label`` at ``version``, creating it if needed (caller holds the prompt lock)."""
    values = {"version": version, "updated_at": now, "updated_by": actor}
    changed = conn.execute(
        update(prompt_labels)
        .where(prompt_labels.c.prompt_id == prompt_id, prompt_labels.c.label == label)
        .values(**values)
    ).rowcount
    if not changed:
        conn.execute(insert(prompt_labels).values(prompt_id=prompt_id, label=label, **values))


def insert_label_event(
    conn: Connection,
    prompt_id: int,
    label: str,
    *,
    from_version: int | None,
    to_version: int | None,
    actor: str | None,
    reason: str,
    at: int,
) -> None:
    """Append one move of ``label`` to the history."""
    conn.execute(
        insert(prompt_label_events).values(
            prompt_id=prompt_id,
            label=label,
            from_version=from_version,
            to_version=to_version,
            actor=actor,
            reason=reason,
            at=at,
        )
    )


def list_label_events(
    conn: Connection, prompt: Prompt, label: str | None = None, *, newest_first: bool
) -> list[LabelEvent]:
    """The prompt's label moves (of one label when given), in id order either way."""
    query = select(prompt_label_events).where(prompt_label_events.c.prompt_id == prompt.id)
    if label is not None:
        query = query.where(prompt_label_events.c.label == label)
    order = prompt_label_events.c.id.desc() if newest_first else prompt_label_events.c.id.asc()
    return [
        LabelEvent(
            id=r.id,
            prompt=prompt.name,
            label=r.label,
            from_version=r.from_version,
            to_version=r.to_version,
            actor=r.actor,
            reason=r.reason,
            at=stored_time(r.at),
        )
        for r in conn.execute(query.order_by(order))
    ]
