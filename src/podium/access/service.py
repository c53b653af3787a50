"""Use cases of the access part: projects (users, roles and API keys come with access control)."""

from __future__ import annotations

import re

from podium.access import sql
from podium.access.models import DEFAULT_PROJECT, Project
from podium.errors import InvalidInput, NotFound
from podium.store.engine import Database

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")


def check_name(kind: str, name: str) -> str:
    """Return ``name`` if it is a valid object name; raise ``InvalidInput`` naming the rule."""
    if not _NAME.match(name):
        raise InvalidInput(
            f"{kind} name {name!r} is not valid: use 1-200 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
            field="name",
        )
    return name


class ProjectService:
    """Creates and looks up projects."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, name: str, description: str = "") -> Project:
        """Create a project; raises ``Conflict`` if the name is taken."""
        check_name("project", name)
        with self._db.write() as conn:
            return sql.insert_project(conn, name, description)

    def get(self, project_id: int) -> Project:
        """The project with this id; raises ``NotFound``."""
        with self._db.read() as conn:
            return sql.get_project(conn, project_id)

    def by_name(self, name: str) -> Project:
        """The project with this name; raises ``NotFound`` naming how to create it."""
        with self._db.read() as conn:
            project = sql.find_project(conn, name)
        if project is None:
            raise NotFound(
                f"project {name!r} does not exist; create it with POST /api/v1/projects "
                f"or use --project {DEFAULT_PROJECT}"
            )
        return project

    def ensure(self, name: str) -> Project:
        """The project with this name, created if missing (safe under concurrency)."""
        check_name("project", name)
        with self._db.read() as conn:
            found = sql.find_project(conn, name)
        if found is not None:
            return found
        with self._db.write() as conn:
            found = sql.find_project(conn, name)
            return found if found is not None else sql.insert_project(conn, name, "")

    def list(self) -> list[Project]:
        """Every project, by name."""
        with self._db.read() as conn:
            return sql.list_projects(conn)
