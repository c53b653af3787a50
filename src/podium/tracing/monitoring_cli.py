"""``podium drift …`` and ``podium alerts …``: drift checks and alert rules from the command line.

A thin layer over ``/api/v1/traces/drift`` and ``/api/v1/alerts`` through
``podium.client.Client`` (``PODIUM_URL``, or the app in-process when unset); ``--json`` prints
the API's JSON. ``podium drift check --fail-on-drift`` exits with 1 on drift, for CI jobs.
"""

from __future__ import annotations

import re
from typing import Any

import typer
from rich.markup import escape

from podium.access.models import DEFAULT_PROJECT
from podium.cli.output import fail, format_when, print_json, print_table, stdout
from podium.client import Client

drift_app = typer.Typer(
    help="Drift: compare a current window of traffic with a reference window.",
    no_args_is_help=True,
)
alerts_app = typer.Typer(
    help="Alert rules on trace metrics, their events and webhooks.", no_args_is_help=True
)

ProjectOption = typer.Option(DEFAULT_PROJECT, "--project", "-p", help="Project of the traces.")
JsonOption = typer.Option(False, "--json", help="Print the API's JSON instead of a table.")
_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}"


@drift_app.command("check")
def check(
    project: str = ProjectOption,
    reference: str = typer.Option(
        "7d..1d", "--reference", "-r", help="Reference window, FROM..TO ago (7d..1d) or ISO."
    ),
    current: str = typer.Option(
        "1d", "--current", "-c", help="Current window: 1d means the last day."
    ),
    alpha: float = typer.Option(0.01, "--alpha", min=0.0, max=1.0, help="Significance level."),
    fail_on_drift: bool = typer.Option(
        False, "--fail-on-drift", help="Exit with status 1 when drift is found."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Compare the current window's spans with the reference window's; print p-values."""
    body = {"project": project, "reference": reference, "current": current, "alpha": alpha}
    with Client() as client:
        report: dict[str, Any] = client.post("/traces/drift", body)
    if as_json:
        print_json(report)
    else:
        print_table(
            f"drift in {project}: {report['verdict']}",
            ["statistic", "test", "reference", "current", "effect", "p-value", ""],
            (
                [
                    s["name"],
                    s["test"],
                    _number(s["reference"]),
                    _number(s["current"]),
                    _number(s["effect_size"]),
                    _number(s["p_value"]),
                    "SHIFTED" if s["flagged"] else escape(s["note"]),
                ]
                for s in report["statistics"]
            ),
        )
        ref, cur = report["reference"], report["current"]
        stdout.print(
            f"{cur['spans']} current spans ({format_when(cur['since'])} .. "
            f"{format_when(cur['until'])}) against {ref['spans']} reference spans "
            f"({format_when(ref['since'])} .. {format_when(ref['until'])}); alpha {alpha}; "
            f"verdict: [bold]{report['verdict']}[/]"
        )
    if fail_on_drift and report["verdict"] == "drift":
        raise typer.Exit(1)


def _seconds(text: str) -> int:
    match = _DURATION.match(text.strip())
    if not match:
        fail(f"--window must be a duration such as 300, 90s, 5m, 1h or 1d, not {text!r}")
        raise AssertionError  # unreachable: fail exits
    return int(match.group(1)) * _SECONDS[match.group(2)]


def _rule_rows(rules: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            r["id"],
            escape(r["name"]),
            f"{r['metric']} {r['comparator']} {r['threshold']:g}",
            f"{r['window_s']}s",
            r["for_count"],
            "FIRING" if r["state"] == "firing" else "ok",
            _number(r["last_value"]),
            "yes" if r["webhook_url"] else "",
        ]
        for r in rules
    ]


_RULE_COLUMNS = ["id", "name", "condition", "window", "for", "state", "last value", "webhook"]


@alerts_app.command("list")
def list_rules(project: str = ProjectOption, as_json: bool = JsonOption) -> None:
    """List the project's alert rules with their state."""
    with Client() as client:
        rules = list(client.paginate("/alerts/rules", project=project))
    if as_json:
        print_json(rules)
        return
    print_table(f"alert rules in {project}", _RULE_COLUMNS, _rule_rows(rules))


@alerts_app.command("create")
def create(
    name: str = typer.Option(..., "--name", "-n", help="Rule name, unique in the project."),
    metric: str = typer.Option(
        ...,
        "--metric",
        "-m",
        help="request_count, error_count, error_rate, cost, input_tokens, output_tokens, "
        "p50_latency_ms, p95_latency_ms, p99_latency_ms or drift_p_value.",
    ),
    threshold: float = typer.Option(..., "--threshold", "-t", help="Value to compare with."),
    comparator: str = typer.Option(">", "--comparator", help="One of > >= < <=."),
    window: str = typer.Option("5m", "--window", "-w", help="Aggregation window: 300, 5m, 1h."),
    for_count: int = typer.Option(
        1, "--for", min=1, help="Consecutive breaching evaluations before it fires."
    ),
    webhook: str | None = typer.Option(
        None, "--webhook", help="URL POSTed a JSON event when the rule fires or resolves."
    ),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Create an alert rule, e.g. --metric p95_latency_ms --threshold 2000 --window 5m."""
    body = {
        "project": project,
        "name": name,
        "metric": metric,
        "threshold": threshold,
        "comparator": comparator,
        "window_s": _seconds(window),
        "for_count": for_count,
        "webhook_url": webhook,
    }
    with Client() as client:
        rule = client.post("/alerts/rules", body)
    if as_json:
        print_json(rule)
        return
    stdout.print(
        f"created alert rule {rule['id']} {escape(rule['name'])!r}: {rule['metric']} "
        f"{rule['comparator']} {rule['threshold']:g} over {rule['window_s']}s"
    )


@alerts_app.command("delete")
def delete(
    rule_id: int = typer.Argument(..., help="Rule id (see `podium alerts list`)."),
    project: str = ProjectOption,
) -> None:
    """Delete an alert rule and its events."""
    with Client() as client:
        client.request("DELETE", f"/alerts/rules/{rule_id}", params={"project": project})
    stdout.print(f"deleted alert rule {rule_id}")


def _event_rows(events: list[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            format_when(e["at"]),
            escape(e["rule_name"]),
            e["kind"],
            _number(e["value"]),
            f"{e['threshold']:g}",
            e["delivery"] + (f" ({e['attempts']})" if e["attempts"] else ""),
        ]
        for e in events
    ]


_EVENT_COLUMNS = ["at", "rule", "event", "value", "threshold", "webhook"]


@alerts_app.command("events")
def events(
    project: str = ProjectOption,
    rule_id: int | None = typer.Option(None, "--rule", help="Only this rule's events."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="How many events."),
    as_json: bool = JsonOption,
) -> None:
    """List fired and resolved events, newest first."""
    with Client() as client:
        found = client.get("/alerts/events", project=project, rule_id=rule_id, limit=limit)
    if as_json:
        print_json(found["items"])
        return
    print_table(f"alert events in {project}", _EVENT_COLUMNS, _event_rows(found["items"]))


@alerts_app.command("evaluate")
def evaluate(project: str = ProjectOption, as_json: bool = JsonOption) -> None:
    """Evaluate the project's rules now; print the events this produced."""
    with Client() as client:
        found = client.request("POST", "/alerts/evaluate", params={"project": project})
    if as_json:
        print_json(found)
        return
    if not found:
        stdout.print("no rule changed state")
        return
    print_table(f"new alert events in {project}", _EVENT_COLUMNS, _event_rows(found))
