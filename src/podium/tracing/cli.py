"""``podium traces``: list, show and export traces from the command line.

A thin layer over ``/api/v1/traces`` through ``podium.client.Client`` (``PODIUM_URL``, or the
app in-process when unset); ``--json`` prints the API's JSON. ``export`` writes one JSON object
per line (each trace with its span tree), for files and pipes.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.markup import escape

from podium.access.models import DEFAULT_PROJECT
from podium.cli.output import format_when, print_json, print_table, stdout
from podium.client import Client

app = typer.Typer(
    help="Traces: list, show and export spans ingested over OTLP.", no_args_is_help=True
)

ProjectOption = typer.Option(DEFAULT_PROJECT, "--project", "-p", help="Project of the traces.")
JsonOption = typer.Option(False, "--json", help="Print the API's JSON instead of a table.")
SinceOption = typer.Option(None, "--since", help="Only traces started at or after (ISO 8601).")
UntilOption = typer.Option(None, "--until", help="Only traces started before (ISO 8601).")
ModelOption = typer.Option(None, "--model", help="Only traces of this model.")
UserOption = typer.Option(None, "--user", help="Only traces of this user.")
SessionOption = typer.Option(None, "--session", help="Only traces of this session.")
ErrorOption = typer.Option(None, "--error/--ok", help="Only failed (or only ok) traces.")


def _filters(**given: Any) -> dict[str, Any]:
    names = {"since": "start_after", "until": "start_before"}
    return {names.get(k, k): v for k, v in given.items() if v is not None}


@app.command("list")
def list_traces(
    project: str = ProjectOption,
    since: str | None = SinceOption,
    until: str | None = UntilOption,
    model: str | None = ModelOption,
    user: str | None = UserOption,
    session: str | None = SessionOption,
    error: bool | None = ErrorOption,
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=1000, help="How many traces."),
    as_json: bool = JsonOption,
) -> None:
    """List the newest traces with their model, tokens, cost and latency."""
    params = _filters(
        since=since, until=until, model=model, user=user, session=session, error=error
    )
    with Client() as client:
        found = client.get("/traces", project=project, limit=limit, **params)["items"]
    if as_json:
        print_json(found)
        return
    print_table(
        f"traces in {project}",
        ["trace", "started", "name", "model", "tokens in/out", "cost $", "ms", "status"],
        (
            [
                t["trace_id"],
                format_when(t["start_time"], millis=True),
                escape(t["name"] or "-"),
                escape(t["model"] or "-"),
                f"{t['input_tokens']}/{t['output_tokens']}",
                f"{t['cost_usd']:.6f}",
                f"{t['duration_ms']:.1f}",
                "error" if t["error"] else "ok",
            ]
            for t in found
        ),
    )


def _print_tree(node: dict[str, Any], depth: int) -> None:
    model = " " + escape(f"[{node['model']}]") if node["model"] else ""
    tokens = (
        f" {node['input_tokens']}/{node['output_tokens']} tokens"
        if node["input_tokens"] is not None or node["output_tokens"] is not None
        else ""
    )
    status = " ERROR: " + escape(node["status_message"]) if node["status"] == "error" else ""
    stdout.print(
        f"{'  ' * depth}{escape(node['name'])}{model} {node['duration_ms']:.1f} ms{tokens}{status}"
    )
    for child in node["children"]:
        _print_tree(child, depth + 1)


@app.command("show")
def show(
    trace_id: str = typer.Argument(..., help="Trace id (32 hex digits)."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Show one trace as a tree of spans."""
    with Client() as client:
        found = client.get(f"/traces/{trace_id}", project=project)
    if as_json:
        print_json(found)
        return
    stdout.print(
        f"trace {found['trace_id']} · {found['span_count']} spans · "
        f"{found['duration_ms']:.1f} ms · ${found['cost_usd']:.6f}"
    )
    for root in found["spans"]:
        _print_tree(root, 1)


@app.command("export")
def export(
    project: str = ProjectOption,
    since: str | None = SinceOption,
    until: str | None = UntilOption,
    model: str | None = ModelOption,
    user: str | None = UserOption,
    session: str | None = SessionOption,
    error: bool | None = ErrorOption,
    as_json: bool = typer.Option(
        True, "--json/--summary", help="Full traces with spans (default), or summaries only."
    ),
) -> None:
    """Write every matching trace as one JSON line (newest first) to stdout."""
    params = _filters(
        since=since, until=until, model=model, user=user, session=session, error=error
    )
    with Client() as client:
        for summary in client.paginate("/traces", project=project, limit=500, **params):
            line = (
                client.get(f"/traces/{summary['trace_id']}", project=project)
                if as_json
                else summary
            )
            sys.stdout.write(json.dumps(line) + "\n")
