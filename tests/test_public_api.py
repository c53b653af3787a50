"""The SDK's public surface is pinned, and ``import podium`` stays light."""

from __future__ import annotations

import json
import subprocess
import sys

import podium


def test_public_names_are_pinned() -> None:
    assert sorted(podium.__all__) == [
        "ActiveRun",
        "ActiveSpan",
        "Client",
        "__version__",
        "active_run",
        "configure_tracing",
        "current_span",
        "errors",
        "flush",
        "observe",
        "registry",
        "shutdown_tracing",
        "span",
        "start_run",
        "trace",
        "tracing_stats",
    ]


def test_errors_module_exports_the_tree() -> None:
    assert set(podium.errors.__all__) >= {
        "PodiumError",
        "NotFound",
        "Conflict",
        "InvalidInput",
        "Unauthenticated",
        "Forbidden",
    }


def test_import_podium_does_not_load_the_server_stack() -> None:
    code = "import sys, json, podium; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    heavy = {"fastapi", "sqlalchemy", "alembic", "torch", "transformers", "uvicorn", "starlette"}
    assert not loaded & heavy, f"import podium loaded {sorted(loaded & heavy)}"
