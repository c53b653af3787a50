"""How the CLI prints: Rich tables for people, ``--json`` for scripts, one line for errors.

Every command's failures reach ``run_cli`` as ``podium.errors``; a user mistake exits with code 2
and one readable line on stderr that names the fix, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from podium.errors import PodiumError

USER_ERROR_EXIT = 2
OUTAGE_EXIT = 3

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


def print_json(data: Any) -> None:
    """Write ``data`` as indented JSON to stdout (datetimes as ISO 8601)."""
    sys.stdout.write(json.dumps(data, indent=2, default=_json_default, sort_keys=False) + "\n")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def format_when(value: Any, *, millis: bool = False) -> str:
    """An ISO 8601 time from the API as ``2024-05-01 12:30:05`` (``.123`` with ``millis``)."""
    if not value:
        return "-"
    text = str(value)
    width = 23 if millis else 19
    return text[:width].replace("T", " ") if len(text) >= 19 else text


def print_table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
) -> None:
    """Print a Rich table with ``columns`` and ``rows`` (None shown as '-')."""
    table = Table(title=title, show_lines=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("-" if cell is None else str(cell) for cell in row))
    # A console per table reads the terminal width (COLUMNS) as it is now, not at import.
    Console(soft_wrap=True).print(table)


def fail(message: str, code: int = USER_ERROR_EXIT) -> None:
    """Print ``message`` as an error line and exit with ``code``."""
    stderr.print(f"[bold red]error:[/] {message}", highlight=False)
    raise SystemExit(code)


def run_cli(command: Callable[[], Any]) -> Any:
    """Run the Typer app, turning ``PodiumError`` into one line and an exit code."""
    try:
        return command()
    except PodiumError as exc:
        fail(exc.message, OUTAGE_EXIT if exc.status >= 500 else USER_ERROR_EXIT)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    return None
