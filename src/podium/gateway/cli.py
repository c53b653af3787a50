"""``podium gateway``: routes, canaries and limits from the command line.

A thin layer over ``/api/v1/gateway`` through ``podium.client.Client`` (``PODIUM_URL``, or the
app in-process when unset); ``--json`` prints the API's JSON. ``routes apply FILE`` reads the same
YAML format as ``PODIUM_GATEWAY_CONFIG`` (see docs/gateway.md) and puts each route.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import typer

from podium.access.models import DEFAULT_PROJECT
from podium.cli.output import format_when, print_json, print_table, stdout
from podium.client import Client
from podium.errors import InvalidInput
from podium.yamlio import read_yaml

app = typer.Typer(help="Gateway: routes, deployments, canaries and limits.", no_args_is_help=True)
routes_app = typer.Typer(help="Routes: public model names and their deployments.")
canary_app = typer.Typer(help="Canary rollouts: promote a step or roll back.")
limits_app = typer.Typer(help="Rate limits and budgets per project and per API key.")
app.add_typer(routes_app, name="routes", no_args_is_help=True)
app.add_typer(canary_app, name="canary", no_args_is_help=True)
app.add_typer(limits_app, name="limits", no_args_is_help=True)

ProjectOption = typer.Option(DEFAULT_PROJECT, "--project", "-p", help="Project of the routes.")
JsonOption = typer.Option(False, "--json", help="Print the API's JSON instead of a table.")


def _path(*parts: str) -> str:
    return "/gateway/" + "/".join(quote(p, safe=":") for p in parts)


def _deployments(route: dict[str, Any]) -> str:
    shares = route.get("traffic", {})
    return ", ".join(
        f"{d['name']}={shares.get(d['name'], 0):g}%"
        + (" (canary)" if d.get("role") == "canary" else "")
        for d in route["spec"]["deployments"]
    )


@routes_app.command("list")
def list_routes(project: str = ProjectOption, as_json: bool = JsonOption) -> None:
    """List the project's routes with their deployments and traffic shares."""
    with Client() as client:
        found = list(client.paginate(_path("routes"), project=project))
    if as_json:
        print_json(found)
        return
    print_table(
        f"gateway routes in {project}",
        ["name", "deployments", "revision", "updated"],
        ([r["name"], _deployments(r), r["revision"], format_when(r["updated_at"])] for r in found),
    )


@routes_app.command("show")
def show(
    name: str = typer.Argument(..., help="Route name."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Show one route: its deployments, reliability settings and canary."""
    with Client() as client:
        found = client.get(_path("routes", name), project=project)
    if as_json:
        print_json(found)
        return
    spec = found["spec"]
    stdout.print(f"[bold]{found['name']}[/bold] (revision {found['revision']}) in {project}")
    stdout.print(
        f"retries {spec['retries']}, fallbacks {', '.join(spec['fallbacks']) or '-'}, "
        f"cache {spec['cache_ttl_s']:g} s, guardrails {', '.join(spec['guardrails']) or '-'}"
    )
    if spec.get("canary"):
        canary = spec["canary"]
        stdout.print(f"canary: {canary['state']}, step {canary['step']} of {canary['steps']}")
    print_table(
        None,
        ["deployment", "role", "provider", "model", "traffic %", "prompt"],
        (
            [
                d["name"],
                d["role"],
                d["provider"],
                _model_of(d),
                f"{found['traffic'].get(d['name'], 0):g}",
                f"{d['prompt']}@{d['prompt_label']}" if d.get("prompt") else None,
            ]
            for d in spec["deployments"]
        ),
    )


def _model_of(deployment: dict[str, Any]) -> str | None:
    """The provider model, or the registry model it follows (``name@alias`` / ``name/3``)."""
    if not deployment.get("registry_model"):
        model: str | None = deployment.get("model")
        return model
    pin = deployment.get("registry_alias")
    pinned = f"@{pin}" if pin else f"/{deployment.get('registry_version')}"
    return f"registry:{deployment['registry_model']}{pinned}"


@routes_app.command("apply")
def apply(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="YAML file of routes."),
    as_json: bool = JsonOption,
) -> None:
    """Create or replace every route in a YAML file (``routes:`` list; see docs/gateway.md)."""
    raw = read_yaml(file, field="file")
    if not isinstance(raw, dict) or not isinstance(raw.get("routes"), list):
        raise InvalidInput(f"{file} needs a top-level 'routes' list; see docs/gateway.md")
    applied = []
    with Client() as client:
        for index, item in enumerate(raw["routes"]):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise InvalidInput(f"{file}: routes[{index}] needs a 'name'")
            spec = dict(item)
            name = spec.pop("name")
            project = str(spec.pop("project", DEFAULT_PROJECT))
            applied.append(
                client.request("PUT", _path("routes", name), json=spec, params={"project": project})
            )
    if as_json:
        print_json(applied)
        return
    for route in applied:
        stdout.print(f"applied {route['project']}/{route['name']} (revision {route['revision']})")


@routes_app.command("delete")
def delete(
    name: str = typer.Argument(..., help="Route name."), project: str = ProjectOption
) -> None:
    """Delete a route (its history stays)."""
    with Client() as client:
        client.request("DELETE", _path("routes", name), params={"project": project})
    stdout.print(f"deleted route {name}")


@routes_app.command("history")
def history(
    name: str = typer.Argument(..., help="Route name."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Every change to a route, newest first."""
    with Client() as client:
        found = client.get(_path("routes", name, "history"), project=project)
    if as_json:
        print_json(found)
        return
    print_table(
        f"history of {name}",
        ["when", "actor", "action", "reason"],
        (
            [format_when(e["at"]), e["actor"], e["action"], e["details"].get("reason")]
            for e in found
        ),
    )


def _canary(action: str, name: str, project: str, reason: str, as_json: bool) -> None:
    with Client() as client:
        found = client.post(
            _path("routes", name, "canary", action), {"reason": reason}, params={"project": project}
        )
    if as_json:
        print_json(found)
        return
    canary = found["spec"]["canary"]
    stdout.print(f"{name}: canary {canary['state']}, traffic {_deployments(found)}")


@canary_app.command("promote")
def promote(
    name: str = typer.Argument(..., help="Route name."),
    reason: str = typer.Option("", help="Why (kept in the history)."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Move the route's canary to its next rollout step."""
    _canary("promote", name, project, reason, as_json)


@canary_app.command("rollback")
def rollback(
    name: str = typer.Argument(..., help="Route name."),
    reason: str = typer.Option("", help="Why (kept in the history)."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Send all of the route's traffic back to its stable deployments."""
    _canary("rollback", name, project, reason, as_json)


@limits_app.command("list")
def list_limits(project: str = ProjectOption, as_json: bool = JsonOption) -> None:
    """The project's limits (project-wide and per key)."""
    with Client() as client:
        found = client.get(_path("limits"), project=project)
    if as_json:
        print_json(found)
        return
    print_table(
        f"limits in {project}",
        ["scope", "requests/min", "tokens/min", "USD/day", "USD/month"],
        (
            [
                lim["scope"],
                lim["requests_per_minute"],
                lim["tokens_per_minute"],
                lim["cost_per_day"],
                lim["cost_per_month"],
            ]
            for lim in found
        ),
    )


@limits_app.command("set")
def set_limits(
    scope: str = typer.Argument("project", help="'project' or 'key:<key prefix>'."),
    rpm: int | None = typer.Option(None, "--rpm", help="Requests per minute."),
    tpm: int | None = typer.Option(None, "--tpm", help="Tokens per minute."),
    per_day: float | None = typer.Option(None, "--usd-per-day", help="Cost budget per day."),
    per_month: float | None = typer.Option(None, "--usd-per-month", help="Budget per month."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Set the limits of the project or of one API key (unset options mean unlimited)."""
    body = {
        "requests_per_minute": rpm,
        "tokens_per_minute": tpm,
        "cost_per_day": per_day,
        "cost_per_month": per_month,
    }
    with Client() as client:
        found = client.request(
            "PUT", _path("limits", scope), json=body, params={"project": project}
        )
    if as_json:
        print_json(found)
        return
    stdout.print(f"limits of {scope} in {project} set")


@limits_app.command("delete")
def delete_limits(
    scope: str = typer.Argument("project", help="'project' or 'key:<key prefix>'."),
    project: str = ProjectOption,
) -> None:
    """Remove the limits of the project or of one API key."""
    with Client() as client:
        client.request("DELETE", _path("limits", scope), params={"project": project})
    stdout.print(f"limits of {scope} in {project} removed")


@routes_app.command("status")
def status(
    name: str = typer.Argument(..., help="Route name."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Live state in the server: breakers, recent requests, error rate and p95 per deployment."""
    with Client() as client:
        found = client.get(_path("routes", name, "status"), project=project)
    if as_json:
        print_json(found)
        return
    print_table(
        f"{name}: canary {found['canary_state'] or '-'}",
        ["deployment", "role", "traffic %", "breaker", "requests", "errors %", "p95 ms"],
        (
            [
                d["name"],
                d["role"],
                f"{d['traffic_percent']:g}",
                d["breaker"],
                d["requests"],
                f"{100 * d['error_rate']:.1f}",
                f"{d['latency_p95_ms']:.0f}",
            ]
            for d in found["deployments"]
        ),
    )
