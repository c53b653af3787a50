"""Wire models of the access part."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from podium.access.models import Role


class ProjectCreate(BaseModel):
    """Body of ``POST /api/v1/projects``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["chatbot"])
    description: str = Field(default="", max_length=10_000)


class ProjectPublic(BaseModel):
    """A project as the API returns it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    description: str
    created_at: datetime


class UserCreate(BaseModel):
    """Body of ``POST /api/v1/users``."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)
    is_admin: bool = False


class UserUpdate(BaseModel):
    """Body of ``PATCH /api/v1/users/{username}``."""

    model_config = ConfigDict(extra="forbid")

    password: str | None = Field(default=None, min_length=1, max_length=1024)
    disabled: bool | None = None


class UserPublic(BaseModel):
    """A user (never the password hash)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    is_admin: bool
    disabled: bool
    created_at: datetime


class Me(BaseModel):
    """The caller: name, kind of credential and roles per project."""

    name: str
    kind: str
    superuser: bool
    roles: dict[str, Role]


class MemberSet(BaseModel):
    """Body of ``PUT /api/v1/projects/{name}/members/{username}``."""

    model_config = ConfigDict(extra="forbid")

    role: Role


class MemberPublic(BaseModel):
    """A user's role in a project."""

    model_config = ConfigDict(from_attributes=True)

    project: str
    username: str
    role: Role


class KeyCreate(BaseModel):
    """Body of ``POST /api/v1/keys``."""

    model_config = ConfigDict(extra="forbid")

    project: str = Field(default="default", min_length=1, max_length=200)
    role: Role = Role.VIEWER
    name: str = Field(default="", max_length=200)
    expires_in_days: float | None = Field(default=None, gt=0, le=3650)
    username: str | None = Field(
        default=None, description="Owner of the key; a server admin may mint keys for others."
    )


class KeyPublic(BaseModel):
    """An API key's public facts."""

    model_config = ConfigDict(from_attributes=True)

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


class KeyCreated(KeyPublic):
    """A new key with its secret: shown this once, never stored in clear."""

    key: str


class AuditEventPublic(BaseModel):
    """One audit log row."""

    model_config = ConfigDict(from_attributes=True)

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


class AuditVerificationPublic(BaseModel):
    """Result of verifying the audit chain."""

    model_config = ConfigDict(from_attributes=True)

    ok: bool
    checked: int
    first_bad_id: int | None
    reason: str


class AuditHead(BaseModel):
    """A checkpoint of the audit chain."""

    count: int
    head: str
