"""``podium models``: the model registry from the command line.

A thin layer over the REST API through ``podium.client.Client`` (``PODIUM_URL``, or the app
in-process when unset): each command sends one or a few requests and prints a Rich table, or
the API's JSON with ``--json``. Errors arrive as ``podium.errors`` and become one line and exit
code 2 in ``podium.cli.output.run_cli``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import typer

from podium.access.models import DEFAULT_PROJECT
from podium.cli.output import format_when, print_json, print_table, stdout
from podium.client import Client

app = typer.Typer(
    help="Model registry: registered models, versions, aliases and their history.",
    no_args_is_help=True,
)

ProjectOption = typer.Option(DEFAULT_PROJECT, "--project", "-p", help="Project of the model.")
JsonOption = typer.Option(False, "--json", help="Print the API's JSON instead of a table.")


def _path(name: str, *rest: str) -> str:
    return "/models/" + "/".join(quote(part, safe="") for part in (name, *rest))


def _version(value: Any) -> str:
    return "-" if value is None else f"v{value}"


def _aliases(aliases: dict[str, int]) -> str:
    return ", ".join(f"{alias}=v{version}" for alias, version in sorted(aliases.items())) or "-"


@app.command("create")
def create_model(
    name: str = typer.Argument(..., help="Model name (letters, digits, '.', '_', '-')."),
    description: str = typer.Option("", "--description", "-d", help="What the model is for."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Register a model name (versions are added by training code or the REST API)."""
    with Client() as client:
        model = client.post(
            "/models", {"project": project, "name": name, "description": description}
        )
    if as_json:
        print_json(model)
        return
    stdout.print(f"registered {model['name']} in project {model['project']}", highlight=False)


@app.command("list")
def list_models(project: str = ProjectOption, as_json: bool = JsonOption) -> None:
    """List the project's registered models."""
    with Client() as client:
        models = list(client.paginate("/models", project=project))
    if as_json:
        print_json(models)
        return
    print_table(
        f"models in {project}",
        ["name", "latest", "aliases", "updated", "description"],
        (
            [
                m["name"],
                _version(m["latest_version"] or None),
                _aliases(m["aliases"]),
                format_when(m["updated_at"]),
                m["description"].splitlines()[0] if m["description"] else "",
            ]
            for m in models
        ),
    )


@app.command("show")
def show_model(
    name: str = typer.Argument(..., help="Model name."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Show a model: its aliases and its versions, newest first."""
    with Client() as client:
        model = client.get(_path(name), project=project)
        versions = list(client.paginate(_path(name, "versions"), project=project))
    if as_json:
        print_json({"model": model, "versions": versions})
        return
    stdout.print(f"[bold]{model['name']}[/] (project {model['project']})", highlight=False)
    if model["description"]:
        stdout.print(model["description"], highlight=False)
    print_table(
        "aliases",
        ["alias", "version"],
        sorted(([alias, f"v{version}"] for alias, version in model["aliases"].items())),
    )
    print_table(
        "versions",
        ["version", "aliases", "framework", "source run", "artifact", "created", "by"],
        (
            [
                f"v{v['version']}",
                ", ".join(v["aliases"]) or None,
                v["framework"],
                v["source_run_id"],
                v["artifact_path"] or (v["artifact_sha256"] or "")[:12] or None,
                format_when(v["created_at"]),
                v["created_by"],
            ]
            for v in versions
        ),
    )


@app.command("promote")
def promote(
    name: str = typer.Argument(..., help="Model name."),
    version: int = typer.Argument(..., min=1, help="Version number to point the alias at."),
    alias: str = typer.Option(..., "--alias", "-a", help="Alias to move, e.g. production."),
    reason: str = typer.Option("", "--reason", "-r", help="Why, recorded in the history."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Point an alias at a version (recorded in the alias history)."""
    with Client() as client:
        moved = client.request(
            "PUT",
            _path(name, "aliases", alias),
            params={"project": project},
            json={"version": version, "reason": reason},
        )
    if as_json:
        print_json(moved)
        return
    stdout.print(f"{name}: {alias} -> v{moved['version']}", highlight=False)


@app.command("rollback")
def rollback(
    name: str = typer.Argument(..., help="Model name."),
    alias: str = typer.Option(..., "--alias", "-a", help="Alias to move back, e.g. production."),
    reason: str = typer.Option("", "--reason", "-r", help="Why, recorded in the history."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Undo the alias's last move; run it again to walk further back."""
    with Client() as client:
        moved = client.post(
            _path(name, "aliases", alias, "rollback"),
            {"reason": reason},
            params={"project": project},
        )
    if as_json:
        print_json(moved)
        return
    stdout.print(f"{name}: {alias} rolled back to v{moved['version']}", highlight=False)


@app.command("history")
def history(
    name: str = typer.Argument(..., help="Model name."),
    alias: str | None = typer.Option(None, "--alias", "-a", help="Only this alias."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Every alias move of a model, newest first: when, who, from, to and why."""
    with Client() as client:
        events = client.get(_path(name, "history"), project=project, alias=alias)
    if as_json:
        print_json(events)
        return
    print_table(
        f"alias history of {name}",
        ["when", "alias", "from", "to", "by", "reason"],
        (
            [
                format_when(e["at"]),
                e["alias"],
                _version(e["from_version"]),
                _version(e["to_version"]),
                e["actor"],
                e["reason"],
            ]
            for e in events
        ),
    )
