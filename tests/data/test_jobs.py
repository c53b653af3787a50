"""Background pipeline jobs (``POST .../clean?wait=false``, ``GET /datasets/jobs/{id}``) over
the real app, through REST and the SDK, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx
import pyarrow as pa
import pytest

from podium.client import Client, data
from podium.data.pipeline import STEPS
from podium.data.steps.base import RowProgress, StepOutcome, report
from podium.errors import InvalidInput, NotFound
from podium.server.app import Services

ROWS = [{"input": f"question number {i}", "expected": str(i)} for i in range(40)]
ROWS += [{"input": "question number 1"}, {"input": "hi"}]


def _seed(services: Services) -> None:
    body = "".join(json.dumps(r) + "\n" for r in ROWS).encode()
    services.data.import_rows("alpha", "qa", io.BytesIO(body))


def _poll(http: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        response = http.get(f"/api/v1/datasets/jobs/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if job["state"] != "running" or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_clean_job_runs_in_the_background_and_reports_each_step(
    http: httpx.Client, services: Services
) -> None:
    _seed(services)
    steps = [{"name": "exact_dedup"}, {"name": "filter", "params": {"min_chars": 5}}]
    started = http.post(
        "/api/v1/datasets/qa/clean",
        params={"wait": "false"},
        json={"project": "alpha", "steps": steps, "message": "bg"},
    )
    assert started.status_code == 202, started.text
    job = started.json()
    assert started.headers["location"] == f"/api/v1/datasets/jobs/{job['id']}"
    assert (job["project"], job["dataset"], job["source_version"]) == ("alpha", "qa", 1)
    assert [s["name"] for s in job["steps"]] == ["exact_dedup", "filter"]
    assert job["state"] in ("running", "succeeded")

    done = _poll(http, job["id"])
    assert done["state"] == "succeeded", done
    assert done["progress"] == 1.0
    assert done["steps"] == [
        {"name": "exact_dedup", "state": "done", "rows_in": 42, "rows_out": 41, "rows_done": 42},
        {"name": "filter", "state": "done", "rows_in": 41, "rows_out": 40, "rows_done": 41},
    ]
    assert (done["version"]["version"], done["version"]["parents"]) == (2, [1])
    assert done["version"]["message"] == "bg"
    assert [(r["name"], r["removed"]) for r in done["reports"]] == [
        ("exact_dedup", 1),
        ("filter", 1),
    ]
    assert done["error"] is None
    assert done["finished_at"] is not None
    latest = http.get("/api/v1/datasets/qa", params={"project": "alpha"}).json()
    assert latest["latest_version"] == 2


def test_failed_job_records_the_error_and_stores_nothing(
    http: httpx.Client, services: Services
) -> None:
    _seed(services)
    started = http.post(
        "/api/v1/datasets/qa/clean",
        params={"wait": "false"},
        json={"project": "alpha", "steps": [{"name": "filter", "params": {"min_chars": 999}}]},
    )
    assert started.status_code == 202
    done = _poll(http, started.json()["id"])
    assert done["state"] == "failed"
    assert done["error"].startswith("the pipeline removed every row")
    assert done["error_status"] == 422
    assert (done["version"], done["reports"]) == (None, [])
    assert done["steps"][0]["rows_out"] == 0
    latest = http.get("/api/v1/datasets/qa", params={"project": "alpha"}).json()
    assert latest["latest_version"] == 1


def test_bad_steps_and_unknown_jobs_fail_before_any_job(
    http: httpx.Client, services: Services
) -> None:
    _seed(services)
    bad = http.post(
        "/api/v1/datasets/qa/clean",
        params={"wait": "false"},
        json={"project": "alpha", "steps": [{"name": "nope"}]},
    )
    assert bad.status_code == 422
    assert bad.json()["detail"].startswith("unknown step 'nope'")
    missing = http.post(
        "/api/v1/datasets/other/clean",
        params={"wait": "false"},
        json={"project": "alpha", "steps": [{"name": "normalise"}]},
    )
    assert missing.status_code == 404
    unknown = http.get("/api/v1/datasets/jobs/" + "0" * 32)
    assert unknown.status_code == 404
    assert "forgotten on restart" in unknown.json()["detail"]


def test_sdk_start_and_wait_for_job(client: Client, services: Services) -> None:
    _seed(services)
    seen: list[str] = []
    job = data.start_clean(client, "qa", [{"name": "normalise"}], project="alpha")
    finished = data.wait_for_job(
        client, job["id"], poll=0.05, timeout=60, on_progress=lambda j: seen.append(j["state"])
    )
    assert finished["version"]["version"] == 2
    assert seen[-1] == "succeeded"
    assert data.get_job(client, job["id"])["state"] == "succeeded"

    failing = data.start_clean(
        client, "qa", [{"name": "filter", "params": {"max_chars": 1}}], project="alpha"
    )
    with pytest.raises(InvalidInput, match="the pipeline removed every row"):
        data.wait_for_job(client, failing["id"], poll=0.05, timeout=60)
    with pytest.raises(NotFound):
        data.get_job(client, "f" * 32)


class _Gate:
    """A pipeline step that waits for the test to open it, so a job can be seen running."""

    name = "gate"
    opened = threading.Event()

    def __init__(self, given: Mapping[str, Any]) -> None:
        self.params: dict[str, Any] = {}

    def apply(self, table: pa.Table, rows: RowProgress | None = None) -> StepOutcome:
        assert rows is not None
        rows(7)
        assert self.opened.wait(60)
        return StepOutcome(table, report(self.name, self.params, table, table))


def test_running_job_shows_step_progress_and_the_page_polls(
    http: httpx.Client, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(services)
    monkeypatch.setitem(STEPS, "gate", _Gate)
    _Gate.opened.clear()
    job = services.data.start_clean("alpha", "qa", [{"name": "exact_dedup"}, {"name": "gate"}])
    try:
        deadline = time.monotonic() + 60
        while services.data.get_job(job.id).steps[1].rows_done != 7:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        running = http.get(f"/api/v1/datasets/jobs/{job.id}").json()
        assert running["state"] == "running"
        assert running["progress"] == 0.5
        assert running["steps"] == [
            {
                "name": "exact_dedup",
                "state": "done",
                "rows_in": 42,
                "rows_out": 41,
                "rows_done": 42,
            },
            {"name": "gate", "state": "running", "rows_in": 41, "rows_out": None, "rows_done": 7},
        ]
        page = http.get(f"/datasets/jobs/{job.id}")
        assert f'hx-get="/datasets/jobs/{job.id}" hx-trigger="every 1s"' in page.text
        assert re.findall(r'data-step-state="(\w+)"', page.text) == ["done", "running"]
        assert re.search(r'data-step="1".*?<td class="num">7 / 41</td>', page.text, re.S)
    finally:
        _Gate.opened.set()
    assert _poll(http, job.id)["state"] == "succeeded"
