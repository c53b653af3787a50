"""Entities of the access part: projects, users, roles, API keys, sessions and audit events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

DEFAULT_PROJECT = "default"
LOCAL_ACTOR = "local"


class Role(StrEnum):
    """A user's (or key's) role in one project, from least to most privileged."""

    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        """Position in the privilege order (viewer 0 … owner 3)."""
        return list(Role).index(self)

    def at_least(self, other: Role) -> bool:
        """Whether this role includes everything ``other`` may do."""
        return self.rank >= other.rank


@dataclass(frozen=True)
class Project:
    """A project: the unit that owns experiments, models, prompts and datasets."""

    id: int
    name: str
    description: str
    created_at: datetime


@dataclass(frozen=True)
class User:
    """A person who can log in to the UI and own API keys."""

    id: int
    username: str
    is_admin: bool
    created_at: datetime
    disabled: bool = False


@dataclass(frozen=True)
class Membership:
    """A user's role in a project."""

    project: str
    username: str
    role: Role


@dataclass(frozen=True)
class ApiKey:
    """An API key's public facts; the secret is shown once at creation and stored hashed."""

    id: int
    prefix: str
    name: str
    username: str
    project: str
    role: Role
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class Principal:
    """Who is making a request, and what they may do where.

    ``roles`` maps project name to role. An API key's principal has exactly one project; a
    logged-in user has their memberships; a server admin and the local user may do anything.
    """

    name: str
    kind: str  # "local", "user" or "key"
    roles: dict[str, Role] = field(default_factory=dict)
    superuser: bool = False
    user_id: int | None = None
    key_id: int | None = None
    session_id: str | None = None

    def role_in(self, project: str) -> Role | None:
        """The principal's role in ``project`` (owner for superusers), or None."""
        if self.superuser:
            return Role.OWNER
        return self.roles.get(project)


@dataclass(frozen=True)
class AuditEvent:
    """One row of the hash-chained audit log."""

    id: int
    at: datetime
    actor: str
    action: str
    object_type: str
    object_id: str
    project: str | None
    remote_addr: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditVerification:
    """The result of checking the audit chain: ok, or the first bad row and why."""

    ok: bool
    checked: int
    first_bad_id: int | None = None
    reason: str = ""
