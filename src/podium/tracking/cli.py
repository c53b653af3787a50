"""``podium runs``: experiment runs from the command line (mounted by ``podium.cli.main``).

A thin layer over the REST API through ``podium.client.Client`` (``PODIUM_URL``, or the app
in-process when unset): ``list`` searches runs with the filter language, ``show`` prints one run,
``compare`` puts runs side by side. Tables are for people; ``--json`` prints the API's JSON.
Errors arrive as ``podium.errors`` and become one line and exit code 2 in ``run_cli``.

Run ids may be given in full or as a prefix of at least 4 characters (the tables show 8); a
prefix is looked up in ``--project``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from datetime import datetime
from typing import Any
from urllib.parse import quote

import typer
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from podium.access.models import DEFAULT_PROJECT
from podium.cli.output import print_json, print_table, stdout
from podium.client import Client
from podium.errors import InvalidInput, NotFound
from podium.units import format_size

app = typer.Typer(
    help="Experiment runs: list and search them, show one, compare several.",
    no_args_is_help=True,
)

ProjectOption = typer.Option(DEFAULT_PROJECT, "--project", "-p", help="Project of the runs.")
JsonOption = typer.Option(False, "--json", help="Print the API's JSON instead of tables.")
SHORT_ID = 8
MIN_PREFIX = 4
METRIC_COLUMNS = 4
_HEX_PREFIX = re.compile(r"^[0-9a-f]{4,31}$")
_METRIC_IN_ORDER = re.compile(r"^\s*metrics?\.(`(?:[^`]|``)+`|[^\s]+)", re.IGNORECASE)


# Cells go through print_table as Rich markup: user text is escaped so "[x]" prints as typed.


# -- formatting -----------------------------------------------------------------------------------


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value))


def _when(value: Any) -> str:
    moment = _time(value)
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _duration(run: dict[str, Any]) -> str:
    start, end = _time(run.get("start_time")), _time(run.get("end_time"))
    if start is None or end is None:
        return "running" if run.get("status") == "RUNNING" else "-"
    ms = int((end - start).total_seconds() * 1000)
    if ms < 1000:
        return f"{ms}ms"
    seconds = ms // 1000
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _number(value: Any) -> str:
    """A metric value for a table: 4 significant digits; NaN/Infinity arrive as strings."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    number = float(value)
    if math.isfinite(number) and number == int(number) and abs(number) < 1e15:
        return str(int(number))
    return f"{number:.4g}"


def _metric_columns(runs: list[dict[str, Any]], order_by: list[str]) -> list[str]:
    """Metric keys worth a column: those sorted by first, then the most common."""
    chosen: list[str] = []
    for entry in order_by:
        match = _METRIC_IN_ORDER.match(entry)
        if match:
            key = match.group(1)
            if key.startswith("`"):
                key = key[1:-1].replace("``", "`")
            if key not in chosen:
                chosen.append(key)
    counts = Counter(key for run in runs for key in run["metrics"])
    for key, _count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        if key not in chosen:
            chosen.append(key)
    return chosen[:METRIC_COLUMNS]


def _resolve(client: Client, run_id: str, project: str) -> str:
    """A full run id for ``run_id``, which may be a unique prefix of one in ``project``."""
    if not _HEX_PREFIX.match(run_id):
        return run_id
    page = client.get(
        "/runs", project=project, filter=f"id LIKE '{run_id}%'", limit=2, order_by=["id"]
    )
    ids = [run["id"] for run in page["items"]]
    if not ids:
        raise NotFound(
            f"no run id starts with {run_id!r} in project {project!r}; list runs with "
            "`podium runs list` (or pass --project)"
        )
    if len(ids) > 1:
        raise InvalidInput(
            f"run id prefix {run_id!r} matches several runs; give more characters", field="run_id"
        )
    return str(ids[0])


def _run_path(run_id: str, *rest: str) -> str:
    return "/runs/" + "/".join(quote(part, safe="") for part in (run_id, *rest))


# -- commands -------------------------------------------------------------------------------------


@app.command("list")
def list_runs(
    project: str = ProjectOption,
    experiment: list[str] | None = typer.Option(
        None, "--experiment", "-e", help="Only this experiment (repeatable)."
    ),
    filter_text: str = typer.Option(
        "",
        "--filter",
        "-f",
        help="Search filter, e.g. \"metrics.loss < 0.5 and params.lr = '0.01'\".",
    ),
    order_by: list[str] | None = typer.Option(
        None, "--order-by", "-o", help="Sort, e.g. 'metrics.loss ASC' (repeatable)."
    ),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=1000, help="How many runs."),
    as_json: bool = JsonOption,
) -> None:
    """List runs, newest first, or filtered and sorted with the search language."""
    with Client() as client:
        page = client.get(
            "/runs",
            project=project,
            experiment=experiment or None,
            filter=filter_text or None,
            order_by=order_by or None,
            limit=limit,
        )
    runs: list[dict[str, Any]] = page["items"]
    if as_json:
        print_json(runs)
        return
    keys = _metric_columns(runs, order_by or [])
    more = " (more with --limit)" if page["next_offset"] is not None else ""
    table = Table(title=f"runs in {project}{more}", header_style="bold")
    # Ids, statuses and durations never wrap; the rest fold when the terminal is narrow.
    table.add_column("id", no_wrap=True)
    table.add_column("name", overflow="fold", min_width=10)
    table.add_column("experiment", overflow="fold", min_width=6)
    table.add_column("status", no_wrap=True)
    table.add_column("start", overflow="fold", min_width=10)
    table.add_column("duration", no_wrap=True)
    for key in keys:
        table.add_column(Text(key), justify="right", overflow="fold", min_width=6)
    for run in runs:
        table.add_row(
            run["id"][:SHORT_ID],
            Text(run["name"]),
            Text(run["experiment"]),
            run["status"],
            _when(run["start_time"]),
            _duration(run),
            *(_number(run["metrics"].get(k, {}).get("value")) for k in keys),
        )
    stdout.print(table)


@app.command("show")
def show_run(
    run_id: str = typer.Argument(..., help="Run id (or a unique prefix of at least 4 characters)."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Show a run: its attributes, params, tags, latest metrics and artifacts."""
    with Client() as client:
        run = client.get(_run_path(_resolve(client, run_id, project)))
    if as_json:
        print_json(run)
        return
    summary = [
        ("id", run["id"]),
        ("name", run["name"]),
        ("project / experiment", f"{run['project']} / {run['experiment']}"),
        ("status", run["status"]),
        ("start", _when(run["start_time"])),
        ("end", _when(run["end_time"])),
        ("duration", _duration(run)),
        ("parent", run["parent_run_id"] or "-"),
        ("children", str(len(run["child_run_ids"]))),
        ("user", run["user"] or "-"),
        ("git commit", run["git_commit"] or "-"),
        ("command", run["command"] or "-"),
    ]
    print_table(
        f"run {escape(run['name'])}", ["field", "value"], ([k, escape(v)] for k, v in summary)
    )
    if run["params"]:
        print_table(
            "params", ["key", "value"], ([escape(k), escape(v)] for k, v in run["params"].items())
        )
    if run["tags"]:
        print_table(
            "tags", ["key", "value"], ([escape(k), escape(v)] for k, v in run["tags"].items())
        )
    if run["metrics"]:
        print_table(
            "metrics (latest)",
            ["key", "value", "step", "logged"],
            (
                [escape(k), _number(m["value"]), m["step"], _when(_iso(m["timestamp"]))]
                for k, m in run["metrics"].items()
            ),
        )
    if run["artifacts"]:
        print_table(
            "artifacts",
            ["path", "size", "sha256"],
            (
                [escape(a["path"]), format_size(a["size"]), a["sha256"][:12]]
                for a in run["artifacts"]
            ),
        )


def _iso(epoch_ms: int) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000).astimezone().isoformat()


@app.command("compare")
def compare_runs(
    run_ids: list[str] = typer.Argument(..., help="Two to fifty run ids (or unique prefixes)."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Put runs side by side: params (those that differ highlighted) and latest metrics."""
    with Client() as client:
        ids = [_resolve(client, run_id, project) for run_id in run_ids]
        comparison = client.get("/runs/compare", run_ids=ids)
    if as_json:
        print_json(comparison)
        return
    runs = comparison["runs"]
    differing = set(comparison["differing_params"])
    table = Table(
        title=f"{len(runs)} runs compared; differing params in yellow",
        header_style="bold",
    )
    table.add_column("")
    for run in runs:
        table.add_column(Text(f"{run['name']}\n{run['id'][:SHORT_ID]}"), overflow="fold")
    if comparison["params"]:
        table.add_row(Text("params", style="bold"), *("" for _ in runs))
    for key, values in comparison["params"].items():
        style = "bold yellow" if key in differing else None
        cells = [Text(values.get(run["id"]) or "-") for run in runs]
        table.add_row(Text(f"  {key}"), *cells, style=style)
    if comparison["metrics"]:
        table.add_row(Text("metrics", style="bold"), *("" for _ in runs))
    for key, values in comparison["metrics"].items():
        table.add_row(Text(f"  {key}"), *(_number(values.get(run["id"])) for run in runs))
    stdout.print(table)
