"""REST routes of the data part: ``/api/v1/datasets``.

Datasets are addressed by name inside a project, given as the ``project`` query parameter
(``default`` when omitted); versions by number (the latest when omitted). Versions are
immutable: no route changes one.

- ``PUT /datasets/{name}/content?format=jsonl|csv|parquet|chat`` streams the request body to a
  spooled temp file, then imports it as the next version (creating the dataset). Its path ends
  in ``/content`` so the JSON body-size limit skips it.
- ``POST /datasets/{name}/import-traces`` imports the project's traces (filtered) as the next
  version: input, output as expected, trace id, model, prompt and scores in metadata.
- ``GET /datasets/{name}/content?version=&format=`` streams a version back in any format.
- ``POST /datasets/{name}/clean`` runs the quality pipeline (``{project, version, steps}``)
  and records the result as the next version with its lineage; with ``?wait=false`` it starts
  a background job instead (202) whose progress ``GET /datasets/jobs/{job_id}`` reads.
- ``GET /datasets/{name}/lineage`` is the lineage graph: versions as nodes, edges labelled by
  the steps that made each version from its parent.
- ``GET /datasets/{name}/rows`` pages through a version's rows (with ``search``);
  ``GET /datasets/{name}/diff?base=&other=`` compares two versions by their row hashes.

Every route declares its permission: ``data:read`` to look, ``data:write`` to import, clean
or delete.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse

from podium.access.auth import current_actor
from podium.access.authz import Permission, from_body, from_path, from_query
from podium.access.models import DEFAULT_PROJECT
from podium.data.models import CleanJob, Dataset, DatasetVersion, Row, TraceImport, VersionDiff
from podium.data.schemas import (
    ChangedRowPublic,
    CleanRequest,
    CleanResult,
    DatasetPublic,
    DiffPublic,
    JobPublic,
    JobStepPublic,
    LineageEdgePublic,
    LineagePublic,
    RowPublic,
    StepPublic,
    StepReportPublic,
    TraceImportRequest,
    VersionPublic,
)
from podium.data.service import DataService
from podium.store.blobs import CHUNK_SIZE
from podium.store.clock import to_ms
from podium.wire import Page, page_of

_SPOOL_MAX_MEMORY = 8 * CHUNK_SIZE
MEDIA_TYPES = {
    "jsonl": "application/x-ndjson",
    "chat": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}

ProjectParam = Annotated[
    str, Query(min_length=1, max_length=200, description="Project that owns the dataset.")
]
FormatParam = Annotated[
    str, Query(pattern="^(jsonl|csv|parquet|chat)$", description="jsonl, csv, parquet or chat.")
]
VersionPath = Annotated[int, Path(ge=1, description="Version number (1, 2, 3 …).")]
VersionQuery = Annotated[
    int | None, Query(ge=1, description="Version number; the latest when omitted.")
]
Offset = Annotated[
    int, Query(ge=0, le=1_000_000_000, description="Items to skip; pass back next_offset.")
]
Limit = Annotated[int, Query(ge=1, le=1000, description="Largest page size.")]
Actor = Annotated[str, Depends(current_actor)]


def dataset_public(found: Dataset) -> DatasetPublic:
    """The wire form of a dataset."""
    return DatasetPublic.model_validate(found, from_attributes=True)


def version_public(found: DatasetVersion) -> VersionPublic:
    """The wire form of a version."""
    return VersionPublic(
        dataset=found.dataset,
        project=found.project,
        version=found.version,
        sha256=found.sha256,
        size=found.size,
        row_count=found.row_count,
        schema_=found.schema,
        message=found.message,
        created_at=found.created_at,
        created_by=found.created_by,
        parents=found.parents,
        steps=[StepPublic(name=s.name, params=s.params) for s in found.steps],
        created=found.created,
    )


def row_public(found: Row) -> RowPublic:
    """The wire form of a row."""
    return RowPublic.model_validate(found, from_attributes=True)


def diff_public(found: VersionDiff) -> DiffPublic:
    """The wire form of a diff."""
    return DiffPublic(
        dataset=found.dataset,
        base=found.base,
        other=found.other,
        added=found.added,
        removed=found.removed,
        changed=found.changed,
        unchanged=found.unchanged,
        added_examples=[row_public(r) for r in found.added_examples],
        removed_examples=[row_public(r) for r in found.removed_examples],
        changed_examples=[
            ChangedRowPublic(before=row_public(c.before), after=row_public(c.after))
            for c in found.changed_examples
        ],
    )


def job_public(found: CleanJob) -> JobPublic:
    """The wire form of a pipeline job."""
    done = sum(1 for step in found.steps if step.state == "done")
    return JobPublic(
        id=found.id,
        project=found.project,
        dataset=found.dataset,
        source_version=found.source_version,
        state=found.state,
        progress=1.0 if found.state == "succeeded" else done / max(1, len(found.steps)),
        steps=[JobStepPublic.model_validate(s, from_attributes=True) for s in found.steps],
        created_at=found.created_at,
        finished_at=found.finished_at,
        created_by=found.created_by,
        version=version_public(found.result) if found.result is not None else None,
        reports=[StepReportPublic.model_validate(r, from_attributes=True) for r in found.reports],
        error=found.error,
        error_status=found.error_status,
    )


def build_router(data: DataService) -> APIRouter:
    """The datasets router, bound to its service."""
    router = APIRouter(prefix="/datasets", tags=["data"])
    read = [Depends(Permission("data", "read", project=from_query()))]
    write = [Depends(Permission("data", "write", project=from_query()))]
    clean = [Depends(Permission("data", "write", project=from_body()))]

    @router.get("", response_model=Page[DatasetPublic], dependencies=read)
    def list_datasets(
        project: ProjectParam = DEFAULT_PROJECT, offset: Offset = 0, limit: Limit = 100
    ) -> Page[DatasetPublic]:
        """The project's datasets by name, one page at a time."""
        found = data.list_datasets(project, offset, limit + 1)
        return page_of([dataset_public(d) for d in found], offset, limit)

    @router.get("/{name}", response_model=DatasetPublic, dependencies=read)
    def get_dataset(name: str, project: ProjectParam = DEFAULT_PROJECT) -> DatasetPublic:
        """One dataset with its latest version number."""
        return dataset_public(data.get_dataset(project, name))

    @router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, dependencies=write)
    def delete_dataset(name: str, project: ProjectParam = DEFAULT_PROJECT) -> Response:
        """Delete the dataset and its version records."""
        data.delete_dataset(project, name)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.put(
        "/{name}/content",
        status_code=status.HTTP_201_CREATED,
        response_model=VersionPublic,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            }
        },
        dependencies=write,
    )
    async def import_version(
        name: str,
        request: Request,
        actor: Actor,
        response: Response,
        project: ProjectParam = DEFAULT_PROJECT,
        format: FormatParam = "jsonl",
        message: Annotated[str, Query(max_length=10_000, description="Commit message.")] = "",
    ) -> VersionPublic:
        """Import the raw body as the next version: 201, or 200 with ``created: false`` if it
        equals the latest. Malformed rows give 422 naming the line; nothing is stored."""
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_MAX_MEMORY) as spool:
            async for chunk in request.stream():
                if chunk:
                    await run_in_threadpool(spool.write, chunk)
            spool.seek(0)
            found = await run_in_threadpool(
                lambda: data.import_rows(project, name, spool, format, message=message, actor=actor)
            )
        if not found.created:
            response.status_code = status.HTTP_200_OK
        return version_public(found)

    @router.post(
        "/{name}/import-traces",
        status_code=status.HTTP_201_CREATED,
        response_model=VersionPublic,
        dependencies=clean,
    )
    def import_traces(
        name: str, body: TraceImportRequest, actor: Actor, response: Response
    ) -> VersionPublic:
        """Import the project's traces matching the filters as the next version: 201, or 200
        with ``created: false`` when the rows equal the latest version's. 422 when none match."""
        query = TraceImport(
            since=to_ms(body.since) if body.since else None,
            until=to_ms(body.until) if body.until else None,
            model=body.model,
            prompt_name=body.prompt_name,
            prompt_version=body.prompt_version,
            tags=tuple(body.tags),
            score_name=body.score_name,
            min_score=body.min_score,
            max_score=body.max_score,
            errors=body.errors,
            spans=body.spans,
            limit=body.limit,
        )
        found = data.import_traces(body.project, name, query, message=body.message, actor=actor)
        if not found.created:
            response.status_code = status.HTTP_200_OK
        return version_public(found)

    @router.get(
        "/{name}/content",
        response_class=StreamingResponse,
        responses={200: {"content": {"application/x-ndjson": {}, "text/csv": {}}}},
        dependencies=read,
    )
    def export_version(
        name: str,
        project: ProjectParam = DEFAULT_PROJECT,
        version: VersionQuery = None,
        format: FormatParam = "jsonl",
    ) -> StreamingResponse:
        """The version's rows in ``format``, streamed; its number in ``X-Podium-Version``."""
        found, chunks = data.export(project, name, version, format)
        return StreamingResponse(
            _closing(chunks),
            media_type=MEDIA_TYPES[format],
            headers={"X-Podium-Version": str(found.version), "X-Podium-Sha256": found.sha256},
        )

    @router.get("/{name}/versions", response_model=Page[VersionPublic], dependencies=read)
    def list_versions(
        name: str, project: ProjectParam = DEFAULT_PROJECT, offset: Offset = 0, limit: Limit = 100
    ) -> Page[VersionPublic]:
        """The dataset's versions, newest first, with their lineage."""
        found = data.list_versions(project, name, offset, limit + 1)
        return page_of([version_public(v) for v in found], offset, limit)

    @router.get("/{name}/versions/{version}", response_model=VersionPublic, dependencies=read)
    def get_version(
        name: str, version: VersionPath, project: ProjectParam = DEFAULT_PROJECT
    ) -> VersionPublic:
        """One version with its sha256, row count, schema and lineage."""
        return version_public(data.get_version(project, name, version))

    @router.get("/{name}/lineage", response_model=LineagePublic, dependencies=read)
    def get_lineage(name: str, project: ProjectParam = DEFAULT_PROJECT) -> LineagePublic:
        """The lineage graph: every version as a node, parent → child edges with their steps."""
        found = data.lineage(project, name)
        return LineagePublic(
            dataset=found.dataset,
            project=found.project,
            nodes=[version_public(v) for v in found.nodes],
            edges=[
                LineageEdgePublic(
                    parent=e.parent,
                    child=e.child,
                    steps=[StepPublic(name=s.name, params=s.params) for s in e.steps],
                )
                for e in found.edges
            ],
        )

    @router.get("/{name}/rows", response_model=Page[RowPublic], dependencies=read)
    def list_rows(
        name: str,
        project: ProjectParam = DEFAULT_PROJECT,
        version: VersionQuery = None,
        search: Annotated[
            str | None, Query(max_length=500, description="Substring of input or expected.")
        ] = None,
        offset: Offset = 0,
        limit: Limit = 100,
    ) -> Page[RowPublic]:
        """A page of the version's rows (matching ``search`` when given)."""
        found = data.rows(
            project, name, version, offset=offset, limit=limit + 1, search=search or None
        )
        return page_of([row_public(r) for r in found], offset, limit)

    @router.get("/{name}/diff", response_model=DiffPublic, dependencies=read)
    def diff_versions(
        name: str,
        base: Annotated[int, Query(ge=1, description="The older version.")],
        other: Annotated[int, Query(ge=1, description="The newer version.")],
        project: ProjectParam = DEFAULT_PROJECT,
        examples: Annotated[int, Query(ge=0, le=50, description="Examples per kind.")] = 5,
    ) -> DiffPublic:
        """Rows added, removed and changed from ``base`` to ``other``, with examples."""
        return diff_public(data.diff(project, name, base, other, examples=examples))

    @router.post(
        "/{name}/clean",
        status_code=status.HTTP_201_CREATED,
        response_model=CleanResult,
        responses={202: {"model": JobPublic, "description": "With wait=false: the job."}},
        dependencies=clean,
    )
    def clean_version(
        name: str,
        body: CleanRequest,
        actor: Actor,
        wait: Annotated[
            bool,
            Query(description="false: start a background job and answer 202 with it at once."),
        ] = True,
    ) -> CleanResult | JSONResponse:
        """Run the quality pipeline over a version; the result is the next version (201), or
        with ``wait=false`` the job running it (202, its URL in ``Location``)."""
        spec = [step.model_dump() for step in body.steps]
        if not wait:
            job = data.start_clean(
                body.project,
                name,
                spec,
                version=body.version,
                message=body.message,
                actor=actor,
            )
            return JSONResponse(
                job_public(job).model_dump(mode="json"),
                status_code=status.HTTP_202_ACCEPTED,
                headers={"Location": f"/api/v1/datasets/jobs/{job.id}"},
            )
        created, reports = data.clean(
            body.project, name, spec, version=body.version, message=body.message, actor=actor
        )
        return CleanResult(
            version=version_public(created),
            reports=[StepReportPublic.model_validate(r, from_attributes=True) for r in reports],
        )

    # Registered after the dataset routes so that a dataset named "jobs" keeps its
    # sub-resources (/datasets/jobs/rows …): only an id no dataset route takes lands here.
    @router.get(
        "/jobs/{job_id}",
        response_model=JobPublic,
        dependencies=[
            Depends(Permission("data", "read", project=from_path("job_id", data.job_project)))
        ],
    )
    def get_job(
        job_id: Annotated[str, Path(max_length=64, description="The job's id.")],
    ) -> JobPublic:
        """A pipeline job's progress per step and, once finished, its version and reports."""
        return job_public(data.get_job(job_id))

    return router


def _closing(chunks: Iterator[bytes]) -> Iterator[bytes]:
    # Close the export generator (and its temp file) even when the client disconnects.
    try:
        yield from chunks
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
