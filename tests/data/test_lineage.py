"""The lineage graph: ``GET /datasets/{name}/lineage`` on both databases, and its layout."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import httpx

from podium.data.lineage import LAYER_GAP, MARGIN, NODE_HEIGHT, NODE_WIDTH, ROW_GAP, layout
from podium.data.models import DatasetVersion, Lineage, LineageEdge, Step
from podium.server.app import Services


def test_lineage_endpoint_returns_nodes_and_step_labelled_edges(
    http: httpx.Client, services: Services
) -> None:
    body = "".join(json.dumps({"input": f"question {i}"}) + "\n" for i in range(4)).encode()
    data = services.data
    data.import_rows("alpha", "qa", io.BytesIO(body))
    data.clean("alpha", "qa", [{"name": "normalise"}, {"name": "exact_dedup"}])  # v2 from v1
    data.clean("alpha", "qa", [{"name": "split", "params": {"seed": 3}}], version=1)  # v3
    found = http.get("/api/v1/datasets/qa/lineage", params={"project": "alpha"})
    assert found.status_code == 200, found.text
    graph = found.json()
    assert (graph["dataset"], graph["project"]) == ("qa", "alpha")
    assert [(n["version"], n["parents"]) for n in graph["nodes"]] == [(1, []), (2, [1]), (3, [1])]
    assert graph["nodes"][0]["steps"] == [{"name": "import", "params": {"format": "jsonl"}}]
    assert [(e["parent"], e["child"]) for e in graph["edges"]] == [(1, 2), (1, 3)]
    assert [s["name"] for s in graph["edges"][0]["steps"]] == ["normalise", "exact_dedup"]
    assert graph["edges"][1]["steps"][0]["params"]["seed"] == 3

    missing = http.get("/api/v1/datasets/nope/lineage", params={"project": "alpha"})
    assert missing.status_code == 404


def _version(number: int, parents: list[int], step: str) -> DatasetVersion:
    return DatasetVersion(
        dataset="qa",
        project="p",
        version=number,
        sha256="0" * 64,
        size=1,
        row_count=10 * number,
        schema=[],
        message="",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        created_by=None,
        parents=parents,
        steps=[Step(step, {"k": number})],
    )


def test_layout_puts_each_version_one_layer_right_of_its_deepest_parent() -> None:
    versions = [
        _version(1, [], "import"),
        _version(2, [1], "normalise"),
        _version(3, [], "import"),
        _version(4, [2], "a_very_long_step_name_that_is_cut"),
        _version(5, [1], "split"),
    ]
    edges = [LineageEdge(v.parents[0], v.version, v.steps) for v in versions if v.parents]
    placed = layout(Lineage("qa", "p", versions, edges))
    where = {n.version.version: (n.layer, n.x, n.y) for n in placed.nodes}
    column = NODE_WIDTH + LAYER_GAP
    row = NODE_HEIGHT + ROW_GAP
    assert where == {
        1: (0, MARGIN, MARGIN),
        3: (0, MARGIN, MARGIN + row),
        2: (1, MARGIN + column, MARGIN),
        5: (1, MARGIN + column, MARGIN + row),
        4: (2, MARGIN + 2 * column, MARGIN),
    }
    assert (placed.width, placed.height) == (
        2 * MARGIN + 3 * NODE_WIDTH + 2 * LAYER_GAP,
        2 * MARGIN + 2 * NODE_HEIGHT + ROW_GAP,
    )
    first = placed.edges[0]
    assert (first.parent, first.child, first.label) == (1, 2, "normalise")
    assert first.path.startswith(f"M{MARGIN + NODE_WIDTH},{MARGIN + NODE_HEIGHT // 2} C")
    assert first.title == 'normalise {"k": 2}'
    long = placed.edges[1]
    assert long.label == "a_very_long_step_name…"
    assert len(long.label) == 22
