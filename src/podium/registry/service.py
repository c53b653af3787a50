"""Use cases of the model registry. Raises ``podium.errors``; knows nothing of HTTP or the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from podium.access.service import ProjectService
from podium.registry.models import Alias, AliasEvent, ModelVersion, RegisteredModel
from podium.store.blobs import BlobStore
from podium.store.engine import Database
from podium.tracking.service import TrackingService


class RegistryService:
    """Registered models, immutable versions, movable aliases with history."""

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        projects: ProjectService,
        tracking: TrackingService,
    ) -> None:
        self._db = db
        self._blobs = blobs
        self._projects = projects
        self._tracking = tracking

    def create_model(self, project: str, name: str, description: str = "") -> RegisteredModel:
        """Register a model name; ``Conflict`` if taken in the project."""
        raise NotImplementedError

    def get_model(self, project: str, name: str) -> RegisteredModel:
        """The model with its aliases; ``NotFound``."""
        raise NotImplementedError

    def list_models(self, project: str, offset: int = 0, limit: int = 100) -> list[RegisteredModel]:
        """The project's models by name."""
        raise NotImplementedError

    def update_model(self, project: str, name: str, description: str) -> RegisteredModel:
        """Change a model's description."""
        raise NotImplementedError

    def create_version(
        self,
        project: str,
        name: str,
        *,
        source_run_id: str | None = None,
        artifact_path: str | None = None,
        artifact_sha256: str | None = None,
        framework: str | None = None,
        metadata: dict[str, Any] | None = None,
        description: str = "",
        model_card: str = "",
        actor: str | None = None,
    ) -> ModelVersion:
        """Add the next version (dense numbering, safe under concurrency)."""
        raise NotImplementedError

    def get_version(self, project: str, name: str, version: int) -> ModelVersion:
        """One version; ``NotFound``."""
        raise NotImplementedError

    def list_versions(
        self, project: str, name: str, offset: int = 0, limit: int = 100
    ) -> list[ModelVersion]:
        """Versions, newest first."""
        raise NotImplementedError

    def open_version_content(self, project: str, name: str, version: int) -> Iterator[bytes]:
        """The version's artifact bytes; ``NotFound`` if it has none."""
        raise NotImplementedError

    def set_alias(
        self, project: str, name: str, alias: str, version: int, *, actor: str | None, reason: str = ""
    ) -> Alias:
        """Point ``alias`` at ``version`` (promote), recording the move."""
        raise NotImplementedError

    def delete_alias(self, project: str, name: str, alias: str, *, actor: str | None) -> None:
        """Remove an alias, recording the move."""
        raise NotImplementedError

    def rollback_alias(
        self, project: str, name: str, alias: str, *, actor: str | None, reason: str = ""
    ) -> Alias:
        """Move ``alias`` back to where it pointed before its last move; ``Conflict`` if none."""
        raise NotImplementedError

    def get_alias(self, project: str, name: str, alias: str) -> Alias:
        """Where the alias points; ``NotFound``."""
        raise NotImplementedError

    def alias_history(
        self, project: str, name: str, alias: str | None = None
    ) -> list[AliasEvent]:
        """Every move (of one alias or all), newest first."""
        raise NotImplementedError
