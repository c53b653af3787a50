"""Use cases of the model registry. Raises ``podium.errors``; knows nothing of HTTP or the CLI.

A registered model lives in a project and owns immutable, densely numbered versions (1, 2, 3 …)
and movable aliases (``production``, ``staging`` …). Every alias move is appended to the alias
history with who, when, from which version to which, and why; ``rollback_alias`` reads that
history as an undo stack (see ``podium.registry.models.rollback_stack``). ``latest`` is a
reserved alias that always resolves to the newest version and can never be set.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from podium.access.models import DEFAULT_PROJECT
from podium.access.service import ProjectService, check_name
from podium.errors import Conflict, InvalidInput, NotFound
from podium.registry import sql
from podium.registry.models import (
    ALIAS_PATTERN,
    LATEST_ALIAS,
    ROLLBACK_REASON_PREFIX,
    Alias,
    AliasEvent,
    ModelVersion,
    RegisteredModel,
    rollback_stack,
)
from podium.store.blobs import BlobStore
from podium.store.clock import now_ms
from podium.store.engine import Database
from podium.tracking.models import RunDetail
from podium.tracking.service import TrackingService

_ALIAS = re.compile(ALIAS_PATTERN)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_FRAMEWORK_MAX = 100


def check_alias(alias: str, *, settable: bool = False) -> str:
    """Return ``alias`` if it is a valid alias name; ``InvalidInput`` otherwise.

    With ``settable``, the reserved ``latest`` is refused too: it always means the newest version.
    """
    if not _ALIAS.match(alias):
        raise InvalidInput(
            f"alias {alias!r} is not valid: use 1-100 letters, digits, '_', '.' or '-', "
            "starting with a letter (e.g. production, staging, champion)",
            field="alias",
        )
    if settable and alias.lower() == LATEST_ALIAS:
        raise InvalidInput(
            f"alias {alias!r} is reserved: '{LATEST_ALIAS}' always resolves to the newest "
            "version and cannot be set or deleted; choose another name such as 'production'",
            field="alias",
        )
    return alias


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

    # -- registered models ----------------------------------------------------------------------

    def create_model(self, project: str, name: str, description: str = "") -> RegisteredModel:
        """Register a model name (the project is created if missing); ``Conflict`` if taken."""
        try:
            check_name("project", project)
        except InvalidInput as exc:  # the rule is the same, but the field at fault is project
            raise InvalidInput(exc.message, field="project") from None
        check_name("model", name)
        _check_text("description", description)
        owner = self._projects.ensure(project)
        with self._db.write() as conn:
            return sql.insert_model(conn, owner.id, owner.name, name, description, now_ms())

    def get_model(self, project: str, name: str) -> RegisteredModel:
        """The model with its aliases; ``NotFound`` naming the project or the model."""
        with self._db.read() as conn:
            return self._model(conn, project, name)

    def list_models(self, project: str, offset: int = 0, limit: int = 100) -> list[RegisteredModel]:
        """The project's models by name (callers paging fetch ``limit + 1``); ``NotFound``.

        The default project exists implicitly (it is created by the first write into it), so
        listing it before then gives no models rather than an error.
        """
        try:
            owner = self._projects.by_name(_possible_name(project, "project"))
        except NotFound:
            if project == DEFAULT_PROJECT:
                return []
            raise
        with self._db.read() as conn:
            return sql.list_models(conn, owner.id, offset, limit)

    def update_model(self, project: str, name: str, description: str) -> RegisteredModel:
        """Change a model's description; returns the updated model."""
        _check_text("description", description)
        with self._db.write() as conn:
            model = self._model(conn, project, name)
            sql.update_model_description(conn, model.id, description, now_ms())
            return self._model(conn, project, name)

    def delete_model(self, project: str, name: str) -> None:
        """Delete a model with all its versions, aliases and alias history; ``NotFound``.

        The version files stay in the blob store: blobs are shared by content (a run's
        artifact and a version may be the same blob).
        """
        with self._db.write() as conn:
            model = self._model(conn, project, name)
            sql.delete_model(conn, model.id)

    # -- versions -------------------------------------------------------------------------------

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
        """Add the model's next version (dense numbering, safe under concurrency).

        The file is a run's artifact (``source_run_id`` + ``artifact_path``: its sha256 is
        copied), a blob already stored (``artifact_sha256``), or none; ``source_run_id`` alone
        records lineage. Raises ``NotFound`` (field named) for an unknown model, run, artifact
        path or blob, and ``InvalidInput`` for a contradictory or malformed request.
        """
        metadata = _check_metadata(metadata)
        for field, text in (
            ("framework", framework),
            ("artifact_path", artifact_path),
            ("description", description),
            ("model_card", model_card),
        ):
            _check_text(field, text)
        if framework is not None and len(framework) > _FRAMEWORK_MAX:
            raise InvalidInput(
                f"framework is {len(framework)} characters; the limit is {_FRAMEWORK_MAX}",
                field="framework",
            )
        # An unknown model is reported before an unknown run, artifact path or blob.
        self.get_model(project, name)
        sha256 = self._resolve_artifact(source_run_id, artifact_path, artifact_sha256)
        now = now_ms()
        try:
            with self._db.write() as conn:
                model = self._model(conn, project, name)
                number = sql.next_version_number(conn, model.id, now)
                if number is None:  # deleted between the lookup and the update
                    raise self._missing_model(project, name)
                sql.insert_version(
                    conn,
                    model.id,
                    number,
                    source_run_id=source_run_id,
                    artifact_sha256=sha256,
                    artifact_path=artifact_path,
                    framework=framework,
                    metadata=metadata,
                    description=description,
                    model_card=model_card,
                    created_at=now,
                    created_by=actor,
                )
                created = sql.get_version(conn, model, number)
        except IntegrityError:
            # The only foreign key the insert can break: the source run was deleted meanwhile.
            raise NotFound(
                f"run {source_run_id!r} was deleted while the version was being created",
                field="source_run_id",
            ) from None
        assert created is not None  # inserted in the same transaction
        return created

    def get_version(self, project: str, name: str, version: int) -> ModelVersion:
        """One version with the aliases pointing at it; ``NotFound``."""
        with self._db.read() as conn:
            return self._version(conn, self._model(conn, project, name), version)

    def get_version_by_alias(self, project: str, name: str, alias: str) -> ModelVersion:
        """The version ``alias`` points at (``latest``: the newest one); ``NotFound``."""
        check_alias(alias)
        with self._db.read() as conn:
            model = self._model(conn, project, name)
            if alias.lower() == LATEST_ALIAS:
                if model.latest_version == 0:
                    raise NotFound(
                        f"model {name!r} has no versions yet, so '{LATEST_ALIAS}' points "
                        f"nowhere; add one with POST /api/v1/models/{name}/versions",
                        field="alias",
                    )
                return self._version(conn, model, model.latest_version)
            found = sql.get_alias(conn, model.id, model.name, alias)
            if found is None:
                raise _missing_alias(model, alias)
            return self._version(conn, model, found.version)

    def list_versions(
        self, project: str, name: str, offset: int = 0, limit: int = 100
    ) -> list[ModelVersion]:
        """Versions, newest first (callers paging fetch ``limit + 1``); ``NotFound``."""
        with self._db.read() as conn:
            return sql.list_versions(conn, self._model(conn, project, name), offset, limit)

    def open_version_content(self, project: str, name: str, version: int) -> Iterator[bytes]:
        """The version's artifact bytes in chunks; ``NotFound`` if it has no artifact."""
        found = self.get_version(project, name, version)
        if found.artifact_sha256 is None:
            raise NotFound(
                f"version {version} of model {name!r} has no artifact to download; it was "
                "registered without artifact_path or artifact_sha256",
                field="version",
            )
        return self._blobs.open(found.artifact_sha256)

    # -- aliases --------------------------------------------------------------------------------

    def set_alias(
        self,
        project: str,
        name: str,
        alias: str,
        version: int,
        *,
        actor: str | None,
        reason: str = "",
    ) -> Alias:
        """Point ``alias`` at ``version`` (promote), recording the move in the history.

        Setting it to the version it already points at changes and records nothing. Raises
        ``InvalidInput`` for a bad or reserved alias and ``NotFound`` for an unknown version.
        """
        check_alias(alias, settable=True)
        _check_text("reason", reason)
        now = now_ms()
        with self._db.write() as conn:
            model = self._locked_model(conn, project, name)
            self._version(conn, model, version)
            current = sql.get_alias(conn, model.id, model.name, alias)
            if current is not None and current.version == version:
                return current
            self._move(
                conn,
                model,
                alias,
                from_version=current.version if current else None,
                to_version=version,
                actor=actor,
                reason=reason,
                now=now,
            )
            return _present(sql.get_alias(conn, model.id, model.name, alias))

    def delete_alias(
        self, project: str, name: str, alias: str, *, actor: str | None, reason: str = ""
    ) -> None:
        """Remove an alias, recording the move (to no version); ``NotFound`` if it is not set."""
        check_alias(alias, settable=True)
        _check_text("reason", reason)
        now = now_ms()
        with self._db.write() as conn:
            model = self._locked_model(conn, project, name)
            current = sql.get_alias(conn, model.id, model.name, alias)
            if current is None:
                raise _missing_alias(model, alias)
            self._move(
                conn,
                model,
                alias,
                from_version=current.version,
                to_version=None,
                actor=actor,
                reason=reason,
                now=now,
            )

    def rollback_alias(
        self, project: str, name: str, alias: str, *, actor: str | None, reason: str = ""
    ) -> Alias:
        """Undo the alias's last move that is not itself undone, recording it as a new move.

        Repeated rollbacks walk back through the history (v3 -> v2 -> v1), skipping moves that
        were already rolled back; a rollback after a delete restores the alias. ``Conflict``
        when there is nothing to go back to (never set, or already at its first version).
        """
        check_alias(alias, settable=True)
        _check_text("reason", reason)
        now = now_ms()
        with self._db.write() as conn:
            model = self._locked_model(conn, project, name)
            events = sql.list_alias_events(conn, model.id, model.name, alias, newest_first=False)
            if not events:
                raise Conflict(
                    f"alias {alias!r} of model {name!r} has never been set, so there is nothing "
                    f"to roll back; point it at a version with "
                    f"`podium models promote {name} VERSION --alias {alias}`",
                    field="alias",
                )
            stack = rollback_stack(events)
            target = stack[-1] if stack else None
            if target is None:
                raise Conflict(
                    f"alias {alias!r} of model {name!r} has no earlier version to roll back to "
                    f"(every move in its history is already undone back to its first version); "
                    f"point it at a version with "
                    f"`podium models promote {name} VERSION --alias {alias}`",
                    field="alias",
                )
            current = sql.get_alias(conn, model.id, model.name, alias)
            note = reason.strip() or f"back to v{target}"
            self._move(
                conn,
                model,
                alias,
                from_version=current.version if current else None,
                to_version=target,
                actor=actor,
                reason=f"{ROLLBACK_REASON_PREFIX} {note}",
                now=now,
            )
            return _present(sql.get_alias(conn, model.id, model.name, alias))

    def get_alias(self, project: str, name: str, alias: str) -> Alias:
        """Where the alias points (``latest``: the newest version); ``NotFound``."""
        check_alias(alias)
        if alias.lower() == LATEST_ALIAS:
            newest = self.get_version_by_alias(project, name, alias)
            return Alias(
                model=newest.model,
                alias=LATEST_ALIAS,
                version=newest.version,
                updated_at=newest.created_at,
                updated_by=newest.created_by,
            )
        with self._db.read() as conn:
            model = self._model(conn, project, name)
            found = sql.get_alias(conn, model.id, model.name, alias)
        if found is None:
            raise _missing_alias(model, alias)
        return found

    def alias_history(self, project: str, name: str, alias: str | None = None) -> list[AliasEvent]:
        """Every move (of one alias, or of all the model's aliases), newest first."""
        if alias is not None:
            check_alias(alias)
        with self._db.read() as conn:
            model = self._model(conn, project, name)
            return sql.list_alias_events(conn, model.id, model.name, alias, newest_first=True)

    # -- internals ------------------------------------------------------------------------------

    def _model(self, conn: Connection, project: str, name: str) -> RegisteredModel:
        if not (_is_possible_name(project) and _is_possible_name(name)):
            # No stored name breaks the naming rule, and some such strings (a NUL byte) would
            # make PostgreSQL fail the query rather than match nothing.
            raise self._missing_model(project, name)
        model = sql.find_model(conn, project, name)
        if model is None:
            raise self._missing_model(project, name)
        return model

    def _locked_model(self, conn: Connection, project: str, name: str) -> RegisteredModel:
        # Lock first, then read: the model as seen here cannot change until we commit.
        possible = _is_possible_name(project) and _is_possible_name(name)
        if not possible or sql.lock_model(conn, project, name) is None:
            raise self._missing_model(project, name)
        return self._model(conn, project, name)

    def _missing_model(self, project: str, name: str) -> NotFound:
        # A missing project is the more useful message (it says how to create the project),
        # except for the default one, which exists implicitly.
        if project != DEFAULT_PROJECT:
            self._projects.by_name(_possible_name(project, "project"))
        return NotFound(
            f"model {name!r} does not exist in project {project!r}; see the registered ones "
            f"with `podium models list --project {project}`, or register it with "
            f"`podium models create {name} --project {project}`",
            field="name",
        )

    @staticmethod
    def _version(conn: Connection, model: RegisteredModel, version: int) -> ModelVersion:
        # Past the column's range nothing can match (and SQLite would overflow, not miss).
        in_range = 1 <= version <= model.latest_version
        found = sql.get_version(conn, model, version) if in_range else None
        if found is None:
            known = f"1..{model.latest_version}" if model.latest_version else "none yet"
            raise NotFound(
                f"model {model.name!r} has no version {version} (its versions: {known})",
                field="version",
            )
        return found

    @staticmethod
    def _move(
        conn: Connection,
        model: RegisteredModel,
        alias: str,
        *,
        from_version: int | None,
        to_version: int | None,
        actor: str | None,
        reason: str,
        now: int,
    ) -> None:
        # The alias row and its history entry change together, in the caller's transaction.
        if to_version is None:
            sql.remove_alias(conn, model.id, alias)
        else:
            sql.put_alias(conn, model.id, alias, to_version, actor, now)
        sql.insert_alias_event(
            conn,
            model.id,
            alias,
            from_version=from_version,
            to_version=to_version,
            actor=actor,
            reason=reason,
            at=now,
        )
        sql.touch_model(conn, model.id, now)

    def _resolve_artifact(
        self, source_run_id: str | None, artifact_path: str | None, artifact_sha256: str | None
    ) -> str | None:
        """The sha256 of the version's file (None for no file), checked to exist."""
        if artifact_path is not None and artifact_sha256 is not None:
            raise InvalidInput(
                "give either source_run_id + artifact_path (a run's artifact) or "
                "artifact_sha256 (a blob already stored), not both",
                field="artifact_sha256",
            )
        if artifact_path is not None and source_run_id is None:
            raise InvalidInput(
                f"artifact_path {artifact_path!r} names a file logged to a run: also give "
                "source_run_id, the id of the run that logged it",
                field="source_run_id",
            )
        if artifact_sha256 is not None:
            if not _SHA256.match(artifact_sha256):
                raise InvalidInput(
                    f"artifact_sha256 {artifact_sha256!r} is not a sha256 digest "
                    "(64 lowercase hex digits)",
                    field="artifact_sha256",
                )
            if not self._blobs.exists(artifact_sha256):
                raise NotFound(
                    f"no blob with sha256 {artifact_sha256} in the blob store; upload the file "
                    "first (log it as a run artifact) or register it with source_run_id + "
                    "artifact_path",
                    field="artifact_sha256",
                )
        if source_run_id is None:
            return artifact_sha256
        run: RunDetail | None = None
        # A NUL byte cannot be in a run id, and PostgreSQL would refuse the query outright.
        if "\x00" not in source_run_id:
            with contextlib.suppress(NotFound):
                run = self._tracking.get_run(source_run_id)
        if run is None:
            raise NotFound(
                f"run {source_run_id!r} does not exist; give the id of an existing run "
                "(GET /api/v1/runs lists them)",
                field="source_run_id",
            )
        if artifact_path is None:
            return artifact_sha256
        for artifact in run.artifacts:
            if artifact.path == artifact_path:
                return artifact.sha256
        paths = sorted(a.path for a in run.artifacts)
        listed = ", ".join(repr(p) for p in paths[:20]) + (" …" if len(paths) > 20 else "")
        raise NotFound(
            f"run {source_run_id!r} has no artifact {artifact_path!r}; "
            + (f"its artifacts: {listed}" if paths else "it has no artifacts; log one first"),
            field="artifact_path",
        )


def _check_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise InvalidInput("metadata must be a JSON object", field="metadata")
    try:
        json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"metadata is not valid JSON: {exc}", field="metadata") from None
    if _holds_nul(metadata):
        raise InvalidInput(
            "metadata contains a NUL character (\\u0000), which cannot be stored; remove it",
            field="metadata",
        )
    return metadata


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


def _check_text(field: str, value: str | None) -> None:
    # Refused on both databases alike: PostgreSQL cannot store NUL in text at all.
    if value is not None and "\x00" in value:
        raise InvalidInput(
            f"{field} contains a NUL character (\\u0000), which cannot be stored; remove it",
            field=field,
        )


def _is_possible_name(name: str) -> bool:
    """Whether ``name`` follows the naming rule every stored project and model name obeys."""
    try:
        check_name("object", name)
    except InvalidInput:
        return False
    return True


def _possible_name(name: str, kind: str) -> str:
    """``name`` if an object could have it; otherwise ``NotFound`` (it cannot exist)."""
    if not _is_possible_name(name):
        raise NotFound(f"{kind} {name!r} does not exist", field=kind)
    return name


def _missing_alias(model: RegisteredModel, alias: str) -> NotFound:
    known = ", ".join(sorted(model.aliases)) or "none"
    return NotFound(
        f"alias {alias!r} is not set on model {model.name!r} (its aliases: {known}); set it "
        f"with `podium models promote {model.name} VERSION --alias {alias}`",
        field="alias",
    )


def _present(alias: Alias | None) -> Alias:
    # Read back inside the transaction that just wrote it, so it is always there.
    assert alias is not None
    return alias
