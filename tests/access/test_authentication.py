"""Modes, API keys and UI sessions, through the REST API as a loopback HTTP client would."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import update

from podium.access.models import Role
from podium.access.sql import api_keys
from podium.client._transport import InProcessTransport
from podium.errors import Forbidden, InvalidInput, Unauthenticated
from podium.server.app import Services, create_app
from podium.settings import Settings
from tests.access.conftest import PASSWORD, Team, bearer


def test_no_users_on_loopback_is_single_user_local_mode(remote_http: httpx.Client) -> None:
    response = remote_http.get("/api/v1/users/me")
    assert response.status_code == 200
    assert response.json()["name"] == "local" and response.json()["superuser"] is True


def test_once_a_user_exists_credentials_are_required(
    remote_http: httpx.Client, services: Services
) -> None:
    services.access.create_user("alice", PASSWORD)
    response = remote_http.get("/api/v1/projects")
    assert response.status_code == 401
    assert "podium keys create" in response.json()["detail"]


def test_bound_beyond_loopback_auth_is_required_even_without_users(
    services: Services, settings: Settings
) -> None:
    services.settings = settings.model_copy(update={"host": "0.0.0.0"})
    transport = InProcessTransport(create_app(services), embedded=False)
    with httpx.Client(transport=transport, base_url="http://podium.test") as client:
        assert client.get("/api/v1/projects").status_code == 401
        assert client.get("/api/v1/health").status_code == 200  # public


def test_in_process_callers_are_local_even_with_users(
    http: httpx.Client, services: Services
) -> None:
    services.access.create_user("alice", PASSWORD)
    assert http.get("/api/v1/users/me").json()["kind"] == "local"


def test_key_authenticates_and_reports_its_scope(remote_http: httpx.Client, team: Team) -> None:
    me = remote_http.get("/api/v1/users/me", headers=bearer(team.keys[Role.EDITOR])).json()
    assert me == {
        "name": "editor-user",
        "kind": "key",
        "superuser": False,
        "roles": {"alpha": "editor"},
    }


@pytest.mark.parametrize(
    "header",
    ["Bearer pdm_nothex_x", "Bearer garbage", "Basic dXNlcjpwYXNz", "Bearer ", "Token abc"],
)
def test_malformed_credentials_are_401(remote_http: httpx.Client, team: Team, header: str) -> None:
    response = remote_http.get("/api/v1/projects", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


def test_wrong_secret_with_a_real_prefix_is_401(remote_http: httpx.Client, team: Team) -> None:
    key = team.keys[Role.VIEWER]
    forged = key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")
    assert remote_http.get("/api/v1/projects", headers=bearer(forged)).status_code == 401


def test_revoked_key_stops_working_at_once(
    remote_http: httpx.Client, team: Team, services: Services
) -> None:
    key = team.keys[Role.VIEWER]
    assert remote_http.get("/api/v1/projects/alpha", headers=bearer(key)).status_code == 200
    key_id = next(k.id for k in services.access.list_keys("viewer-user"))
    services.access.revoke_key(key_id)
    response = remote_http.get("/api/v1/projects/alpha", headers=bearer(key))
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_expired_key_is_401(remote_http: httpx.Client, team: Team, services: Services) -> None:
    key_id = next(k.id for k in services.access.list_keys("viewer-user"))
    with services.db.write() as conn:
        conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(expires_at=1))
    response = remote_http.get("/api/v1/projects/alpha", headers=bearer(team.keys[Role.VIEWER]))
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_disabled_users_keys_stop_working(
    remote_http: httpx.Client, team: Team, services: Services
) -> None:
    services.access.set_disabled("viewer-user", True)
    response = remote_http.get("/api/v1/projects/alpha", headers=bearer(team.keys[Role.VIEWER]))
    assert response.status_code == 401


def test_last_used_time_is_recorded(
    remote_http: httpx.Client, team: Team, services: Services
) -> None:
    before = next(k for k in services.access.list_keys("viewer-user"))
    assert before.last_used_at is None
    remote_http.get("/api/v1/projects/alpha", headers=bearer(team.keys[Role.VIEWER]))
    after = next(k for k in services.access.list_keys("viewer-user"))
    assert after.last_used_at is not None


def test_key_role_is_capped_by_the_owners_role(team: Team, services: Services) -> None:
    with pytest.raises(Forbidden, match="cannot hold a admin key"):
        services.access.create_key(username="viewer-user", project="alpha", role=Role.ADMIN)


def test_key_secret_is_shown_once_and_stored_hashed(
    remote_http: httpx.Client, team: Team, services: Services
) -> None:
    created = remote_http.post(
        "/api/v1/keys",
        json={"project": "alpha", "role": "viewer", "name": "ci"},
        headers=bearer(team.keys[Role.EDITOR]),
    )
    assert created.status_code == 201, created.text
    secret = created.json()["key"]
    assert secret.startswith("pdm_")
    listed = remote_http.get("/api/v1/keys", headers=bearer(team.keys[Role.EDITOR]))
    assert secret not in listed.text and "key_hash" not in listed.text
    with services.db.read() as conn:
        stored = [tuple(r) for r in conn.execute(api_keys.select())]
    assert all(secret not in str(row) for row in stored)


def test_weak_password_is_refused() -> None:
    from podium.access.service import _check_password

    with pytest.raises(InvalidInput, match="at least 10"):
        _check_password("short")


# -- UI login ---------------------------------------------------------------------------------


def _login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    return client.post("/login", data={"username": username, "password": password, "next": "/runs"})


def test_login_sets_a_safe_session_cookie(remote_http: httpx.Client, team: Team) -> None:
    response = _login(remote_http, "editor-user", PASSWORD)
    assert response.status_code == 303 and response.headers["location"] == "/runs"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "podium_session=" in cookie
    me = remote_http.get("/api/v1/users/me")
    assert me.json()["name"] == "editor-user" and me.json()["kind"] == "user"


def test_wrong_password_shows_the_form_again(remote_http: httpx.Client, team: Team) -> None:
    response = _login(remote_http, "editor-user", "nope-nope-nope")
    assert response.status_code == 401
    assert "wrong username or password" in response.text
    assert PASSWORD not in response.text


def test_failed_logins_are_throttled_per_user_and_address(
    remote_http: httpx.Client, team: Team
) -> None:
    for _ in range(5):
        assert _login(remote_http, "viewer-user", "wrong-password-x").status_code == 401
    blocked = _login(remote_http, "viewer-user", PASSWORD)
    assert blocked.status_code == 401 and "too many failed logins" in blocked.text
    # The address is blocked too, whichever user it tries next.
    assert "too many failed logins" in _login(remote_http, "editor-user", PASSWORD).text


def test_session_needs_csrf_for_unsafe_methods(
    remote_http: httpx.Client, team: Team, services: Services
) -> None:
    _login(remote_http, "owner-user", PASSWORD)
    refused = remote_http.post("/api/v1/keys", json={"project": "alpha", "role": "viewer"})
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    _, csrf = services.access.authenticate_session(remote_http.cookies["podium_session"])
    accepted = remote_http.post(
        "/api/v1/keys", json={"project": "alpha", "role": "viewer"}, headers={"X-CSRF-Token": csrf}
    )
    assert accepted.status_code == 201, accepted.text


def test_logout_ends_the_session(remote_http: httpx.Client, team: Team, services: Services) -> None:
    _login(remote_http, "viewer-user", PASSWORD)
    token = remote_http.cookies["podium_session"]
    _, csrf = services.access.authenticate_session(token)
    assert remote_http.post("/logout", headers={"X-CSRF-Token": csrf}).status_code == 303
    with pytest.raises(Unauthenticated):
        services.access.authenticate_session(token)


def test_login_redirect_target_stays_on_site(remote_http: httpx.Client, team: Team) -> None:
    response = remote_http.post(
        "/login",
        data={"username": "viewer-user", "password": PASSWORD, "next": "//evil.example/x"},
    )
    assert response.headers["location"] == "/"


def test_session_expiry(team: Team, services: Services) -> None:
    session = services.access.login("viewer-user", PASSWORD, "127.0.0.1")
    from podium.access.secrets import hash_token
    from podium.access.sql import sessions

    with services.db.write() as conn:
        conn.execute(
            update(sessions)
            .where(sessions.c.token_hash == hash_token(session.token))
            .values(expires_at=int(time.time() * 1000) - 1)
        )
    with pytest.raises(Unauthenticated, match="expired"):
        services.access.authenticate_session(session.token)


def test_deleting_a_project_needs_its_name_repeated(remote_http: httpx.Client, team: Team) -> None:
    owner = bearer(team.keys[Role.OWNER])
    refused = remote_http.delete("/api/v1/projects/alpha", headers=owner)
    assert refused.status_code == 422 and refused.json()["field"] == "confirm"
    done = remote_http.delete("/api/v1/projects/alpha", params={"confirm": "alpha"}, headers=owner)
    assert done.status_code == 204
    # Its keys went with it.
    assert remote_http.get("/api/v1/users/me", headers=owner).status_code == 401
