"""A dataset's lineage graph and its layered left-to-right layout, drawn as SVG by the UI.

``build_lineage`` turns versions into nodes and "made from" edges (parent → child, labelled by
the steps that made the child). ``layout`` places them in layers: a version with no parent in
the graph is in layer 0, any other one layer right of its deepest parent; inside a layer,
versions are ordered by the mean position of their parents (then by number), which keeps most
edges from crossing. Pure functions, no I/O: the template only draws the coordinates.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from podium.data.models import DatasetVersion, Lineage, LineageEdge

NODE_WIDTH = 132
NODE_HEIGHT = 44
LAYER_GAP = 120  # horizontal space between layers, where the edge labels go
ROW_GAP = 24
MARGIN = 16
LABEL_CHARS = 22


def build_lineage(dataset: str, project: str, versions: Sequence[DatasetVersion]) -> Lineage:
    """The graph of ``versions``: nodes by number, one edge per (parent, child) inside it."""
    nodes = sorted(versions, key=lambda v: v.version)
    known = {v.version for v in nodes}
    edges = [
        LineageEdge(parent=parent, child=v.version, steps=list(v.steps))
        for v in nodes
        for parent in v.parents
        if parent in known and parent != v.version
    ]
    return Lineage(dataset=dataset, project=project, nodes=nodes, edges=edges)


@dataclass(frozen=True)
class PlacedNode:
    """A version at (x, y), the top-left corner of its box."""

    version: DatasetVersion
    layer: int
    x: int
    y: int


@dataclass(frozen=True)
class PlacedEdge:
    """An edge from the right side of ``parent`` to the left side of ``child``."""

    parent: int
    child: int
    path: str  # an SVG path (a cubic curve)
    label: str  # the step names, shortened to fit between layers
    title: str  # every step with its parameters, for the tooltip
    label_x: int
    label_y: int


@dataclass(frozen=True)
class LineageLayout:
    """Everything the SVG needs: its size, the placed nodes and edges."""

    width: int
    height: int
    nodes: list[PlacedNode]
    edges: list[PlacedEdge]


def layout(lineage: Lineage) -> LineageLayout:
    """Place ``lineage`` in layers left to right."""
    parents: dict[int, list[int]] = {v.version: [] for v in lineage.nodes}
    for edge in lineage.edges:
        parents[edge.child].append(edge.parent)
    layer_of: dict[int, int] = {}
    for v in lineage.nodes:  # by number: every parent is older, so already placed
        layer_of[v.version] = 1 + max((layer_of[p] for p in parents[v.version]), default=-1)
    layers: dict[int, list[DatasetVersion]] = {}
    for v in lineage.nodes:
        layers.setdefault(layer_of[v.version], []).append(v)
    row_of: dict[int, float] = {}
    placed: dict[int, PlacedNode] = {}
    for layer in sorted(layers):

        def order(v: DatasetVersion) -> tuple[float, int]:
            rows = [row_of[p] for p in parents[v.version]]
            return (sum(rows) / len(rows) if rows else 0.0, v.version)

        for row, v in enumerate(sorted(layers[layer], key=order)):
            row_of[v.version] = row
            placed[v.version] = PlacedNode(
                version=v,
                layer=layer,
                x=MARGIN + layer * (NODE_WIDTH + LAYER_GAP),
                y=MARGIN + row * (NODE_HEIGHT + ROW_GAP),
            )
    edges = [_edge(edge, placed[edge.parent], placed[edge.child]) for edge in lineage.edges]
    columns = max(layers, default=-1) + 1
    rows = max((len(vs) for vs in layers.values()), default=0)
    return LineageLayout(
        width=2 * MARGIN + columns * NODE_WIDTH + max(0, columns - 1) * LAYER_GAP,
        height=2 * MARGIN + rows * NODE_HEIGHT + max(0, rows - 1) * ROW_GAP,
        nodes=[placed[v.version] for v in lineage.nodes],
        edges=edges,
    )


def _edge(edge: LineageEdge, parent: PlacedNode, child: PlacedNode) -> PlacedEdge:
    x1, y1 = parent.x + NODE_WIDTH, parent.y + NODE_HEIGHT // 2
    x2, y2 = child.x, child.y + NODE_HEIGHT // 2
    bend = max(20, (x2 - x1) // 2)
    names = ", ".join(step.name for step in edge.steps) or "(no steps)"
    label = names if len(names) <= LABEL_CHARS else names[: LABEL_CHARS - 1] + "…"
    title = "\n".join(
        f"{step.name} {json.dumps(step.params, sort_keys=True)}" for step in edge.steps
    )
    return PlacedEdge(
        parent=edge.parent,
        child=edge.child,
        path=f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}",
        label=label,
        title=title or names,
        label_x=(x1 + x2) // 2,
        label_y=(y1 + y2) // 2 - 6,
    )
