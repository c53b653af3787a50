"""``podium traces``: list, show, export and prune traces from the command line.

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
from podium.cli.output import fail, format_when, print_json, print_table, stdout
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
TagOption = typer.Option(None, "--tag", help="Only traces with this tag (repeat: every one).")
MinScoreOption = typer.Option(None, "--min-score", help="Only traces with a score >= this.")
MaxScoreOption = typer.Option(None, "--max-score", help="Only traces with a score <= this.")
ScoreNameOption = typer.Option(None, "--score-name", help="The score --min/--max-score test.")


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
    tag: list[str] | None = TagOption,
    min_score: float | None = MinScoreOption,
    max_score: float | None = MaxScoreOption,
    score_name: str | None = ScoreNameOption,
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=1000, help="How many traces."),
    as_json: bool = JsonOption,
) -> None:
    """List the newest traces with their model, tokens, cost and latency."""
    params = _filters(
        since=since,
        until=until,
        model=model,
        user=user,
        session=session,
        error=error,
        tag=tag or None,
        min_score=min_score,
        max_score=max_score,
        score_name=score_name,
    )
    with Client() as client:
        found = client.get("/traces", project=project, limit=limit, **params)["items"]
    if as_json:
        print_json(found)
        return
    print_table(
        f"traces in {project}",
        ["trace", "started", "name", "model", "tokens in/out", "cost $", "ms", "status", "tags"],
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
                escape(",".join(t.get("tags", []))),
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
    tag: list[str] | None = TagOption,
    as_json: bool = typer.Option(
        True, "--json/--summary", help="Full traces with spans (default), or summaries only."
    ),
) -> None:
    """Write every matching trace as one JSON line (newest first) to stdout."""
    params = _filters(
        since=since,
        until=until,
        model=model,
        user=user,
        session=session,
        error=error,
        tag=tag or None,
    )
    with Client() as client:
        cursor: str | None = None
        while True:  # keyset pages: each costs the same however deep the export goes
            page = client.get("/traces", project=project, limit=500, cursor=cursor, **params)
            for summary in page["items"]:
                line = (
                    client.get(f"/traces/{summary['trace_id']}", project=project)
                    if as_json
                    else summary
                )
                sys.stdout.write(json.dumps(line) + "\n")
            cursor = page.get("next_cursor")
            if cursor is None:
                return


_UNITS = {"m": 1 / 1440, "h": 1 / 24, "d": 1.0, "w": 7.0}


def _days(text: str) -> float:
    """Days in a duration such as ``30d``, ``12h``, ``90m`` or ``2w`` (a bare number is days)."""
    raw = text.strip().lower()
    unit = raw[-1:] if raw[-1:] in _UNITS else "d"
    number = raw[:-1] if raw[-1:] in _UNITS else raw
    try:
        value = float(number) * _UNITS[unit]
    except ValueError:
        value = -1.0
    if not value > 0:
        fail(f"--older-than must be a positive duration such as 30d, 12h or 2w, not {text!r}")
    return value


@app.command("prune")
def prune(
    older_than: str = typer.Option(
        ..., "--older-than", help="Delete traces started longer ago than this: 30d, 12h, 2w."
    ),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Delete the project's traces older than a duration (with their spans, tags, scores)."""
    days = _days(older_than)
    with Client() as client:
        result = client.post(
            "/traces/prune", {"older_than_days": days}, params={"project": project}
        )
    if as_json:
        print_json(result)
        return
    stdout.print(f"deleted {result['traces']} traces ({result['spans']} spans) from {project}")
