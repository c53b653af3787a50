"""Secrets (passwords, API keys, session tokens) never appear in logs, errors, the audit log or
API responses other than the one reply that hands a new key over."""

from __future__ import annotations

import logging

import httpx
import pytest

from podium.server.app import Services

PASSWORD = "hunter2-is-a-bad-password-but-long"


def test_secrets_stay_secret(
    http: httpx.Client,
    remote_http: httpx.Client,
    services: Services,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    def keep(response: httpx.Response) -> httpx.Response:
        seen.append(response.text)
        return response

    # In-process (local admin): create a user, a project and a key.
    keep(
        http.post(
            "/api/v1/users", json={"username": "carol", "password": PASSWORD, "is_admin": True}
        )
    )
    keep(http.post("/api/v1/projects", json={"name": "secretive"}))
    keep(http.put("/api/v1/projects/secretive/members/carol", json={"role": "owner"}))
    created = http.post(
        "/api/v1/keys", json={"project": "secretive", "role": "owner", "username": "carol"}
    )
    assert created.status_code == 201
    key = created.json()["key"]

    # Use the key, get things wrong, log in with right and wrong passwords.
    auth = {"Authorization": f"Bearer {key}"}
    keep(remote_http.get("/api/v1/users/me", headers=auth))
    keep(remote_http.get("/api/v1/keys", headers=auth))
    keep(remote_http.get("/api/v1/users/me", headers={"Authorization": f"Bearer {key}x"}))
    keep(
        remote_http.post(
            "/api/v1/users", json={"username": "dave", "password": "short"}, headers=auth
        )
    )
    keep(remote_http.post("/login", data={"username": "carol", "password": PASSWORD + "!"}))
    login = remote_http.post("/login", data={"username": "carol", "password": PASSWORD})
    token = remote_http.cookies["podium_session"]
    keep(login)
    keep(remote_http.get("/api/v1/audit", params={"project": "secretive"}, headers=auth))
    keep(http.get("/api/v1/audit", params={"project": "default"}))

    secret_key_part = key.split("_", 2)[2]
    audit_rows = [str(e) for e in services.audit.search(limit=1000)]
    haystacks = {"responses": seen, "log": [caplog.text], "audit": audit_rows}
    for where, texts in haystacks.items():
        for text in texts:
            assert PASSWORD not in text, f"password leaked into {where}"
            assert secret_key_part not in text, f"API key leaked into {where}"
            assert token not in text, f"session token leaked into {where}"
    # The audit log did record what happened, without the secrets.
    actions = {e.action for e in services.audit.search(limit=1000)}
    assert {"projects.create", "keys.own", "projects.manage", "users.manage"} <= actions
