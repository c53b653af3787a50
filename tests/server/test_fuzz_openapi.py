"""Fuzz the OpenAPI spec against a running server: no 500s, and every response matches the spec
(status codes, content types, bodies, headers)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from podium.access.models import Role
from podium.server.app import build
from podium.settings import Settings
from tests.conftest import LiveServer
from tests.support.requirements import require

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    ]
)


@pytest.mark.slow
def test_openapi_fuzz_finds_no_server_errors(tmp_path: Path) -> None:
    """Fuzzed once, on SQLite: the API surface is the same on both databases."""
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    require(exe is not None, "schemathesis is not installed (pip install 'podium[test]')")
    settings = Settings(home=tmp_path / "home", password_hash_cost=10)
    services = build(settings)
    # A server admin with an owner key: the fuzzer gets past authentication on project routes.
    services.access.create_user("fuzzer", "fuzzer-password-123", is_admin=True)
    services.projects.ensure("default")
    services.access.set_member("default", "fuzzer", Role.OWNER)
    _, key = services.access.create_key(username="fuzzer", project="default", role=Role.OWNER)
    services.close()
    server = LiveServer({"PODIUM_HOME": str(settings.home)}, settings.home)
    server.start()
    try:
        result = subprocess.run(
            [
                str(exe),
                "run",
                f"{server.url}/api/v1/openapi.json",
                "--checks",
                CHECKS,
                "--max-examples",
                "20",
                "--seed",
                "20261123",
                "--no-color",
                "-H",
                f"Authorization: Bearer {key}",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        server.stop()
    report = result.stdout[-4000:] + result.stderr[-1000:]
    assert result.returncode == 0, report
    assert " passed" in result.stdout
