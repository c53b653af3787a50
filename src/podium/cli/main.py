"""The ``podium`` command: the root Typer app, to which each part adds its command group."""

from __future__ import annotations

import typer

from podium import __version__
from podium.access.cli import audit_app, keys_app, projects_app, users_app
from podium.cli.db import app as db_app
from podium.cli.output import run_cli
from podium.cli.server import server
from podium.data.cli import app as data_app
from podium.evals.cli import app as eval_app
from podium.gateway.cli import app as gateway_app
from podium.prompts.cli import app as prompts_app
from podium.registry.cli import app as models_app
from podium.tracing.cli import app as traces_app
from podium.tracing.monitoring_cli import alerts_app, drift_app
from podium.tracking.cli import app as runs_app

app = typer.Typer(
    name="podium",
    help="Podium: prompts, datasets, runs, models, evals, gateway and tracing in one tool.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.command("server")(server)
app.add_typer(db_app, name="db")
app.add_typer(runs_app, name="runs")
app.add_typer(models_app, name="models")
app.add_typer(prompts_app, name="prompts")
app.add_typer(data_app, name="data")
app.add_typer(traces_app, name="traces")
app.add_typer(eval_app, name="eval")
app.add_typer(gateway_app, name="gateway")
app.add_typer(drift_app, name="drift")
app.add_typer(alerts_app, name="alerts")
app.add_typer(projects_app, name="projects")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"podium {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Podium's command line. Set PODIUM_URL to talk to a server; unset, it works in-process."""


def main() -> None:
    """Console-script entry point."""
    # Typer handles usage errors (exit 2) itself; run_cli turns Podium errors into one line.
    run_cli(app)


if __name__ == "__main__":
    main()
