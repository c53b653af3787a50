"""The server secret: from settings, or generated once into ``$PODIUM_HOME/secret.key``."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def load_server_secret(configured: str | None, home: Path) -> bytes:
    """The secret bytes; creates the key file (mode 0600) on first use when none is configured."""
    if configured:
        return configured.encode()
    path = home / "secret.key"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    home.mkdir(parents=True, exist_ok=True)
    value = secrets.token_hex(32).encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()  # another process won the race
    with os.fdopen(fd, "wb") as handle:
        handle.write(value)
    return value
