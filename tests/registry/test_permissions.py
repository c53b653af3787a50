"""Who may use the registry once users exist, and that histories record the real caller."""

from __future__ import annotations

import httpx
import pytest

from podium.access.models import Role
from podium.server.app import Services

API = "/api/v1/models"
PASSWORD = "correct horse battery"


@pytest.fixture
def keys(services: Services) -> dict[Role, str]:
    """API keys in project ``alpha`` for a user of each role; model ``m`` there has v1 and v2."""
    access = services.access
    services.projects.create("alpha")
    found: dict[Role, str] = {}
    for role in Role:
        name = f"{role.value}-user"
        access.create_user(name, PASSWORD)
        access.set_member("alpha", name, role)
        found[role] = access.create_key(username=name, project="alpha", role=role)[1]
    services.registry.create_model("alpha", "m")
    services.registry.create_version("alpha", "m")
    services.registry.create_version("alpha", "m")
    return found


def _as(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_roles_gate_reading_writing_and_promoting(
    remote_http: httpx.Client, keys: dict[Role, str]
) -> None:
    alpha = {"project": "alpha"}
    viewer, editor, admin = _as(keys[Role.VIEWER]), _as(keys[Role.EDITOR]), _as(keys[Role.ADMIN])

    assert remote_http.get(f"{API}/m", params=alpha).status_code == 401
    assert remote_http.get(f"{API}/m", params=alpha, headers=viewer).status_code == 200
    assert remote_http.get(f"{API}/m/history", params=alpha, headers=viewer).status_code == 200

    url = f"{API}/m/versions"
    assert remote_http.post(url, params=alpha, json={}, headers=viewer).status_code == 403
    created = remote_http.post(url, params=alpha, json={}, headers=editor)
    assert created.status_code == 201
    assert created.json()["created_by"] == "editor-user"
    body = {"project": "alpha", "name": "n"}
    assert remote_http.post(API, json=body, headers=viewer).status_code == 403
    assert remote_http.post(API, json=body, headers=editor).status_code == 201

    alias = f"{API}/m/aliases/production"
    denied = remote_http.put(alias, params=alpha, json={"version": 1}, headers=editor)
    assert denied.status_code == 403
    assert "needs the admin role" in denied.json()["detail"]
    for version in (1, 2):
        moved = remote_http.put(alias, params=alpha, json={"version": version}, headers=admin)
        assert moved.status_code == 200
        assert moved.json()["updated_by"] == "admin-user"
    assert remote_http.post(f"{alias}/rollback", params=alpha, headers=editor).status_code == 403
    assert remote_http.post(f"{alias}/rollback", params=alpha, headers=admin).status_code == 200
    assert remote_http.delete(f"{API}/m", params=alpha, headers=editor).status_code == 403

    history = remote_http.get(f"{API}/m/history", params=alpha, headers=viewer).json()
    assert [(e["from_version"], e["to_version"], e["actor"]) for e in history] == [
        (2, 1, "admin-user"),
        (1, 2, "admin-user"),
        (None, 1, "admin-user"),
    ]


def test_other_projects_are_not_revealed(
    remote_http: httpx.Client, keys: dict[Role, str], services: Services
) -> None:
    services.registry.create_model("beta", "secret")
    owner = _as(keys[Role.OWNER])
    response = remote_http.get(f"{API}/secret", params={"project": "beta"}, headers=owner)
    assert response.status_code == 404
    assert "secret" not in response.text
