"""Tables and queries of the access part: projects, users, memberships, keys, sessions, audit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from podium.access.models import ApiKey, AuditEvent, Membership, Project, Role, User
from podium.errors import Conflict, NotFound
from podium.store.clock import from_ms, now_ms, stored_time
from podium.store.columns import BigId, EpochMillis, Json
from podium.store.metadata import metadata

projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at", EpochMillis, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(200), nullable=False, unique=True),
    Column("password_hash", String(300), nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("created_at", EpochMillis, nullable=False),
)

memberships = Table(
    "memberships",
    metadata,
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(16), nullable=False),
    PrimaryKeyConstraint("project_id", "user_id"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("prefix", String(12), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", EpochMillis, nullable=False),
    Column("expires_at", EpochMillis, nullable=True),
    Column("revoked_at", EpochMillis, nullable=True),
    Column("last_used_at", EpochMillis, nullable=True),
)

# UI login sessions; the cookie carries a random token, the table only its sha256.
sessions = Table(
    "sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", EpochMillis, nullable=False),
    Column("expires_at", EpochMillis, nullable=False),
)

# Append-only and hash-chained: each row stores the previous row's hash and its own.
audit_events = Table(
    "audit_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", EpochMillis, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(200), nullable=False),
    Column("object_type", String(100), nullable=False),
    Column("object_id", String(1000), nullable=False),
    Column("project", String(200), nullable=True),
    Column("remote_addr", String(100), nullable=True),
    Column("details", Json, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index(None, "project", "id"),
)


def _to_project(row: Any) -> Project:
    return Project(
        id=row.id,
        name=row.name,
        description=row.description,
        created_at=stored_time(row.created_at),
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


def delete_project(conn: Connection, project_id: int) -> None:
    """Delete a project and, by cascade, everything in it."""
    conn.execute(delete(projects).where(projects.c.id == project_id))


# -- users ------------------------------------------------------------------------------------


def _to_user(row: Any) -> User:
    return User(
        id=row.id,
        username=row.username,
        is_admin=bool(row.is_admin),
        disabled=bool(row.disabled),
        created_at=stored_time(row.created_at),
    )


def insert_user(conn: Connection, username: str, password_hash: str, is_admin: bool) -> User:
    """Insert a user; ``Conflict`` if the username is taken."""
    try:
        with conn.begin_nested():
            new_id = conn.execute(
                insert(users)
                .values(
                    username=username,
                    password_hash=password_hash,
                    is_admin=is_admin,
                    disabled=False,
                    created_at=now_ms(),
                )
                .returning(users.c.id)
            ).scalar_one()
    except IntegrityError:
        raise Conflict(f"user {username!r} already exists", field="username") from None
    return get_user(conn, new_id)


def get_user(conn: Connection, user_id: int) -> User:
    """The user with this id; ``NotFound``."""
    row = conn.execute(select(users).where(users.c.id == user_id)).first()
    if row is None:
        raise NotFound(f"user {user_id} does not exist")
    return _to_user(row)


def find_user(conn: Connection, username: str) -> tuple[User, str] | None:
    """The user and their password hash, or None."""
    row = conn.execute(select(users).where(users.c.username == username)).first()
    return (_to_user(row), row.password_hash) if row is not None else None


def list_users(conn: Connection) -> list[User]:
    """Every user by name."""
    return [_to_user(r) for r in conn.execute(select(users).order_by(users.c.username))]


def count_users(conn: Connection) -> int:
    """How many users exist (zero means single-user local mode is possible)."""
    return int(conn.execute(select(func.count()).select_from(users)).scalar_one())


def set_password(conn: Connection, user_id: int, password_hash: str) -> None:
    """Replace a user's password hash."""
    conn.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))


def set_disabled(conn: Connection, user_id: int, disabled: bool) -> None:
    """Disable or re-enable a user."""
    conn.execute(update(users).where(users.c.id == user_id).values(disabled=disabled))


# -- memberships ------------------------------------------------------------------------------


def set_membership(conn: Connection, project_id: int, user_id: int, role: Role) -> None:
    """Give a user a role in a project, replacing any previous role."""
    changed = conn.execute(
        update(memberships)
        .where(memberships.c.project_id == project_id, memberships.c.user_id == user_id)
        .values(role=role.value)
    ).rowcount
    if not changed:
        conn.execute(
            insert(memberships).values(project_id=project_id, user_id=user_id, role=role.value)
        )


def delete_membership(conn: Connection, project_id: int, user_id: int) -> bool:
    """Remove a membership; whether one existed."""
    result = conn.execute(
        delete(memberships).where(
            memberships.c.project_id == project_id, memberships.c.user_id == user_id
        )
    )
    return bool(result.rowcount)


def roles_of_user(conn: Connection, user_id: int) -> dict[str, Role]:
    """Project name -> role for every project the user belongs to."""
    rows = conn.execute(
        select(projects.c.name, memberships.c.role)
        .join(memberships, memberships.c.project_id == projects.c.id)
        .where(memberships.c.user_id == user_id)
    )
    return {r.name: Role(r.role) for r in rows}


def project_members(conn: Connection, project_id: int) -> list[Membership]:
    """A project's members by username."""
    rows = conn.execute(
        select(projects.c.name, users.c.username, memberships.c.role)
        .join(memberships, memberships.c.project_id == projects.c.id)
        .join(users, users.c.id == memberships.c.user_id)
        .where(projects.c.id == project_id)
        .order_by(users.c.username)
    )
    return [Membership(r.name, r.username, Role(r.role)) for r in rows]


# -- API keys ---------------------------------------------------------------------------------

_KEY_COLUMNS = (
    api_keys.c.id,
    api_keys.c.prefix,
    api_keys.c.name,
    api_keys.c.role,
    api_keys.c.created_at,
    api_keys.c.expires_at,
    api_keys.c.revoked_at,
    api_keys.c.last_used_at,
    users.c.username,
    projects.c.name.label("project"),
)


def _keys_query() -> Any:
    return (
        select(*_KEY_COLUMNS)
        .join(users, users.c.id == api_keys.c.user_id)
        .join(projects, projects.c.id == api_keys.c.project_id)
    )


def _to_key(row: Any) -> ApiKey:
    return ApiKey(
        id=row.id,
        prefix=row.prefix,
        name=row.name,
        username=row.username,
        project=row.project,
        role=Role(row.role),
        created_at=stored_time(row.created_at),
        expires_at=from_ms(row.expires_at),
        revoked_at=from_ms(row.revoked_at),
        last_used_at=from_ms(row.last_used_at),
    )


def insert_api_key(
    conn: Connection,
    *,
    prefix: str,
    key_hash: str,
    name: str,
    user_id: int,
    project_id: int,
    role: Role,
    expires_at: int | None,
) -> ApiKey:
    """Record a new key (its hash only)."""
    new_id = conn.execute(
        insert(api_keys)
        .values(
            prefix=prefix,
            key_hash=key_hash,
            name=name,
            user_id=user_id,
            project_id=project_id,
            role=role.value,
            created_at=now_ms(),
            expires_at=expires_at,
        )
        .returning(api_keys.c.id)
    ).scalar_one()
    return get_api_key(conn, new_id)


def get_api_key(conn: Connection, key_id: int) -> ApiKey:
    """The key with this id; ``NotFound``."""
    row = conn.execute(_keys_query().where(api_keys.c.id == key_id)).first()
    if row is None:
        raise NotFound(f"API key {key_id} does not exist")
    return _to_key(row)


def find_api_key_by_prefix(conn: Connection, prefix: str) -> tuple[ApiKey, str, int] | None:
    """The key with this prefix, its stored hash and owner's user id, or None."""
    row = conn.execute(
        _keys_query()
        .add_columns(api_keys.c.key_hash, api_keys.c.user_id)
        .where(api_keys.c.prefix == prefix)
    ).first()
    return (_to_key(row), row.key_hash, row.user_id) if row is not None else None


def list_api_keys(conn: Connection, user_id: int | None = None) -> list[ApiKey]:
    """Keys (of one user, or all), newest first."""
    query = _keys_query().order_by(api_keys.c.id.desc())
    if user_id is not None:
        query = query.where(api_keys.c.user_id == user_id)
    return [_to_key(r) for r in conn.execute(query)]


def revoke_api_key(conn: Connection, key_id: int) -> None:
    """Mark a key revoked (idempotent: the first revocation time is kept)."""
    conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now_ms())
    )


def touch_api_key(conn: Connection, key_id: int, at: int) -> None:
    """Record when a key was last used."""
    conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=at))


# -- sessions ---------------------------------------------------------------------------------


def insert_session(
    conn: Connection, token_hash: str, user_id: int, csrf_token: str, expires_at: int
) -> None:
    """Record a login session."""
    conn.execute(
        insert(sessions).values(
            token_hash=token_hash,
            user_id=user_id,
            csrf_token=csrf_token,
            created_at=now_ms(),
            expires_at=expires_at,
        )
    )


def find_session(conn: Connection, token_hash: str) -> tuple[int, str, int] | None:
    """(user id, CSRF token, expiry) of a session, or None."""
    row = conn.execute(select(sessions).where(sessions.c.token_hash == token_hash)).first()
    return (row.user_id, row.csrf_token, row.expires_at) if row is not None else None


def delete_session(conn: Connection, token_hash: str) -> None:
    """End a session."""
    conn.execute(delete(sessions).where(sessions.c.token_hash == token_hash))


# -- audit ------------------------------------------------------------------------------------


def _to_event(row: Any) -> AuditEvent:
    return AuditEvent(
        id=row.id,
        at=stored_time(row.at),
        actor=row.actor,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
        project=row.project,
        remote_addr=row.remote_addr,
        details=dict(row.details or {}),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def last_audit_hash(conn: Connection) -> str | None:
    """The hash of the newest audit row, or None for an empty log."""
    row = conn.execute(
        select(audit_events.c.hash).order_by(audit_events.c.id.desc()).limit(1)
    ).first()
    return row.hash if row is not None else None


def insert_audit_event(conn: Connection, values: dict[str, Any]) -> int:
    """Append an audit row; returns its id."""
    return int(
        conn.execute(
            insert(audit_events).values(**values).returning(audit_events.c.id)
        ).scalar_one()
    )


def audit_rows(conn: Connection, after_id: int = 0, limit: int = 10_000) -> list[AuditEvent]:
    """Audit rows in id order, for verification."""
    rows = conn.execute(
        select(audit_events)
        .where(audit_events.c.id > after_id)
        .order_by(audit_events.c.id)
        .limit(limit)
    )
    return [_to_event(r) for r in rows]


def search_audit(
    conn: Connection,
    *,
    project: str | None,
    actor: str | None,
    action: str | None,
    object_type: str | None,
    offset: int,
    limit: int,
) -> list[AuditEvent]:
    """Audit rows, newest first, filtered."""
    query = select(audit_events).order_by(audit_events.c.id.desc()).offset(offset).limit(limit)
    if project is not None:
        query = query.where(audit_events.c.project == project)
    if actor is not None:
        query = query.where(audit_events.c.actor == actor)
    if action is not None:
        query = query.where(audit_events.c.action.like(f"{action}%"))
    if object_type is not None:
        query = query.where(audit_events.c.object_type == object_type)
    return [_to_event(r) for r in conn.execute(query)]


def delete_user_sessions(conn: Connection, user_id: int) -> None:
    """End every session of a user."""
    conn.execute(delete(sessions).where(sessions.c.user_id == user_id))
