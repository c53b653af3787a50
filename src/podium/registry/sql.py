"""Tables and queries of the model registry: models, versions, aliases and alias history."""

from __future__ import annotations

from sqlalchemy import (
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

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
