"""Tables and queries of the access part: projects (users, roles and keys come later)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, Integer, String, Table, Text, insert, select
from sqlalchemy.exc import IntegrityError

from podium.access.models import Project
from podium.errors import Conflict, NotFound
from podium.store.clock import from_ms, now_ms
from podium.store.columns import EpochMillis
from podium.store.metadata import metadata

projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", EpochMillis, nullable=False),
)


def _to_project(row: Any) -> Project:
    return Project(
        id=row.id,
        name=row.name,
        description=row.description,
        created_at=from_ms(row.created_at) or datetime.min,
    )


def insert_project(conn: Connection, name: str, description: str) -> Project:
    """Insert a project; raises ``Conflict`` when the name is taken."""
    try:
        with conn.begin_nested():
            new_id = conn.execute(
                insert(projects)
                .values(name=name, description=description, created_at=now_ms())
                .returning(projects.c.id)
            ).scalar_one()
    except IntegrityError:
        raise Conflict(f"project {name!r} already exists", field="name") from None
    return get_project(conn, new_id)


def get_project(conn: Connection, project_id: int) -> Project:
    """The project with this id; raises ``NotFound``."""
    row = conn.execute(select(projects).where(projects.c.id == project_id)).first()
    if row is None:
        raise NotFound(f"project {project_id} does not exist")
    return _to_project(row)


def find_project(conn: Connection, name: str) -> Project | None:
    """The project with this name, or None."""
    row = conn.execute(select(projects).where(projects.c.name == name)).first()
    return _to_project(row) if row is not None else None


def list_projects(conn: Connection) -> list[Project]:
    """All projects by name."""
    return [_to_project(r) for r in conn.execute(select(projects).order_by(projects.c.name))]
