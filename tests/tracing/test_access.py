"""Who may ingest and read traces, and which project an API key's export lands in."""

from __future__ import annotations

import httpx

from podium.access.models import Role
from tests.access.conftest import Team, bearer
from tests.tracing.support import PROTOBUF, new_span_id, new_trace_id, request, span

URL = "/otlp/v1/traces"


def test_a_key_exports_into_its_own_project(remote_http: httpx.Client, team: Team) -> None:
    trace = new_trace_id()
    body = request(span(trace, new_span_id())).SerializeToString()
    editor = bearer(team.keys[Role.EDITOR])
    assert remote_http.post(URL, content=body, headers={**PROTOBUF, **editor}).status_code == 200
    listed = remote_http.get("/api/v1/traces", params={"project": "alpha"}, headers=editor)
    assert [t["trace_id"] for t in listed.json()["items"]] == [trace.hex()]
    # Naming another project does not escape the key's scope.
    other = remote_http.post(
        URL, content=body, headers={**PROTOBUF, **editor, "X-Podium-Project": "beta"}
    )
    assert other.status_code == 404


def test_viewers_read_but_cannot_ingest(remote_http: httpx.Client, team: Team) -> None:
    body = request(span(new_trace_id(), new_span_id())).SerializeToString()
    viewer = bearer(team.keys[Role.VIEWER])
    refused = remote_http.post(URL, content=body, headers={**PROTOBUF, **viewer})
    assert refused.status_code == 403
    assert "tracing:write" in refused.json()["detail"]
    assert remote_http.get("/api/v1/traces", params={"project": "alpha"}, headers=viewer).is_success
    assert remote_http.post(URL, content=body, headers=PROTOBUF).status_code == 401
