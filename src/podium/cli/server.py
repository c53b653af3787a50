"""``podium server``: run the HTTP server (REST, UI, metrics) with uvicorn."""

from __future__ import annotations

import os

import typer

from podium.cli.output import fail


def server(
    host: str | None = typer.Option(
        None, help="Address to bind (default PODIUM_HOST or 127.0.0.1)."
    ),
    port: int | None = typer.Option(None, help="Port (default PODIUM_PORT or 5005)."),
    demo: bool = typer.Option(False, "--demo", help="Seed a demo project on first start."),
    workers: int = typer.Option(1, min=1, help="Worker processes (use 1 with SQLite)."),
) -> None:
    """Start the Podium server: REST API, web UI and /metrics."""
    import uvicorn

    from podium.server.app import is_loopback
    from podium.settings import Settings

    # Overrides go through the environment so the uvicorn factory (and any worker) sees them.
    if host is not None:
        os.environ["PODIUM_HOST"] = host
    if port is not None:
        os.environ["PODIUM_PORT"] = str(port)
    if demo:
        os.environ["PODIUM_SEED_DEMO"] = "true"
    settings = Settings()
    if not is_loopback(settings.host) and not _users_exist(settings):
        fail(
            f"refusing to bind {settings.host} without authentication: create an admin first "
            "with `podium users create NAME --admin`, or bind to 127.0.0.1"
        )
    uvicorn.run(
        "podium.server.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_level=settings.log_level,
        proxy_headers=False,
        access_log=settings.log_level == "debug",
    )


def _users_exist(settings: object) -> bool:
    from podium.access.sql import count_users
    from podium.store.engine import open_database
    from podium.store.migrate import upgrade

    db = open_database(settings.resolved_database_url)  # type: ignore[attr-defined]
    try:
        upgrade(db)
        with db.read() as conn:
            return count_users(conn) > 0
    finally:
        db.dispose()
