"""Use cases of the data part. Raises ``podium.errors``; knows nothing of HTTP or the CLI.

A dataset lives in a project and owns immutable, densely numbered versions (1, 2, 3 …). An
import parses the upload a batch at a time into a Parquet file on disk, stores it in the blob
store (its sha256 is the version's content id), and only then, in one transaction, allocates
the version number and records the version: a malformed upload fails before anything is
written, so it never leaves a version behind. Importing content identical to the latest
version returns that version with ``created=False``.

Diffs read only the ``row_hash`` and ``key_hash`` columns of both versions; rows whose hash is
in only one version are added or removed, unless a row with the same ``input`` (key) is on the
other side, which makes the pair "changed". Only the row groups holding examples are read whole.

The quality pipeline runs either in the caller's thread (``clean``) or as a background job
(``start_clean``, progress in ``get_job``; see ``podium.data.jobs``). ``import_traces`` reads
the tracing part's traces through its service (see ``podium.data.from_traces``).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, replace
from typing import IO, Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.compute as pc  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]
from sqlalchemy import Connection

from podium.access.service import ProjectService, check_name
from podium.data import formats, sql
from podium.data.from_traces import TraceWalk, trace_records
from podium.data.jobs import JobRegistry
from podium.data.lineage import build_lineage
from podium.data.models import (
    IMPORT_STEP,
    ROW_COLUMNS,
    TRACE_SPANS,
    TRACES_STEP,
    ChangedRow,
    CleanJob,
    Dataset,
    DatasetVersion,
    Lineage,
    Row,
    Step,
    TraceImport,
    VersionDiff,
)
from podium.data.pipeline import PipelineProgress, parse_pipeline, run_pipeline
from podium.data.steps.base import PipelineStep, StepReport
from podium.errors import InvalidInput, NotFound
from podium.store.blobs import BlobStore
from podium.store.clock import from_ms, now_ms
from podium.store.engine import Database
from podium.tracing.service import TracingService

MAX_EXAMPLES = 50
MAX_LINEAGE_VERSIONS = 10_000


def _check_project(project: str) -> None:
    try:
        check_name("project", project)
    except InvalidInput as exc:
        raise InvalidInput(exc.message, field="project") from None


class DataService:
    """Datasets, immutable Parquet versions, imports, exports, row pages and diffs."""

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        projects: ProjectService,
        tracing: TracingService | None = None,
    ) -> None:
        self._db = db
        self._tracing = tracing
        self._blobs = blobs
        self._projects = projects
        # Background pipeline jobs of this process (in memory: see podium.data.jobs).
        self._jobs = JobRegistry()

    # -- datasets -----------------------------------------------------------------------------

    def list_datasets(self, project: str, offset: int = 0, limit: int = 100) -> list[Dataset]:
        """A page of the project's datasets by name; ``NotFound`` for an unknown project."""
        owner = self._projects.by_name(project)
        with self._db.read() as conn:
            return sql.list_datasets(conn, owner.id, offset, limit)

    def get_dataset(self, project: str, name: str) -> Dataset:
        """The dataset; ``NotFound`` naming how to create it."""
        with self._db.read() as conn:
            return self._dataset(conn, project, name)

    def delete_dataset(self, project: str, name: str) -> None:
        """Delete the dataset and its version records (blobs are content-addressed and kept)."""
        with self._db.write() as conn:
            sql.delete_dataset(conn, self._dataset(conn, project, name).id)

    # -- versions -----------------------------------------------------------------------------

    def import_rows(
        self,
        project: str,
        name: str,
        stream: IO[bytes],
        fmt: str = "jsonl",
        *,
        message: str = "",
        description: str = "",
        actor: str | None = None,
    ) -> DatasetVersion:
        """Import ``stream`` (in ``fmt``) as the dataset's next version, creating the dataset.

        Raises ``InvalidInput`` for malformed data (naming the line) before anything is stored.
        """
        _check_project(project)
        check_name("dataset", name)
        formats.check_format(fmt)
        return self._store_import(
            project,
            name,
            formats.read_records(stream, fmt),
            Step(IMPORT_STEP, {"format": fmt}),
            f"the {fmt} upload has no rows; a dataset version needs at least one row",
            message=message,
            description=description,
            actor=actor,
        )

    def import_traces(
        self,
        project: str,
        name: str,
        query: TraceImport,
        *,
        message: str = "",
        actor: str | None = None,
    ) -> DatasetVersion:
        """Import ``project``'s traces matching ``query`` as the dataset's next version.

        One row per trace (or per model call, ``spans="llm"``): input, output as expected, and
        where it came from in metadata (see ``podium.data.from_traces``). ``InvalidInput``
        when no trace matches (nothing is stored then).
        """
        _check_project(project)
        check_name("dataset", name)
        if self._tracing is None:
            raise InvalidInput("this server was built without tracing", field="project")
        if query.spans not in TRACE_SPANS:
            raise InvalidInput(
                f"spans must be one of {', '.join(TRACE_SPANS)}, not {query.spans!r}",
                field="spans",
            )
        walk = TraceWalk()
        params: dict[str, Any] = {k: v for k, v in asdict(query).items() if v not in (None, ())}
        params["tags"] = list(query.tags)
        version = self._store_import(
            project,
            name,
            trace_records(self._tracing, project, query, walk),
            Step(TRACES_STEP, params),
            f"no trace of project {project!r} matches; widen the filters (--since, --model …) "
            "or check that traces arrive with `podium traces list`",
            message=message,
            description="",
            actor=actor,
        )
        return version

    def _store_import(
        self,
        project: str,
        name: str,
        records: Iterable[formats.Record],
        step: Step,
        empty: str,
        *,
        message: str,
        description: str,
        actor: str | None,
    ) -> DatasetVersion:
        """Write ``records`` as Parquet, store the blob, then record the next version (or
        return the latest, ``created=False``, when the content is the same)."""
        with tempfile.TemporaryFile() as parquet:
            rows = formats.write_parquet(formats.batched(records), parquet)
            if rows == 0:
                raise InvalidInput(empty, field="body")
            parquet.seek(0)
            info = self._blobs.put(parquet)
        owner = self._projects.ensure(project)
        now = now_ms()
        with self._db.write() as conn:
            dataset = sql.find_dataset(conn, owner.name, name, lock=True)
            if dataset is None:
                sql.insert_dataset(conn, owner.id, owner.name, name, description, now)
                dataset = self._dataset(conn, owner.name, name)
            if dataset.latest_version:
                latest = self._version(conn, dataset, dataset.latest_version)
                if latest.sha256 == info.sha256:
                    return replace(latest, created=False)
            number = sql.next_version_number(conn, dataset.id, now)
            version = DatasetVersion(
                dataset=dataset.name,
                project=dataset.project,
                version=number,
                sha256=info.sha256,
                size=info.size,
                row_count=rows,
                schema=list(formats.SCHEMA_DESCRIPTION),
                message=message,
                created_at=from_ms(now) or dataset.created_at,
                created_by=actor,
                parents=[],
                steps=[step],
            )
            sql.insert_version(conn, dataset.id, version, now)
            return version

    def list_versions(
        self, project: str, name: str, offset: int = 0, limit: int = 100
    ) -> list[DatasetVersion]:
        """A page of the dataset's versions, newest first."""
        with self._db.read() as conn:
            dataset = self._dataset(conn, project, name)
            return sql.list_versions(conn, dataset, offset, limit)

    def get_version(self, project: str, name: str, version: int | None = None) -> DatasetVersion:
        """One version (the latest when ``version`` is None); ``NotFound``."""
        with self._db.read() as conn:
            dataset = self._dataset(conn, project, name)
            return self._version(conn, dataset, version)

    def lineage(self, project: str, name: str) -> Lineage:
        """The dataset's lineage graph: every version (up to 10,000) and its "made from" edges."""
        with self._db.read() as conn:
            dataset = self._dataset(conn, project, name)
            versions = sql.list_versions(conn, dataset, 0, MAX_LINEAGE_VERSIONS)
        return build_lineage(dataset.name, dataset.project, versions)

    def rows(
        self,
        project: str,
        name: str,
        version: int | None = None,
        *,
        offset: int = 0,
        limit: int = 100,
        search: str | None = None,
    ) -> list[Row]:
        """Up to ``limit`` rows from ``offset`` (of those whose input or expected contain
        ``search``, case-insensitively, when given)."""
        found = self.get_version(project, name, version)
        out: list[Row] = []
        skipped = 0
        with self._open(found) as source:
            for batch in pq.ParquetFile(source).iter_batches(batch_size=formats.BATCH_ROWS):
                if search:
                    keep = pc.or_kleene(
                        pc.match_substring(batch["input"], search, ignore_case=True),
                        pc.match_substring(batch["expected"], search, ignore_case=True),
                    )
                    batch = batch.filter(pc.fill_null(keep, False))
                if skipped + batch.num_rows <= offset:
                    skipped += batch.num_rows
                    continue
                start = max(0, offset - skipped)
                skipped = offset
                for item in batch.slice(start, limit - len(out)).to_pylist():
                    out.append(_row(item))
                if len(out) >= limit:
                    break
        return out

    def export(
        self, project: str, name: str, version: int | None = None, fmt: str = "jsonl"
    ) -> tuple[DatasetVersion, Iterator[bytes]]:
        """The version and its rows encoded as ``fmt``, streamed a batch at a time."""
        formats.check_format(fmt)
        found = self.get_version(project, name, version)

        def chunks() -> Iterator[bytes]:
            with self._open(found) as source:
                yield from formats.export(source, fmt)

        return found, chunks()

    def diff(
        self, project: str, name: str, base: int, other: int, *, examples: int = 5
    ) -> VersionDiff:
        """Rows added, removed and changed from version ``base`` to ``other``."""
        examples = max(0, min(examples, MAX_EXAMPLES))
        with self._db.read() as conn:
            dataset = self._dataset(conn, project, name)
            before = self._version(conn, dataset, base)
            after = self._version(conn, dataset, other)
        with self._open(before) as a_file, self._open(after) as b_file:
            a = pq.read_table(a_file, columns=["row_hash", "key_hash"])
            b = pq.read_table(b_file, columns=["row_hash", "key_hash"])
            a_only = pc.invert(pc.is_in(a["row_hash"], value_set=b["row_hash"]))
            b_only = pc.invert(pc.is_in(b["row_hash"], value_set=a["row_hash"]))
            a_only_keys = pc.filter(a["key_hash"], a_only)
            b_only_keys = pc.filter(b["key_hash"], b_only)
            # A row only on one side whose key is also only on the other side changed.
            a_changed = pc.and_(a_only, pc.is_in(a["key_hash"], value_set=b_only_keys))
            b_changed = pc.and_(b_only, pc.is_in(b["key_hash"], value_set=a_only_keys))
            removed_mask = pc.and_(a_only, pc.invert(a_changed))
            added_mask = pc.and_(b_only, pc.invert(b_changed))
            added = _indices(added_mask)
            removed = _indices(removed_mask)
            changed_after = _indices(b_changed)
            changed_before = _indices(a_changed)
            # Pair each changed example after with the first changed row before that has its key.
            first_before: dict[str, int] = {}
            for index in changed_before:
                first_before.setdefault(a["key_hash"][index].as_py(), index)
            pairs = [(first_before[b["key_hash"][i].as_py()], i) for i in changed_after[:examples]]
            before_rows = _take(a_file, removed[:examples] + [p[0] for p in pairs])
            after_rows = _take(b_file, added[:examples] + [p[1] for p in pairs])
            n_changed = len(changed_after)
            return VersionDiff(
                dataset=dataset.name,
                base=base,
                other=other,
                added=len(added),
                removed=len(removed),
                changed=n_changed,
                unchanged=b.num_rows - len(added) - n_changed,
                added_examples=[after_rows[i] for i in added[:examples]],
                removed_examples=[before_rows[i] for i in removed[:examples]],
                changed_examples=[ChangedRow(before_rows[x], after_rows[y]) for x, y in pairs],
            )

    def clean(
        self,
        project: str,
        name: str,
        steps: Sequence[Mapping[str, Any]],
        *,
        version: int | None = None,
        message: str = "",
        actor: str | None = None,
    ) -> tuple[DatasetVersion, list[StepReport]]:
        """Run the quality pipeline ``steps`` over a version (the latest by default).

        The result becomes the next version, with the source as its parent and the steps (with
        their parameters) as its lineage. Bad steps raise ``InvalidInput`` before any work; a
        failure while running stores nothing.
        """
        pipeline = parse_pipeline(steps)
        source = self.get_version(project, name, version)
        return self._run_clean(pipeline, source, message, actor, None)

    def start_clean(
        self,
        project: str,
        name: str,
        steps: Sequence[Mapping[str, Any]],
        *,
        version: int | None = None,
        message: str = "",
        actor: str | None = None,
    ) -> CleanJob:
        """Start ``clean`` in the background and return its job at once.

        The steps and the source version are checked first (``InvalidInput``, ``NotFound``);
        errors while running end up in the job's ``error``.
        """
        pipeline = parse_pipeline(steps)
        source = self.get_version(project, name, version)
        return self._jobs.start(
            project=source.project,
            dataset=source.dataset,
            source_version=source.version,
            steps=[step.name for step in pipeline],
            actor=actor,
            work=lambda progress: self._run_clean(pipeline, source, message, actor, progress),
        )

    def get_job(self, job_id: str) -> CleanJob:
        """A pipeline job's progress and, once finished, its result; ``NotFound``."""
        return self._jobs.get(job_id)

    def job_project(self, job_id: str) -> str:
        """The project of a pipeline job (for permission checks); ``NotFound``."""
        return self._jobs.get(job_id).project

    def _run_clean(
        self,
        pipeline: list[PipelineStep],
        source: DatasetVersion,
        message: str,
        actor: str | None,
        progress: PipelineProgress | None,
    ) -> tuple[DatasetVersion, list[StepReport]]:
        project, name = source.project, source.dataset
        with self._open(source) as local:
            table = pq.read_table(local, columns=list(ROW_COLUMNS))
        result, reports = run_pipeline(table, pipeline, progress)
        if result.num_rows == 0:
            raise InvalidInput(
                "the pipeline removed every row; loosen its filters (a version needs a row)",
                field="steps",
            )
        records = (
            (row["input"], row["expected"], row["metadata"])
            for batch in result.to_batches(max_chunksize=formats.BATCH_ROWS)
            for row in batch.to_pylist()
        )
        with tempfile.TemporaryFile() as parquet:
            rows = formats.write_parquet(formats.batched(records), parquet)
            parquet.seek(0)
            info = self._blobs.put(parquet)
        lineage = [Step(step.name, dict(step.params)) for step in pipeline]
        now = now_ms()
        with self._db.write() as conn:
            dataset = sql.find_dataset(conn, project, name, lock=True)
            if dataset is None:
                raise NotFound(f"dataset {name!r} was deleted while the pipeline ran")
            number = sql.next_version_number(conn, dataset.id, now)
            created = DatasetVersion(
                dataset=dataset.name,
                project=dataset.project,
                version=number,
                sha256=info.sha256,
                size=info.size,
                row_count=rows,
                schema=list(formats.SCHEMA_DESCRIPTION),
                message=message,
                created_at=from_ms(now) or dataset.created_at,
                created_by=actor,
                parents=[source.version],
                steps=lineage,
            )
            sql.insert_version(conn, dataset.id, created, now)
        return created, reports

    # -- internals ----------------------------------------------------------------------------

    def _dataset(self, conn: Connection, project: str, name: str) -> Dataset:
        found = sql.find_dataset(conn, project, name)
        if found is None:
            raise NotFound(
                f"dataset {name!r} does not exist in project {project!r}; import it with "
                f"`podium data import {name} FILE --project {project}`",
                field="name",
            )
        return found

    def _version(self, conn: Connection, dataset: Dataset, version: int | None) -> DatasetVersion:
        number = dataset.latest_version if version is None else version
        found = sql.get_version(conn, dataset, number) if number else None
        if found is None:
            latest = dataset.latest_version
            raise NotFound(
                f"dataset {dataset.name!r} has no version {number}; its versions are 1..{latest}"
                if latest
                else f"dataset {dataset.name!r} has no versions yet",
                field="version",
            )
        return found

    @contextmanager
    def _open(self, version: DatasetVersion) -> Iterator[IO[bytes]]:
        """The version's Parquet blob copied to a local temp file (Parquet needs seeks)."""
        with tempfile.TemporaryFile() as local:
            chunks = self._blobs.open(version.sha256)
            try:
                for chunk in chunks:
                    local.write(chunk)
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()
            local.seek(0)
            yield local


def _indices(mask: Any) -> list[int]:
    return [int(i) for i in pc.indices_nonzero(mask).to_pylist()]


def _row(item: dict[str, Any]) -> Row:
    return Row(
        input=item["input"],
        expected=item["expected"],
        metadata=json.loads(item["metadata"]),
        row_hash=item["row_hash"],
    )


def _take(source: IO[bytes], indices: list[int]) -> dict[int, Row]:
    """The rows at ``indices``, reading only the row groups that hold them."""
    if not indices:
        return {}
    source.seek(0)
    parquet = pq.ParquetFile(source)
    starts = []
    total = 0
    for group in range(parquet.metadata.num_row_groups):
        starts.append(total)
        total += parquet.metadata.row_group(group).num_rows
    wanted = sorted(set(indices))
    out: dict[int, Row] = {}
    columns = [*ROW_COLUMNS, "row_hash"]
    for group, start in enumerate(starts):
        end = start + parquet.metadata.row_group(group).num_rows
        inside = [i for i in wanted if start <= i < end]
        if not inside:
            continue
        table: pa.Table = parquet.read_row_group(group, columns=columns)
        for i, item in zip(
            inside, table.take([i - start for i in inside]).to_pylist(), strict=True
        ):
            out[i] = _row(item)
    return out
