"""Retention: old traces (with spans, tags and scores) go, recent ones stay; job, API and CLI."""

from __future__ import annotations

import time
from typing import Any

import httpx
from sqlalchemy import func, select
from typer.testing import CliRunner

from podium.cli.main import app
from podium.server.app import Services
from podium.settings import Settings
from podium.store.clock import now_ms
from podium.tracing import sql
from podium.tracing.models import TraceFilter
from podium.tracing.retention import RetentionJob
from tests.tracing.support import T0_NS, new_span_id, new_trace_id, request, span

T0_MS = T0_NS // 1_000_000
DAY_MS = 86_400_000


def _ingest_ages(services: Services, project: str = "default") -> tuple[list[str], list[str]]:
    """Three traces 40 days old and two from the last hour; returns (old ids, new ids)."""
    old = [new_trace_id() for _ in range(3)]
    new = [new_trace_id() for _ in range(2)]
    now = now_ms()
    spans: list[Any] = []
    for i, trace in enumerate(old):
        root = new_span_id()
        start = now - 40 * DAY_MS + i - T0_MS
        spans += [
            span(trace, root, start_ms=start, attrs={"podium.tags": "old"}),
            span(trace, new_span_id(), parent=root, start_ms=start + 1),
        ]
    spans += [
        span(t, new_span_id(), start_ms=now - 3_600_000 + i - T0_MS) for i, t in enumerate(new)
    ]
    services.tracing.ingest(project, request(*spans))
    services.tracing.add_score(project, old[0].hex(), "helpful", 1.0)
    return [t.hex() for t in old], [t.hex() for t in new]


def _count(services: Services, table: Any) -> int:
    with services.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_prune_deletes_old_traces_in_batches_and_keeps_new_ones(services: Services) -> None:
    _, new = _ingest_ages(services)
    result = services.tracing.prune(now_ms() - 30 * DAY_MS, batch_size=2)
    assert (result.traces, result.spans) == (3, 6)
    listed = services.tracing.list_traces("default", TraceFilter(), 0, 100)
    assert sorted(t.trace_id for t in listed) == sorted(new)
    assert _count(services, sql.trace_spans) == 2
    assert _count(services, sql.trace_tags) == 0
    assert _count(services, sql.trace_scores) == 0
    assert services.tracing.prune(now_ms() - 30 * DAY_MS).traces == 0


def test_the_background_job_prunes_every_project(services: Services) -> None:
    _, new_a = _ingest_ages(services, "a")
    _, new_b = _ingest_ages(services, "b")
    job = RetentionJob(services.tracing, days=30, interval_s=0.05)
    job.start()
    try:
        deadline = time.monotonic() + 60
        while _count(services, sql.traces) > 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert job.running
    finally:
        job.stop()
    assert not job.running
    with services.db.read() as conn:
        left = {r[0] for r in conn.execute(select(sql.traces.c.trace_id))}
    assert left == {*new_a, *new_b}


def test_retention_off_starts_nothing(services: Services) -> None:
    _ingest_ages(services)
    job = RetentionJob(services.tracing, days=0, interval_s=0.05)
    job.start()
    assert not job.running
    assert job.run_once().traces == 0
    assert _count(services, sql.traces) == 5


def test_prune_route_is_per_project(services: Services, http: httpx.Client) -> None:
    _, new_a = _ingest_ages(services, "a")
    _ingest_ages(services, "b")
    reply = http.post("/api/v1/traces/prune", params={"project": "a"}, json={"older_than_days": 30})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"traces": 3, "spans": 6}
    assert _count(services, sql.traces) == 2 + 5
    left_a = services.tracing.list_traces("a", TraceFilter(), 0, 100)
    assert sorted(t.trace_id for t in left_a) == sorted(new_a)
    bad = http.post("/api/v1/traces/prune", params={"project": "a"}, json={"older_than_days": 0})
    assert bad.status_code == 422


def test_cli_prune_older_than(services: Services, settings: Settings) -> None:
    _, new = _ingest_ages(services, "shop")
    env = {"PODIUM_HOME": str(settings.home), "PODIUM_DATABASE_URL": settings.database_url or ""}
    runner = CliRunner()
    done = runner.invoke(
        app, ["traces", "prune", "--older-than", "30d", "-p", "shop", "--json"], env=env
    )
    assert done.exit_code == 0, (done.output, done.exception)
    assert '"traces": 3' in done.output
    listed = services.tracing.list_traces("shop", TraceFilter(), 0, 100)
    assert sorted(t.trace_id for t in listed) == sorted(new)
    bad = runner.invoke(app, ["traces", "prune", "--older-than", "soon", "-p", "shop"], env=env)
    assert bad.exit_code == 2
    assert "30d" in bad.output
