"""``podium db``: database maintenance."""

from __future__ import annotations

import typer

from podium.cli.output import print_json, stdout

app = typer.Typer(help="Database maintenance.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_command(
    revision: str = typer.Argument("head", help="Migration to upgrade to."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Apply database migrations (the server also does this on start)."""
    from podium.settings import Settings
    from podium.store.engine import open_database
    from podium.store.migrate import current_revision, upgrade

    settings = Settings()
    db = open_database(settings.resolved_database_url)
    try:
        before = current_revision(db)
        upgrade(db, revision)
        after = current_revision(db)
    finally:
        db.dispose()
    if as_json:
        print_json(
            {
                "database": db.engine.url.render_as_string(hide_password=True),
                "from": before,
                "to": after,
            }
        )
    else:
        stdout.print(f"database at revision [bold]{after}[/] (was {before or 'empty'})")
