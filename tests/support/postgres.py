"""A real PostgreSQL server in a temporary folder, on a free loopback port."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import time
from pathlib import Path

from tests.support.net import free_port


def pg_bindir() -> Path | None:
    """Where initdb and pg_ctl live, or None if PostgreSQL is not installed."""
    candidates = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for c in candidates:
        if c and (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists():
            return Path(c)
    return None


class PostgresServer:
    """initdb + pg_ctl; run as the ``postgres`` user when we are root (PostgreSQL refuses root)."""

    def __init__(self, root: Path) -> None:
        bindir = pg_bindir()
        if bindir is None:
            raise FileNotFoundError("PostgreSQL binaries not found (apt-get install postgresql)")
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True)

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
        self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        opts = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300 "
            # Tests create and drop hundreds of databases: keep the WAL from growing to GBs.
            "-c wal_level=minimal -c max_wal_senders=0 -c max_wal_size=64MB -c min_wal_size=32MB"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log"),
            "-o",
            opts,
            "-w",
            "start",
        )

    def stop(self) -> None:
        """Stop the server and delete its folder, so test runs leave no data behind."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def database_url(self, name: str) -> str:
        return self.url.rsplit("/", 1)[0] + f"/{name}"


def remove_abandoned_servers(pattern: str, min_age_s: float = 600) -> None:
    """Delete server folders left by killed test runs: old, and their postmaster is gone.

    The age guard keeps a sibling test worker's folder that is still in ``initdb``.
    """
    for folder in glob.glob(pattern):
        path = Path(folder)
        with contextlib.suppress(OSError):
            if time.time() - path.stat().st_mtime < min_age_s:
                continue
        pid_file = path / "data" / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError):
            if pid_file.exists():
                os.kill(int(pid_file.read_text().split()[0]), 0)
                continue  # still running
        shutil.rmtree(path, ignore_errors=True)
