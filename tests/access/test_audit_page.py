"""The audit log in the REST API and on its web page."""

from __future__ import annotations

import httpx

from podium.server.app import Services


def test_mutations_are_recorded_with_actor_action_and_object(http: httpx.Client) -> None:
    assert http.post("/api/v1/experiments", json={"name": "exp-1"}).status_code == 201
    assert http.get("/api/v1/experiments").status_code == 200  # reads are not audited
    events = http.get("/api/v1/audit", params={"project": "default"}).json()["items"]
    assert [e["action"] for e in events] == ["tracking.write"]
    event = events[0]
    assert event["actor"] == "local"
    assert event["remote_addr"] == "in-process"
    assert event["details"]["route"] == "POST /api/v1/experiments"
    assert "name=exp-1" in event["object_id"]


def test_failed_requests_are_not_recorded(http: httpx.Client) -> None:
    http.post("/api/v1/experiments", json={"name": "dup"})
    assert http.post("/api/v1/experiments", json={"name": "dup"}).status_code == 409
    events = http.get("/api/v1/audit", params={"project": "default"}).json()["items"]
    assert len(events) == 1


def test_metric_batches_are_not_audited_row_by_row(http: httpx.Client) -> None:
    run = http.post("/api/v1/runs", json={}).json()
    points = [{"key": "loss", "value": 1.0, "step": i} for i in range(3)]
    assert (
        http.post(f"/api/v1/runs/{run['id']}/metrics", json={"metrics": points}).status_code == 200
    )
    actions = [e["action"] for e in http.get("/api/v1/audit").json()["items"]]
    assert actions == ["tracking.write"]  # the run's creation only


def test_audit_page_lists_and_filters_events_escaped(
    http: httpx.Client, services: Services
) -> None:
    services.audit.append(
        actor="<b>mallory</b>",
        action="registry.promote",
        object_type="registry",
        object_id="model=m",
        project="default",
    )
    services.audit.append(
        actor="alice",
        action="tracking.write",
        object_type="tracking",
        object_id="run=1",
        project="default",
    )
    page = http.get("/audit", params={"project": "default"})
    assert page.status_code == 200
    assert "&lt;b&gt;mallory&lt;/b&gt;" in page.text and "<b>mallory</b>" not in page.text
    assert page.text.count('class="audit-row"') == 2
    filtered = http.get("/audit", params={"project": "default", "action": "registry."})
    assert filtered.text.count('class="audit-row"') == 1
