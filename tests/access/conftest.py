"""Fixtures for access tests: an admin, members with each role, and their API keys."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from podium.access.models import Role
from podium.server.app import Services

PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class Team:
    """Users and keys of two projects: ``alpha`` (one member per role) and ``beta``."""

    admin_key: str
    keys: dict[Role, str]  # alpha keys, one per role
    beta_owner_key: str


@pytest.fixture
def team(services: Services) -> Team:
    access = services.access
    access.create_user("root", PASSWORD, is_admin=True)
    services.projects.create("alpha")
    services.projects.create("beta")
    keys: dict[Role, str] = {}
    for role in Role:
        name = f"{role.value}-user"
        access.create_user(name, PASSWORD)
        access.set_member("alpha", name, role)
        keys[role] = access.create_key(username=name, project="alpha", role=role)[1]
    access.create_user("beta-owner", PASSWORD)
    access.set_member("beta", "beta-owner", Role.OWNER)
    beta_key = access.create_key(username="beta-owner", project="beta", role=Role.OWNER)[1]
    admin_key = access.create_key(username="root", project="alpha", role=Role.OWNER)[1]
    return Team(admin_key, keys, beta_key)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
