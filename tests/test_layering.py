"""Imports point one way (DESIGN.md): inside a part models <- sql <- service <- routes/cli/ui, and
parts depend only downward: store <- access <- tracking <- registry; server and cli on top."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "podium"

# What each part may import from Podium (besides itself and the shared leaf modules).
ALLOWED = {
    "store": set(),
    "access": {"store"},
    "tracking": {"store", "access"},
    "registry": {"store", "access", "tracking"},
    "prompts": {"store", "access"},
    "data": {"store", "access", "tracing"},
    "tracing": {"store", "access", "local_models"},
    # Local text generation and embeddings: a leaf the gateway, drift and evals load lazily.
    "local_models": set(),
    "gateway": {"store", "access", "tracking", "registry", "prompts", "tracing", "local_models"},
    "evals": {"store", "access", "tracking", "data", "prompts", "tracing", "local_models"},
    "client": set(),
}
# Embedded mode is the one sanctioned upward import: the SDK runs the server's app in-process.
# And the SDK renders prompts with the server's own rules (podium.prompts.render: jinja2 only).
EXEMPT = {
    ("client/_transport.py", "podium.server.app"),
    ("client/prompts.py", "podium.prompts"),
}
SHARED_LEAVES = {
    "errors",
    "yamlio",
    "settings",
    "wire",
    "pages",
    "units",
    "_version",
    "cli",
    "client",
}
LAYER = {"models": 0, "schemas": 0, "sql": 1, "service": 2, "routes": 3, "cli": 3, "ui": 3}


def _podium_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {m for m in found if m == "podium" or m.startswith("podium.")}


def _modules() -> list[tuple[str, str, Path]]:
    out = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).with_suffix("")
        if len(rel.parts) >= 2:
            out.append((rel.parts[0], rel.parts[-1], path))
    return out


def test_parts_depend_only_downward() -> None:
    bad = []
    for part, _module, path in _modules():
        if part not in ALLOWED:
            continue
        for imported in _podium_imports(path):
            target = imported.split(".")[1] if imported.count(".") else ""
            if target in ("", part) or target in SHARED_LEAVES or target in ALLOWED[part]:
                continue
            if (str(path.relative_to(SRC)), imported) in EXEMPT:
                continue
            bad.append(f"{path.relative_to(SRC)} imports {imported}")
    assert bad == []


def test_layers_inside_a_part_point_one_way() -> None:
    bad = []
    for part, module, path in _modules():
        if module not in LAYER:
            continue
        for imported in _podium_imports(path):
            pieces = imported.split(".")
            if len(pieces) < 3 or pieces[1] != part or pieces[2] not in LAYER:
                continue
            upward = LAYER[pieces[2]] > LAYER[module]
            sideways = LAYER[pieces[2]] == LAYER[module] == 3 and pieces[2] != module
            if upward or sideways:
                bad.append(f"{path.relative_to(SRC)} imports {imported}")
    assert bad == []


def test_nothing_below_the_server_imports_it() -> None:
    bad = [
        f"{path.relative_to(SRC)} imports {imported}"
        for part, _m, path in _modules()
        if part not in ("server", "cli")
        for imported in _podium_imports(path)
        if imported.startswith("podium.server")
        and (str(path.relative_to(SRC)), imported) not in EXEMPT
    ]
    assert bad == []
