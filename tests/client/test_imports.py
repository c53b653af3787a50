"""``import podium`` and the SDK's modules stay light: no server stack is loaded."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("fastapi", "starlette", "sqlalchemy", "alembic", "uvicorn", "psycopg", "boto3")


def test_the_sdk_imports_no_server_stack() -> None:
    code = (
        "import sys, podium, podium.client.registry, podium.client.runs, podium.client._batcher\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
