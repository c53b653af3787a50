"""The authentication cache: fast repeat requests, immediate invalidation in this process, and
the placeholder keys OpenAI SDKs send in local mode."""

from __future__ import annotations

import httpx
from sqlalchemy import update

from podium.access.models import Role
from podium.access.service import AUTH_CACHE_SECONDS
from podium.access.sql import api_keys
from podium.server.app import Services
from tests.access.conftest import PASSWORD, Team, bearer


def _key_id(services: Services, username: str) -> int:
    return next(k.id for k in services.access.list_keys(username))


def test_a_repeated_key_is_answered_from_the_cache(
    remote_http: httpx.Client, team: Team, services: Services
) -> None:
    key = team.keys[Role.VIEWER]
    assert services.access.cached_key_principal(key) is None
    assert remote_http.get("/api/v1/projects/alpha", headers=bearer(key)).status_code == 200
    cached = services.access.cached_key_principal(key)
    assert cached is not None
    assert (cached.name, cached.kind, cached.roles) == (
        "viewer-user",
        "key",
        {"alpha": Role.VIEWER},
    )
    # Proof that the cache answers: a change behind the service's back (as another replica's
    # revocation would be) is not seen until the entry expires.
    with services.db.write() as conn:
        conn.execute(
            update(api_keys)
            .where(api_keys.c.id == _key_id(services, "viewer-user"))
            .values(revoked_at=1)
        )
    assert remote_http.get("/api/v1/projects/alpha", headers=bearer(key)).status_code == 200
    assert 0 < AUTH_CACHE_SECONDS <= 10


def test_revoking_a_cached_key_refuses_it_at_once(
    remote_http: httpx.Client, team: Team, services: Services
) -> None:
    key = team.keys[Role.EDITOR]
    for _ in range(3):
        assert remote_http.get("/api/v1/projects/alpha", headers=bearer(key)).status_code == 200
    other = team.keys[Role.VIEWER]
    assert remote_http.get("/api/v1/projects/alpha", headers=bearer(other)).status_code == 200

    services.access.revoke_key(_key_id(services, "editor-user"))

    refused = remote_http.get("/api/v1/projects/alpha", headers=bearer(key))
    assert refused.status_code == 401
    assert "was revoked" in refused.json()["detail"]
    assert services.access.cached_key_principal(key) is None
    # Other keys keep their cache entries.
    assert services.access.cached_key_principal(other) is not None
    assert remote_http.get("/api/v1/projects/alpha", headers=bearer(other)).status_code == 200


def test_revoking_through_the_api_refuses_the_key_at_once(
    remote_http: httpx.Client, team: Team, services: Services
) -> None:
    key = team.keys[Role.VIEWER]
    assert remote_http.get("/api/v1/projects/alpha", headers=bearer(key)).status_code == 200
    key_id = _key_id(services, "viewer-user")
    revoked = remote_http.delete(f"/api/v1/keys/{key_id}", headers=bearer(team.admin_key))
    assert revoked.status_code == 200, revoked.text
    assert remote_http.get("/api/v1/projects/alpha", headers=bearer(key)).status_code == 401


def test_disabling_a_user_refuses_their_cached_keys_at_once(
    remote_http: httpx.Client, team: Team, services: Services
) -> None:
    key = team.keys[Role.VIEWER]
    assert remote_http.get("/api/v1/projects/alpha", headers=bearer(key)).status_code == 200
    services.access.set_disabled("viewer-user", True)
    refused = remote_http.get("/api/v1/projects/alpha", headers=bearer(key))
    assert refused.status_code == 401
    assert "disabled" in refused.json()["detail"]


def test_placeholder_bearer_tokens_are_ignored_in_local_mode(
    remote_http: httpx.Client, services: Services
) -> None:
    for token in ("sk-local", "unused", "sk-proj-abc123"):
        me = remote_http.get("/api/v1/users/me", headers=bearer(token))
        assert me.status_code == 200, me.text
        assert me.json()["name"] == "local"
    # A Podium-shaped key is still checked, local mode or not.
    forged = remote_http.get("/api/v1/users/me", headers=bearer("pdm_0123456789ab_nope"))
    assert forged.status_code == 401
    assert "unknown API key" in forged.json()["detail"]


def test_creating_the_first_user_ends_local_mode_at_once(
    remote_http: httpx.Client, services: Services
) -> None:
    assert remote_http.get("/api/v1/projects", headers=bearer("sk-local")).status_code == 200
    assert services.access.cached_users_exist() is False
    services.access.create_user("alice", PASSWORD)
    assert services.access.cached_users_exist() is True
    refused = remote_http.get("/api/v1/projects", headers=bearer("sk-local"))
    assert refused.status_code == 401
    assert "malformed" in refused.json()["detail"]
    assert remote_http.get("/api/v1/projects").status_code == 401
