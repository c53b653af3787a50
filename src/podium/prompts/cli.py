"""``podium prompts``: the prompt registry from the command line.

A thin layer over the REST API through ``podium.client.Client`` (``PODIUM_URL``, or the app
in-process when unset); ``--json`` prints the API's JSON. ``pull DIR`` / ``push DIR`` keep
prompts as YAML files in a repository (format in ``podium.prompts.files``). Errors arrive as
``podium.errors`` and become one line and exit code 2 in ``podium.cli.output.run_cli``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import typer
from rich.markup import escape

from podium.access.models import DEFAULT_PROJECT
from podium.cli.output import format_when, print_json, print_table, stdout
from podium.client import Client
from podium.client.prompts import push_json
from podium.errors import InvalidInput
from podium.prompts.files import prompt_files, read_prompt_file, write_prompt_file

app = typer.Typer(
    help="Prompt registry: versioned prompts, labels, diffs, rendering, YAML files.",
    no_args_is_help=True,
)

ProjectOption = typer.Option(DEFAULT_PROJECT, "--project", "-p", help="Project of the prompts.")
JsonOption = typer.Option(False, "--json", help="Print the API's JSON instead of a table.")


def _path(name: str, *rest: str) -> str:
    return "/prompts/" + "/".join(quote(part, safe="") for part in (name, *rest))


def _labels(labels: dict[str, int]) -> str:
    return ", ".join(f"{label}=v{version}" for label, version in sorted(labels.items())) or "-"


@app.command("list")
def list_prompts(project: str = ProjectOption, as_json: bool = JsonOption) -> None:
    """List the project's prompts with their latest version and labels."""
    with Client() as client:
        found = list(client.paginate("/prompts", project=project))
    if as_json:
        print_json(found)
        return
    print_table(
        f"prompts in {project}",
        ["name", "kind", "latest", "labels", "updated"],
        (
            [
                p["name"],
                p["kind"],
                f"v{p['latest_version']}",
                _labels(p["labels"]),
                format_when(p["updated_at"]),
            ]
            for p in found
        ),
    )


@app.command("show")
def show(
    name: str = typer.Argument(..., help="Prompt name."),
    version: int | None = typer.Option(None, "--version", "-v", min=1, help="Version number."),
    label: str = typer.Option("latest", "--label", "-l", help="Label (when no --version)."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Show one version of a prompt: its template, variables and model parameters."""
    path = _path(name, "versions", str(version)) if version else _path(name, "labels", label)
    with Client() as client:
        found = client.get(path, project=project)
    if as_json:
        print_json(found)
        return
    stdout.print(
        f"[bold]{escape(found['prompt'])}[/] v{found['version']} ({found['kind']}) "
        f"labels: {', '.join(found['labels']) or '-'}",
        highlight=False,
    )
    if found["kind"] == "chat":
        for m in found["messages"]:
            head = f"[placeholder {m['name']}]" if m.get("type") else f"[{m['role']}]"
            stdout.print(escape(head), style="bold cyan", highlight=False)
            if not m.get("type"):
                stdout.print(escape(m["content"]), highlight=False)
    else:
        stdout.print(escape(found["template"]), highlight=False)
    print_table(
        "variables",
        ["name", "type", "required", "default", "description"],
        (
            [v["name"], v["type"], v["required"], json.dumps(v["default"]), v["description"]]
            for v in found["variables"]
        ),
    )
    if found["model_params"]:
        stdout.print("model_params: " + json.dumps(found["model_params"]), highlight=False)


@app.command("push")
def push(
    directory: Path = typer.Argument(..., help="Folder of <name>.yaml prompt files."),
    message: str = typer.Option("", "--message", "-m", help="Commit message of new versions."),
    label: list[str] = typer.Option(
        [], "--label", "-l", help="Move this label to each result (needs an admin's role)."
    ),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Push every YAML file in DIR; identical content makes no new version."""
    # Read every file first: one malformed file stops the push before anything changes.
    bodies = [(path, *read_prompt_file(path)) for path in prompt_files(directory)]
    results = []
    with Client() as client:
        for path, name, body in bodies:
            pushed = push_json(client, project, name, {**body, "message": message}, labels=label)
            results.append(
                {
                    "file": str(path),
                    "prompt": name,
                    "version": pushed["version"],
                    "status": "created" if pushed["created"] else "unchanged",
                }
            )
    if as_json:
        print_json(results)
        return
    print_table(
        f"pushed to {project}",
        ["file", "prompt", "version", "status"],
        ([r["file"], r["prompt"], f"v{r['version']}", r["status"]] for r in results),
    )


@app.command("pull")
def pull(
    directory: Path = typer.Argument(..., help="Folder to write <name>.yaml files into."),
    label: str = typer.Option("latest", "--label", "-l", help="Which version of each prompt."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Write one YAML file per prompt (prompts without the label are skipped)."""
    directory.mkdir(parents=True, exist_ok=True)
    results = []
    with Client() as client:
        for prompt in client.paginate("/prompts", project=project):
            if label != "latest" and label not in prompt["labels"]:
                results.append({"prompt": prompt["name"], "version": None, "file": None})
                continue
            version = client.get(_path(prompt["name"], "labels", label), project=project)
            path = write_prompt_file(directory, version)
            results.append(
                {"prompt": prompt["name"], "version": version["version"], "file": str(path)}
            )
    if as_json:
        print_json(results)
        return
    print_table(
        f"pulled from {project} ({label})",
        ["prompt", "version", "file"],
        (
            [r["prompt"], f"v{r['version']}" if r["version"] else f"no label {label}", r["file"]]
            for r in results
        ),
    )


@app.command("diff")
def diff(
    name: str = typer.Argument(..., help="Prompt name."),
    from_version: int = typer.Argument(..., min=1, help="Older version."),
    to_version: int = typer.Argument(..., min=1, help="Newer version."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Unified diff of two versions: template, variables, model params, config and tags."""
    with Client() as client:
        found = client.get(
            _path(name, "diff"), project=project, **{"from": from_version, "to": to_version}
        )
    if as_json:
        print_json(found)
        return
    if not found["changed"]:
        stdout.print(f"v{from_version} and v{to_version} are identical", highlight=False)
        return
    for text in found["sections"].values():
        for line in text.splitlines():
            style = None
            if line.startswith(("+++", "---")):
                style = "bold"
            elif line.startswith("+"):
                style = "green"
            elif line.startswith("-"):
                style = "red"
            elif line.startswith("@@"):
                style = "cyan"
            stdout.print(escape(line), style=style, highlight=False)


@app.command("label")
def set_label(
    name: str = typer.Argument(..., help="Prompt name."),
    version: int = typer.Argument(..., min=1, help="Version to point the label at."),
    label: str = typer.Argument(..., help="Label, e.g. production."),
    reason: str = typer.Option("", "--reason", "-r", help="Why, recorded in the history."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Point a label at a version (recorded in the label history)."""
    with Client() as client:
        moved = client.request(
            "PUT",
            _path(name, "labels", label),
            params={"project": project},
            json={"version": version, "reason": reason},
        )
    if as_json:
        print_json(moved)
        return
    stdout.print(f"{name}: {label} -> v{moved['version']}", highlight=False)


@app.command("rollback")
def rollback(
    name: str = typer.Argument(..., help="Prompt name."),
    label: str = typer.Argument(..., help="Label to move back, e.g. production."),
    reason: str = typer.Option("", "--reason", "-r", help="Why, recorded in the history."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Undo the label's last move; run it again to walk further back."""
    with Client() as client:
        moved = client.post(
            _path(name, "labels", label, "rollback"),
            {"reason": reason},
            params={"project": project},
        )
    if as_json:
        print_json(moved)
        return
    stdout.print(f"{name}: {label} rolled back to v{moved['version']}", highlight=False)


@app.command("history")
def history(
    name: str = typer.Argument(..., help="Prompt name."),
    label: str | None = typer.Option(None, "--label", "-l", help="Only this label."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Every label move of a prompt, newest first."""
    with Client() as client:
        events = client.get(_path(name, "history"), project=project, label=label)
    if as_json:
        print_json(events)
        return
    print_table(
        f"label history of {name}",
        ["when", "label", "from", "to", "by", "reason"],
        (
            [
                format_when(e["at"]),
                e["label"],
                e["from_version"] and f"v{e['from_version']}",
                f"v{e['to_version']}",
                e["actor"],
                e["reason"],
            ]
            for e in events
        ),
    )


@app.command("render")
def render(
    name: str = typer.Argument(..., help="Prompt name."),
    var: list[str] = typer.Option([], "--var", help="KEY=VALUE (VALUE read as JSON if it parses)."),
    version: int | None = typer.Option(None, "--version", "-v", min=1, help="Version number."),
    label: str | None = typer.Option(None, "--label", "-l", help="Label (default production)."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Render a version with variables, on the server."""
    values: dict[str, Any] = {}
    for item in var:
        key, sep, raw = item.partition("=")
        if not sep:
            raise InvalidInput(f"--var {item!r} must be KEY=VALUE", field="var")
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    body = {"version": version, "label": label, "variables": values}
    with Client() as client:
        found = client.post(_path(name, "render"), body, params={"project": project})
    if as_json:
        print_json(found)
        return
    if found["text"] is not None:
        stdout.print(escape(found["text"]), highlight=False, end="")
        return
    for m in found["messages"]:
        stdout.print(f"[bold cyan]\\[{escape(m['role'])}][/]", highlight=False)
        stdout.print(escape(m["content"]), highlight=False)
