"""REST routes of experiment tracking: ``/experiments`` and ``/runs`` (mounted under ``/api/v1``).

Schema in, service call, schema out; no SQL here. Three routes are shaped by performance:

- ``POST /runs/{run_id}/metrics`` is the hot path. It reads the raw body and validates it in one
  pass with a pydantic ``TypeAdapter`` (``validate_json``: parse and validate in Rust) instead of
  FastAPI's ``json.loads`` + model validation; errors are still 422 problems naming the field
  (``metrics.3.value``).
- ``PUT /runs/{run_id}/artifacts/content?path=…`` streams the request body into a spooled
  temporary file (memory up to 8 MiB, then disk) and hands that to the blob store: an upload is
  never held in memory whole. Its path ends in ``/content`` so the JSON body-size limit skips it.
- ``GET /runs/{run_id}/artifacts/content?path=…`` streams the blob back.

Metric values may be NaN or ±infinity, which JSON cannot express: responses write them as the
strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (pydantic's ``ser_json_inf_nan="strings"``,
set on the schemas), which ``float()`` in Python and ``Number()`` in JavaScript read back.

Metric keys may contain ``/`` and spaces, so ``GET /runs/{run_id}/metrics/{key}`` takes the rest
of the path as the key (percent-encode spaces, ``?`` and ``#``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, TypeAdapter, ValidationError

from podium.access.auth import current_actor
from podium.access.authz import Permission, from_body, from_path, from_query, from_query_list
from podium.errors import InvalidInput
from podium.store.blobs import CHUNK_SIZE
from podium.store.clock import now_ms
from podium.tracking.models import MetricPoint, Run
from podium.tracking.schemas import (
    ArtifactPublic,
    ExperimentCreate,
    ExperimentPublic,
    MetricHistory,
    MetricHistoryPoint,
    MetricsLog,
    MetricsLogged,
    ParamsLog,
    RunComparison,
    RunCreate,
    RunDetail,
    RunPublic,
    RunSearch,
    RunUpdate,
    TagsSet,
)
from podium.tracking.service import TrackingService
from podium.wire import Page, page_of

_METRICS_BODY = TypeAdapter(MetricsLog)
_SPOOL_MAX_MEMORY = 8 * CHUNK_SIZE
Offset = Annotated[int, Query(ge=0, description="Items to skip.")]
Limit = Annotated[int, Query(ge=1, le=1000, description="Page size.")]


def run_public(run: Run) -> RunPublic:
    """The wire form of a run."""
    return RunPublic.model_validate(run, from_attributes=True)


def build_router(service: TrackingService) -> APIRouter:
    """The tracking router, bound to its service."""
    router = APIRouter(tags=["tracking"])
    run_of = from_path("run_id", service.project_of_run)
    read_run = Depends(Permission("tracking", "read", project=run_of))
    write_run = Depends(Permission("tracking", "write", project=run_of))
    read_query = Depends(Permission("tracking", "read", project=from_query()))
    read_body = Depends(Permission("tracking", "read", project=from_body()))
    write_body = Depends(Permission("tracking", "write", project=from_body()))

    # -- experiments ---------------------------------------------------------------------------

    @router.post(
        "/experiments",
        status_code=status.HTTP_201_CREATED,
        response_model=ExperimentPublic,
        dependencies=[write_body],
    )
    def create_experiment(body: ExperimentCreate) -> ExperimentPublic:
        """Create an experiment (409 if the project already has one with this name)."""
        created = service.create_experiment(body.project, body.name, body.description)
        return ExperimentPublic.model_validate(created, from_attributes=True)

    @router.get("/experiments", response_model=Page[ExperimentPublic], dependencies=[read_query])
    def list_experiments(
        project: str = "default", offset: Offset = 0, limit: Limit = 100
    ) -> Page[ExperimentPublic]:
        """A project's experiments by name."""
        found = service.list_experiments(project, offset, limit + 1)
        items = [ExperimentPublic.model_validate(e, from_attributes=True) for e in found]
        return page_of(items, offset, limit)

    @router.get(
        "/experiments/{experiment_id}",
        response_model=ExperimentPublic,
        dependencies=[
            Depends(
                Permission(
                    "tracking",
                    "read",
                    project=from_path("experiment_id", service.project_of_experiment),
                )
            )
        ],
    )
    def get_experiment(experiment_id: int) -> ExperimentPublic:
        """One experiment."""
        found = service.get_experiment(experiment_id)
        return ExperimentPublic.model_validate(found, from_attributes=True)

    # -- runs: listing and comparing (declared before /runs/{run_id}) --------------------------

    @router.post("/runs/search", response_model=Page[RunPublic], dependencies=[read_body])
    def search_runs(body: RunSearch) -> Page[RunPublic]:
        """Runs matching a filter, sorted (see docs/tracking.md for the filter language)."""
        found = service.search_runs(
            project=body.project,
            experiments=body.experiments,
            filter=body.filter,
            order_by=body.order_by,
            offset=body.offset,
            limit=body.limit + 1,
        )
        return page_of([run_public(r) for r in found], body.offset, body.limit)

    @router.get("/runs", response_model=Page[RunPublic], dependencies=[read_query])
    def list_runs(
        project: str = "default",
        experiment: Annotated[
            list[str] | None, Query(description="Experiment names (repeatable); all when absent.")
        ] = None,
        filter: Annotated[
            str, Query(max_length=10_000, description="e.g. metrics.loss < 0.5")
        ] = "",
        order_by: Annotated[
            list[str] | None, Query(description="e.g. `metrics.loss ASC` (repeatable).")
        ] = None,
        offset: Offset = 0,
        limit: Limit = 100,
    ) -> Page[RunPublic]:
        """Runs of a project, filtered and sorted like ``POST /runs/search``."""
        found = service.search_runs(
            project=project,
            experiments=experiment,
            filter=filter,
            order_by=order_by or (),
            offset=offset,
            limit=limit + 1,
        )
        return page_of([run_public(r) for r in found], offset, limit)

    @router.get(
        "/runs/compare",
        response_model=RunComparison,
        dependencies=[
            Depends(
                Permission(
                    "tracking", "read", project=from_query_list("run_ids", service.project_of_run)
                )
            )
        ],
    )
    def compare_runs(
        run_ids: Annotated[list[str], Query(description="2 to 50 run ids (repeat the parameter).")],
    ) -> RunComparison:
        """Params and latest metrics of several runs side by side."""
        found = service.compare_runs(run_ids)
        return RunComparison(
            runs=[run_public(r) for r in found.runs],
            params=found.params,
            metrics=found.metrics,
            differing_params=found.differing_params,
        )

    # -- one run -------------------------------------------------------------------------------

    @router.post(
        "/runs",
        status_code=status.HTTP_201_CREATED,
        response_model=RunPublic,
        dependencies=[write_body],
    )
    def create_run(body: RunCreate, actor: str = Depends(current_actor)) -> RunPublic:
        """Start a run; its experiment (and project) are created if missing."""
        run = service.create_run(
            project=body.project,
            experiment=body.experiment,
            name=body.name,
            parent_run_id=body.parent_run_id,
            git_commit=body.git_commit,
            command=body.command,
            user=body.user if body.user is not None else actor,
            start_time=body.start_time,
            params=body.params,
            tags=body.tags,
        )
        return run_public(run)

    @router.get("/runs/{run_id}", response_model=RunDetail, dependencies=[read_run])
    def get_run(run_id: str) -> RunDetail:
        """A run with params, tags, latest metrics, artifacts and child run ids."""
        return RunDetail.model_validate(service.get_run(run_id), from_attributes=True)

    @router.patch("/runs/{run_id}", response_model=RunPublic, dependencies=[write_run])
    def update_run(run_id: str, body: RunUpdate) -> RunPublic:
        """End a run (a terminal status without end_time ends it now) or rename it."""
        run = service.update_run(run_id, status=body.status, end_time=body.end_time, name=body.name)
        return run_public(run)

    @router.delete(
        "/runs/{run_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=[write_run]
    )
    def delete_run(run_id: str) -> Response:
        """Delete a run and everything logged to it."""
        service.delete_run(run_id)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post(
        "/runs/{run_id}/params", status_code=status.HTTP_204_NO_CONTENT, dependencies=[write_run]
    )
    def log_params(run_id: str, body: ParamsLog) -> Response:
        """Record params (write-once: 409 when a key already holds another value)."""
        service.log_params(run_id, body.params)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.post(
        "/runs/{run_id}/tags", status_code=status.HTTP_204_NO_CONTENT, dependencies=[write_run]
    )
    def set_tags(run_id: str, body: TagsSet) -> Response:
        """Set or overwrite tags."""
        service.set_tags(run_id, body.tags)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    @router.delete(
        "/runs/{run_id}/tags/{key:path}",
        status_code=status.HTTP_204_NO_CONTENT,
        dependencies=[write_run],
    )
    def delete_tag(run_id: str, key: str) -> Response:
        """Remove a tag."""
        service.delete_tag(run_id, key)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    # -- metrics -------------------------------------------------------------------------------

    @router.post(
        "/runs/{run_id}/metrics",
        response_model=MetricsLogged,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _inline_schema(MetricsLog)}},
            }
        },
        dependencies=[Depends(Permission("tracking", "write", project=run_of, audit=False))],
    )
    async def log_metrics(run_id: str, request: Request) -> MetricsLogged:
        """Append a batch of metric points in one transaction (the hot path)."""
        raw = await request.body()
        # Parsing a large batch is CPU work: done off the event loop, with the insert.
        logged = await run_in_threadpool(_log_metrics, service, run_id, raw)
        return MetricsLogged(logged=logged)

    @router.get(
        "/runs/{run_id}/metrics/{key:path}", response_model=MetricHistory, dependencies=[read_run]
    )
    def metric_history(
        run_id: str,
        key: str,
        offset: Offset = 0,
        limit: Annotated[int, Query(ge=1, le=100_000, description="Page size.")] = 10_000,
        max_points: Annotated[
            int | None,
            Query(
                ge=2,
                le=100_000,
                description="Downsample to this many points (first, last, evenly spaced).",
            ),
        ] = None,
    ) -> MetricHistory:
        """A metric's points in (step, timestamp) order, paged; optionally downsampled."""
        found = service.metric_history(run_id, key, offset, limit + 1, max_points)
        has_more = len(found) > limit
        points = [
            MetricHistoryPoint(step=p.step, value=p.value, timestamp=p.timestamp)
            for p in found[:limit]
        ]
        return MetricHistory(
            run_id=run_id, key=key, points=points, next_offset=offset + limit if has_more else None
        )

    # -- artifacts -----------------------------------------------------------------------------

    @router.put(
        "/runs/{run_id}/artifacts/content",
        status_code=status.HTTP_201_CREATED,
        response_model=ArtifactPublic,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {
                    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                },
            }
        },
        dependencies=[write_run],
    )
    async def upload_artifact(
        run_id: str,
        request: Request,
        path: Annotated[
            str | None, Query(description="Relative path, e.g. model/weights.bin (required).")
        ] = None,
    ) -> ArtifactPublic:
        """Store the raw request body as the artifact at ``path`` (streamed, any size)."""
        path = _required_path(path)
        await run_in_threadpool(service.check_artifact_upload, run_id, path)
        with tempfile.SpooledTemporaryFile(max_size=_SPOOL_MAX_MEMORY) as spool:
            async for chunk in request.stream():
                if chunk:
                    await run_in_threadpool(spool.write, chunk)
            spool.seek(0)
            artifact = await run_in_threadpool(service.log_artifact, run_id, path, spool)
        return ArtifactPublic.model_validate(artifact, from_attributes=True)

    @router.get(
        "/runs/{run_id}/artifacts", response_model=list[ArtifactPublic], dependencies=[read_run]
    )
    def list_artifacts(run_id: str) -> list[ArtifactPublic]:
        """The run's artifacts by path."""
        return [
            ArtifactPublic.model_validate(a, from_attributes=True)
            for a in service.list_artifacts(run_id)
        ]

    @router.get(
        "/runs/{run_id}/artifacts/content",
        response_class=StreamingResponse,
        responses={200: {"content": {"application/octet-stream": {}}}},
        dependencies=[read_run],
    )
    def download_artifact(
        run_id: str,
        path: Annotated[
            str | None, Query(description="The artifact's path in the run (required).")
        ] = None,
    ) -> StreamingResponse:
        """The artifact's bytes, with its sha256 in ``X-Podium-Sha256``."""
        artifact, chunks = service.open_artifact(run_id, _required_path(path))
        return StreamingResponse(
            _closing(chunks),
            media_type="application/octet-stream",
            headers={
                "Content-Length": str(artifact.size),
                "X-Podium-Sha256": artifact.sha256,
            },
        )

    return router


def _log_metrics(service: TrackingService, run_id: str, raw: bytes) -> int:
    """Validate a raw ``MetricsLog`` body in one pass and log its points."""
    try:
        body = _METRICS_BODY.validate_json(raw)
    except ValidationError as exc:
        # The app's handler turns this into the usual 422 problem naming the field.
        raise RequestValidationError(_json_errors(exc)) from None
    now = now_ms()
    points = [
        MetricPoint(p.key, p.value, p.step, p.timestamp if p.timestamp is not None else now)
        for p in body.metrics
    ]
    return service.log_metrics(run_id, points)


def _required_path(path: str | None) -> str:
    # Checked here rather than by FastAPI: its error for a missing query parameter named
    # "path" would not name the field (problems.py drops "path" from error locations).
    if path is None:
        raise InvalidInput(
            "the artifact path is missing: add ?path=dir/file.bin to the URL", field="path"
        )
    return path


def _closing(chunks: Iterator[bytes]) -> Iterator[bytes]:
    # Close the blob's file handle even when the client disconnects mid-download.
    try:
        yield from chunks
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def _json_errors(exc: ValidationError) -> list[Any]:
    """Pydantic errors in FastAPI's shape, ``loc`` prefixed by "body" like a body parameter."""
    errors: list[Any] = []
    for err in exc.errors(include_url=False, include_input=False):
        loc = tuple(err.get("loc", ()))
        if err.get("type") == "json_invalid":
            err = {**err, "msg": f"malformed JSON: {err.get('msg')}"}
        errors.append({**err, "loc": ("body", *loc)})
    return errors


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """``model``'s JSON schema with its ``$defs`` inlined, for an ``openapi_extra`` body."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.removeprefix("#/$defs/")])
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved
