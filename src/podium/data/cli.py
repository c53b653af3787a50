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
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from podium.access.models import DEFAULT_PROJECT
from podium.cli.output import format_when, print_json, print_table, stdout
from podium.client import Client
from podium.client import data as sdk
from podium.errors import InvalidInput
from podium.yamlio import read_yaml

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


@app.command("import-traces")
def import_traces(
    name: str = typer.Option(..., "--name", "-n", help="Dataset to import into."),
    since: str | None = typer.Option(
        None, "--since", help="Traces started at or after this (ISO 8601, e.g. 2026-01-31)."
    ),
    until: str | None = typer.Option(None, "--until", help="Traces started before this."),
    model: str | None = typer.Option(None, "--model", help="Only traces of this model."),
    prompt: str | None = typer.Option(None, "--prompt", help="Only traces of this prompt."),
    prompt_version: int | None = typer.Option(
        None, "--prompt-version", min=1, help="Only this version of --prompt."
    ),
    tags: list[str] = typer.Option([], "--tag", help="Only traces with this tag (repeatable)."),
    score_name: str | None = typer.Option(None, "--score", help="The score --min/--max apply to."),
    min_score: float | None = typer.Option(None, "--min-score", help="Lowest score kept."),
    max_score: float | None = typer.Option(None, "--max-score", help="Highest score kept."),
    errors: bool | None = typer.Option(
        None, "--errors/--no-errors", help="Only failed traces, or only good ones."
    ),
    spans: str = typer.Option(
        "root", "--spans", help="root: one row per trace; llm: one row per model call."
    ),
    limit: int = typer.Option(10_000, "--limit", min=1, max=1_000_000, help="Most rows."),
    message: str = typer.Option("", "--message", "-m", help="What this version is."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Import the project's traces (input, output, trace id, model, prompt, scores) as the
    dataset's next version."""
    with Client() as client:
        version = sdk.import_traces(
            client,
            name,
            project=project,
            message=message,
            since=since,
            until=until,
            model=model,
            prompt_name=prompt,
            prompt_version=prompt_version,
            tags=tags or None,
            score_name=score_name,
            min_score=min_score,
            max_score=max_score,
            errors=errors,
            spans=spans,
            limit=limit,
        )
    if as_json:
        print_json(version)
        return
    verb = "imported" if version.get("created", True) else "unchanged, same rows as"
    stdout.print(
        f"{verb} {escape(name)} v{version['version']}: {version['row_count']} rows from traces",
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
    """``near_dedup:threshold=0.8,ngram=3`` as ``{"name": ..., "params": {...}}``.

    Values are YAML (``keep=[en, fr]`` is a list); commas inside brackets, parentheses or
    quotes do not split, and an ``expression`` is taken verbatim.
    """
    name, _, rest = text.partition(":")
    params: dict[str, Any] = {}
    for pair in filter(None, _split_top_level(rest)):
        key, sep, value = pair.partition("=")
        if not sep:
            raise InvalidInput(
                f"--step {text!r}: write parameters as key=value, e.g. near_dedup:threshold=0.8",
                field="step",
            )
        key = key.strip()
        if key == "expression":
            params[key] = value.strip()
            continue
        try:
            params[key] = yaml.safe_load(value)
        except yaml.YAMLError:
            params[key] = value.strip()
    return {"name": name.strip(), "params": params}


def _split_top_level(text: str) -> list[str]:
    """``text`` split at the commas outside brackets, parentheses and quotes."""
    parts: list[str] = []
    depth = 0
    quote: str | None = None
    start = 0
    for index, char in enumerate(text):
        if quote is not None:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char in "[({":
            depth += 1
        elif char in "])}":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def _pipeline_file(path: Path) -> list[dict[str, Any]]:
    loaded = read_yaml(path, field="pipeline")
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
    wait: bool = typer.Option(
        True,
        "--wait/--no-wait",
        help="Follow the job with a progress bar (default), or print its id and return.",
    ),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Run the quality pipeline over a version; the result becomes the next version.

    The pipeline runs as a job on the server; the progress bar follows its steps.
    """
    spec = _pipeline_file(pipeline) if pipeline is not None else []
    spec += [_step_flag(text) for text in steps]
    with Client() as client:
        if not wait and client.url is None:
            raise InvalidInput(
                "--no-wait needs a server (set PODIUM_URL): without one the pipeline runs inside "
                "this command and would stop with it",
                field="wait",
            )
        job = sdk.start_clean(client, name, spec, version=version, project=project, message=message)
        if not wait:
            if as_json:
                print_json(job)
                return
            stdout.print(
                f"started job {job['id']} on {escape(name)} v{job['source_version']}; follow it "
                f"with `podium data job {job['id']}`",
                highlight=False,
            )
            return
        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=True,
            disable=as_json,
        ) as progress:
            task = progress.add_task(f"{name}: starting", total=len(job["steps"]))

            def show(state: dict[str, Any]) -> None:
                running = [s for s in state["steps"] if s["state"] == "running"]
                done = sum(1 for s in state["steps"] if s["state"] == "done")
                label = f"{name}: {state['state']}"
                if running:
                    step = running[0]
                    label = (
                        f"{name}: {step['name']}, {step['rows_done'] or 0:,} of "
                        f"{step['rows_in']:,} rows"
                    )
                progress.update(task, completed=done, description=label)

            finished = sdk.wait_for_job(client, job["id"], poll=0.2, on_progress=show)
    result = {"version": finished["version"], "reports": finished["reports"]}
    if as_json:
        print_json(result)
        return
    _print_result(name, result)


@app.command("job")
def job(
    job_id: str = typer.Argument(..., help="The job id printed by `podium data clean --no-wait`."),
    as_json: bool = JsonOption,
) -> None:
    """Show a pipeline job: its state, each step's progress, and its result once done."""
    with Client() as client:
        found = sdk.get_job(client, job_id)
    if as_json:
        print_json(found)
        return
    stdout.print(
        f"job {found['id']} on {escape(found['dataset'])} v{found['source_version']}: "
        f"{found['state']} ({found['progress']:.0%})",
        highlight=False,
    )
    print_table(
        None,
        ["step", "state", "rows done", "rows in", "rows out"],
        (
            [
                s["name"],
                s["state"],
                _count(s["rows_done"]),
                _count(s["rows_in"]),
                _count(s["rows_out"]),
            ]
            for s in found["steps"]
        ),
    )
    if found["error"]:
        stdout.print(f"error: {escape(found['error'])}", highlight=False)
    if found["version"] is not None:
        _print_result(found["dataset"], found)


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _print_result(name: str, result: dict[str, Any]) -> None:
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
