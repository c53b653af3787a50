"""``podium data``: datasets from the command line.

A thin layer over the REST API through ``podium.client.Client`` (``PODIUM_URL``, or the app
in-process when unset) and the SDK helpers in ``podium.client.data``; ``--json`` prints the
API's JSON. Errors arrive as ``podium.errors`` and become one line and exit code 2 in
``podium.cli.output.run_cli``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from podium.access.models import DEFAULT_PROJECT
from podium.cli.output import format_when, print_json, print_table, stdout
from podium.client import Client
from podium.client import data as sdk
from podium.errors import InvalidInput

app = typer.Typer(
    help="Datasets: versioned rows, imports, exports, diffs and lineage.",
    no_args_is_help=True,
)

ProjectOption = typer.Option(DEFAULT_PROJECT, "--project", "-p", help="Project of the dataset.")
JsonOption = typer.Option(False, "--json", help="Print the API's JSON instead of a table.")
FormatOption = typer.Option(
    None, "--format", "-f", help="jsonl, csv, parquet or chat (default: from the file name)."
)


def _steps(version: dict[str, Any]) -> str:
    return " → ".join(step["name"] for step in version["steps"]) or "-"


def _short(text: str | None, width: int = 60) -> str:
    if text is None:
        return "-"
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@app.command("import")
def import_file(
    name: str = typer.Argument(..., help="Dataset name (created on first import)."),
    path: Path = typer.Argument(..., help="File to import (.jsonl, .csv, .parquet)."),
    fmt: str | None = FormatOption,
    message: str = typer.Option("", "--message", "-m", help="What changed in this version."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Import a file as the dataset's next version (streamed, any size)."""
    with Client() as client:
        version = sdk.import_file(client, name, path, fmt=fmt, project=project, message=message)
    if as_json:
        print_json(version)
        return
    verb = "imported" if version.get("created", True) else "unchanged, same content as"
    stdout.print(
        f"{verb} {escape(name)} v{version['version']}: {version['row_count']} rows "
        f"(sha256 {version['sha256'][:12]})",
        highlight=False,
    )


@app.command("list")
def list_datasets(project: str = ProjectOption, as_json: bool = JsonOption) -> None:
    """List the project's datasets with their latest version."""
    with Client() as client:
        found = list(client.paginate("/datasets", project=project))
    if as_json:
        print_json(found)
        return
    print_table(
        f"datasets in {project}",
        ["name", "latest", "updated"],
        ([d["name"], f"v{d['latest_version']}", format_when(d["updated_at"])] for d in found),
    )


@app.command("show")
def show(
    name: str = typer.Argument(..., help="Dataset name."),
    version: int | None = typer.Option(None, "--version", "-v", min=1, help="Show one version."),
    rows: int = typer.Option(5, "--rows", "-n", min=0, max=1000, help="Rows to show."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Show the dataset's versions with their lineage, or one version with its first rows."""
    with Client() as client:
        if version is None:
            versions = list(client.paginate(sdk.dataset_path(name, "versions"), project=project))
            if as_json:
                print_json(versions)
                return
            print_table(
                f"versions of {name}",
                ["version", "rows", "sha256", "parents", "steps", "created", "by", "message"],
                (
                    [
                        f"v{v['version']}",
                        v["row_count"],
                        v["sha256"][:12],
                        ", ".join(f"v{p}" for p in v["parents"]) or "-",
                        _steps(v),
                        format_when(v["created_at"]),
                        v["created_by"],
                        v["message"],
                    ]
                    for v in versions
                ),
            )
            return
        found = client.get(sdk.dataset_path(name, "versions", str(version)), project=project)
        page = client.get(
            sdk.dataset_path(name, "rows"), project=project, version=version, limit=max(rows, 1)
        )
    if as_json:
        print_json({**found, "rows": page["items"][:rows]})
        return
    stdout.print(
        f"{escape(name)} v{found['version']}: {found['row_count']} rows, sha256 "
        f"{found['sha256']}, steps: {escape(_steps(found))}",
        highlight=False,
    )
    print_table(
        None,
        ["input", "expected", "metadata"],
        (
            [_short(r["input"]), _short(r["expected"]), _short(str(r["metadata"]))]
            for r in page["items"][:rows]
        ),
    )


@app.command("diff")
def diff(
    name: str = typer.Argument(..., help="Dataset name."),
    base: int = typer.Argument(..., min=1, help="The older version."),
    other: int = typer.Argument(..., min=1, help="The newer version."),
    examples: int = typer.Option(5, "--examples", min=0, max=50, help="Examples per kind."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Rows added, removed and changed between two versions, with examples."""
    with Client() as client:
        found = sdk.diff(client, name, base, other, project=project, examples=examples)
    if as_json:
        print_json(found)
        return
    stdout.print(
        f"{escape(name)} v{base} → v{other}: +{found['added']} added, -{found['removed']} "
        f"removed, ~{found['changed']} changed, {found['unchanged']} unchanged",
        highlight=False,
    )
    lines = [["+", _short(r["input"]), _short(r["expected"])] for r in found["added_examples"]]
    lines += [["-", _short(r["input"]), _short(r["expected"])] for r in found["removed_examples"]]
    lines += [
        [
            "~",
            _short(c["after"]["input"]),
            f"{_short(c['before']['expected'], 28)} → {_short(c['after']['expected'], 28)}",
        ]
        for c in found["changed_examples"]
    ]
    if lines:
        print_table("examples", ["", "input", "expected"], lines)


@app.command("export")
def export(
    name: str = typer.Argument(..., help="Dataset name."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="File to write (default: standard output)."
    ),
    version: int | None = typer.Option(None, "--version", "-v", min=1, help="Version number."),
    fmt: str | None = FormatOption,
    project: str = ProjectOption,
) -> None:
    """Export a version (the latest by default) as JSONL, CSV, Parquet or chat JSONL."""
    chosen = fmt or (sdk.guess_format(output) if output is not None else "jsonl")
    with Client() as client:
        chunks = sdk.export(client, name, version=version, fmt=chosen, project=project)
        if output is None:
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
            return
        partial = output.with_name(output.name + ".partial")
        with partial.open("wb") as sink:
            for chunk in chunks:
                sink.write(chunk)
        partial.replace(output)
    stdout.print(f"wrote {escape(str(output))}", highlight=False)


def _step_flag(text: str) -> dict[str, Any]:
    """``near_dedup:threshold=0.8,ngram=3`` as ``{"name": ..., "params": {...}}``."""
    name, _, rest = text.partition(":")
    params: dict[str, Any] = {}
    for pair in filter(None, rest.split(",")):
        key, sep, value = pair.partition("=")
        if not sep:
            raise InvalidInput(
                f"--step {text!r}: write parameters as key=value, e.g. near_dedup:threshold=0.8",
                field="step",
            )
        params[key.strip()] = yaml.safe_load(value)
    return {"name": name.strip(), "params": params}


def _pipeline_file(path: Path) -> list[dict[str, Any]]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise InvalidInput(
            f"cannot read the pipeline {str(path)!r}: {exc}", field="pipeline"
        ) from None
    steps = loaded.get("steps") if isinstance(loaded, dict) else loaded
    if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
        raise InvalidInput(
            f"{str(path)!r} must hold a list of steps under 'steps:', each with a name "
            "(and params)",
            field="pipeline",
        )
    return steps


@app.command("clean")
def clean(
    name: str = typer.Argument(..., help="Dataset name."),
    pipeline: Path | None = typer.Option(
        None, "--pipeline", help="YAML file with 'steps: [{name, params}, ...]'."
    ),
    steps: list[str] = typer.Option(
        [], "--step", "-s", help="A step as name:key=value,... (repeatable, after --pipeline)."
    ),
    version: int | None = typer.Option(None, "--version", "-v", min=1, help="Source version."),
    message: str = typer.Option("", "--message", "-m", help="What this version is."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Run the quality pipeline over a version; the result becomes the next version."""
    spec = _pipeline_file(pipeline) if pipeline is not None else []
    spec += [_step_flag(text) for text in steps]
    body = {"project": project, "version": version, "steps": spec, "message": message}
    with (
        Client() as client,
        Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            TimeElapsedColumn(),
            transient=True,
            disable=as_json,
        ) as progress,
    ):
        progress.add_task(f"running {len(spec)} steps on {name}", total=None)
        result = client.post(sdk.dataset_path(name, "clean"), body)
    if as_json:
        print_json(result)
        return
    created = result["version"]
    print_table(
        f"pipeline on {name}: v{created['parents'][0]} → v{created['version']}",
        ["step", "params", "rows in", "rows out", "removed", "changed", "examples"],
        (
            [
                r["name"],
                ", ".join(f"{k}={v}" for k, v in r["params"].items()) or "-",
                r["rows_in"],
                r["rows_out"],
                r["removed"],
                r["changed"],
                "; ".join(_short(e.get("input"), 30) for e in r["examples"][:2]) or "-",
            ]
            for r in result["reports"]
        ),
    )
    stdout.print(
        f"created {escape(name)} v{created['version']}: {created['row_count']} rows",
        highlight=False,
    )
