"""``podium eval``: run suites, gate CI on them, list and compare experiments.

``podium eval run suite.yaml`` runs here, in the CLI's process (targets are called from where
the command runs), and reports each target's experiment through the REST API (``PODIUM_URL``, or
the app in-process when unset). ``--gate "f1 >= 0.8"`` and ``--baseline production`` turn it
into a CI gate: exit code 1 with a table when a gate fails or a scorer is significantly worse
than the baseline; ``--junit out.xml`` writes the same verdicts for CI systems.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from podium.access.models import DEFAULT_PROJECT
from podium.cli.output import format_when, print_json, print_table, stdout
from podium.client import Client
from podium.evals.gate import GateReport, check_gates, junit_xml, parse_gate, regressions
from podium.evals.runner import run_suite
from podium.evals.suite import load_suite

app = typer.Typer(
    help="Evaluation: run suites, gate CI, list and compare experiments.", no_args_is_help=True
)

ProjectOption = typer.Option(DEFAULT_PROJECT, "--project", "-p", help="Project of the experiments.")
JsonOption = typer.Option(False, "--json", help="Print the API's JSON instead of a table.")
GATE_FAILED_EXIT = 1


def _metrics(experiment: dict[str, Any]) -> str:
    shown = [f"{k}={v:.4g}" for k, v in experiment["metrics"].items() if k in experiment["scorers"]]
    return " ".join(shown) or "-"


@app.command("run")
def run(
    suite_file: Path = typer.Argument(..., help="The suite (YAML)."),
    gate: list[str] = typer.Option(
        [], "--gate", "-g", help='A threshold such as "f1 >= 0.80" (repeatable).'
    ),
    baseline: str | None = typer.Option(
        None,
        "--baseline",
        "-b",
        help="Experiment id or label (production: the newest experiment of this suite with it).",
    ),
    junit: Path | None = typer.Option(None, "--junit", help="Write JUnit XML here."),
    executor: str = typer.Option(
        "local", "--executor", help="Where items run: local (threads) or ray (Ray tasks)."
    ),
    ray_address: str | None = typer.Option(
        None,
        "--ray-address",
        help="With --executor ray: auto (the running cluster) or ray://HOST:PORT; "
        "default: a local Ray instance.",
    ),
    project: str | None = typer.Option(
        None, "--project", "-p", help="Project (default: the suite's)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Run a suite; with --gate/--baseline, exit 1 when the candidate does not pass."""
    suite = load_suite(suite_file)
    if project is not None:
        suite = replace(suite, project=project)
    gates = [parse_gate(g) for g in gate]
    with Client() as client:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=True,
            disable=as_json,
        ) as progress:
            tasks: dict[str, Any] = {}

            def show(target: str, done: int, total: int) -> None:
                if target not in tasks:
                    tasks[target] = progress.add_task(
                        escape(f"{suite.name} · {target}"), total=total
                    )
                progress.update(tasks[target], completed=done, total=total)

            outcomes = run_suite(
                suite, client, progress=show, executor=executor, ray_address=ray_address
            )
        reports = []
        for outcome in outcomes:
            comparison = None
            if baseline is not None:
                base = _baseline(client, suite.project, suite.name, baseline)
                if base is not None and base["id"] != outcome.experiment["id"]:
                    comparison = client.get(
                        "/evals/compare",
                        project=suite.project,
                        base=base["id"],
                        candidate=outcome.experiment["id"],
                    )
            results = check_gates(gates, outcome.experiment["metrics"])
            reports.append(GateReport(suite.name, outcome.target, results, comparison))
    if junit is not None:
        junit.write_text(junit_xml(reports))
    failed = [r for r in reports if not r.passed]
    if as_json:
        print_json(
            {
                "experiments": [o.experiment for o in outcomes],
                "runs": [
                    {
                        "target": o.target,
                        "resumed": o.resumed,
                        "ran": o.ran,
                        "rescored": o.rescored,
                        "skipped": o.skipped,
                    }
                    for o in outcomes
                ],
                "passed": not failed,
            }
        )
    else:
        _print_outcomes(outcomes)
        if gates or baseline is not None:
            _print_gates(reports)
    if failed:
        raise typer.Exit(GATE_FAILED_EXIT)


def _baseline(client: Client, project: str, suite: str, ref: str) -> dict[str, Any] | None:
    """The baseline experiment: an id, or the newest of the suite with label ``ref``."""
    found = client.get("/evals/experiments", project=project, suite=suite, label=ref, limit=1)
    if found["items"]:
        return dict(found["items"][0])
    experiment: dict[str, Any] = client.get(f"/evals/experiments/{ref}", project=project)
    return experiment


def _print_outcomes(outcomes: list[Any]) -> None:
    print_table(
        "Experiments",
        ["target", "experiment", "items", "ran", "skipped", "errors", "scores"],
        [
            [
                o.target,
                o.experiment["id"],
                o.experiment["summary"].get("items", 0),
                o.ran + o.rescored,
                o.skipped,
                o.experiment["summary"].get("errors", 0),
                _metrics(o.experiment),
            ]
            for o in outcomes
        ],
    )


def _print_gates(reports: list[GateReport]) -> None:
    rows = []
    for report in reports:
        for result in report.gates:
            value = "-" if result.value is None else f"{result.value:.4g}"
            verdict = "[green]pass[/]" if result.passed else "[bold red]FAIL[/]"
            rows.append([report.target, str(result.gate), value, verdict])
        for scorer in (report.comparison or {}).get("scorers", []):
            worse = scorer in regressions(report.comparison or {})
            rows.append(
                [
                    report.target,
                    f"{scorer['scorer']} vs baseline",
                    f"{scorer['delta']:+.4g} [{scorer['ci_low']:+.4g}, {scorer['ci_high']:+.4g}]",
                    "[bold red]FAIL[/] (worse)"
                    if worse
                    else f"[green]pass[/] ({scorer['verdict']})",
                ]
            )
    print_table("Gates", ["target", "check", "value", "verdict"], rows)


@app.command("list")
def list_experiments(
    suite: str | None = typer.Option(None, "--suite", help="Only this suite's experiments."),
    label: str | None = typer.Option(None, "--label", help="Only experiments with this label."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="How many to show."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """The project's eval experiments, newest first."""
    with Client() as client:
        page = client.get(
            "/evals/experiments", project=project, suite=suite, label=label, limit=limit
        )
    if as_json:
        print_json(page["items"])
        return
    print_table(
        f"Eval experiments of {project}",
        ["id", "suite", "target", "dataset", "status", "label", "scores", "started"],
        [
            [
                e["id"],
                e["suite"],
                e["target"],
                f"{e['dataset']} v{e['dataset_version']}",
                e["status"],
                e["label"],
                _metrics(e),
                format_when(e["created_at"]),
            ]
            for e in page["items"]
        ],
    )


@app.command("show")
def show_experiment(
    experiment_id: str = typer.Argument(..., help="Experiment id."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """One experiment: provenance and every metric."""
    with Client() as client:
        found = client.get(f"/evals/experiments/{experiment_id}", project=project)
    if as_json:
        print_json(found)
        return
    prompt = f" · prompt {found['prompt']} v{found['prompt_version']}" if found["prompt"] else ""
    stdout.print(
        f"{escape(found['suite'])} · {escape(found['target'])} · dataset "
        f"{escape(found['dataset'])} v{found['dataset_version']}{escape(prompt)} · "
        f"{found['status']}",
        highlight=False,
    )
    print_table("Metrics", ["metric", "value"], sorted(found["metrics"].items()))


@app.command("items")
def list_items(
    experiment_id: str = typer.Argument(..., help="Experiment id."),
    limit: int = typer.Option(50, "--limit", min=1, max=1000, help="How many to show."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """An experiment's items with their outputs and scores."""
    with Client() as client:
        page = client.get(f"/evals/experiments/{experiment_id}/items", project=project, limit=limit)
    if as_json:
        print_json(page["items"])
        return
    print_table(
        None,
        ["#", "variant", "input", "output", "scores"],
        [
            [
                i["position"],
                i["group"] or i["variant"],
                i["input"][:60],
                (i["error"] or i["output"] or "")[:60],
                " ".join(f"{k}={v:.3g}" for k, v in i["scores"].items()),
            ]
            for i in page["items"]
        ],
    )


@app.command("compare")
def compare(
    base: str = typer.Argument(..., help="Base experiment id (or label)."),
    candidate: str = typer.Argument(..., help="Candidate experiment id (or label)."),
    project: str = ProjectOption,
    seed: int = typer.Option(0, "--seed", min=0, help="Bootstrap seed."),
    as_json: bool = JsonOption,
) -> None:
    """Per-scorer deltas with paired-bootstrap 95% CIs and a verdict."""
    with Client() as client:
        found = client.get(
            "/evals/compare", project=project, base=base, candidate=candidate, seed=seed
        )
    if as_json:
        print_json(found)
        return
    print_table(
        f"{found['paired_items']} paired items: candidate {found['candidate']['id'][:12]} "
        f"vs base {found['base']['id'][:12]}",
        ["scorer", "base", "candidate", "delta", "95% CI", "verdict", "+", "-", "="],
        [
            [
                s["scorer"],
                f"{s['base_mean']:.4g}",
                f"{s['candidate_mean']:.4g}",
                f"{s['delta']:+.4g}",
                f"[{s['ci_low']:+.4g}, {s['ci_high']:+.4g}]",
                s["verdict"],
                s["improved"],
                s["regressed"],
                s["unchanged"],
            ]
            for s in found["scorers"]
        ],
    )


@app.command("label")
def label(
    experiment_id: str = typer.Argument(..., help="Experiment id."),
    name: str = typer.Argument("production", help="Label to give it."),
    project: str = ProjectOption,
    as_json: bool = JsonOption,
) -> None:
    """Label an experiment (production: the baseline of `eval run --baseline production`)."""
    with Client() as client:
        found = client.request(
            "PUT",
            f"/evals/experiments/{experiment_id}/label",
            params={"project": project},
            json={"label": name},
        )
    if as_json:
        print_json(found)
        return
    stdout.print(f"{found['id']} is now {escape(name)} for suite {escape(found['suite'])}")
