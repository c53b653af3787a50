"""Dense version numbers and a consistent alias history under concurrent writers.

Threads share one service (one connection pool); on SQLite, separate processes also open the
database file on their own, which is what several CLI or server processes do.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from podium.server.app import Services, build
from podium.settings import Settings

THREADS = 8
PER_THREAD = 5


def test_threads_creating_versions_get_exactly_1_to_n(services: Services) -> None:
    registry = services.registry
    registry.create_model("default", "m")

    def create(worker: int) -> list[int]:
        return [
            registry.create_version("default", "m", actor=f"w{worker}").version
            for _ in range(PER_THREAD)
        ]

    with ThreadPoolExecutor(THREADS) as pool:
        numbers = [n for batch in pool.map(create, range(THREADS)) for n in batch]

    total = THREADS * PER_THREAD
    assert sorted(numbers) == list(range(1, total + 1))
    assert [v.version for v in registry.list_versions("default", "m", limit=1000)] == list(
        range(total, 0, -1)
    )
    assert registry.get_model("default", "m").latest_version == total


def test_concurrent_promotions_keep_the_history_a_chain(services: Services) -> None:
    # Each move must read where the alias was under the model lock: every event's from_version
    # is the previous event's to_version, whatever the interleaving.
    registry = services.registry
    registry.create_model("default", "m")
    for _ in range(THREADS):
        registry.create_version("default", "m")

    def promote(version: int) -> None:
        for _ in range(3):
            registry.set_alias("default", "m", "production", version, actor=f"w{version}")
            registry.set_alias("default", "m", "production", 1 + version % THREADS, actor="x")

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(promote, range(1, THREADS + 1)))

    history = list(reversed(registry.alias_history("default", "m", "production")))
    assert history[0].from_version is None
    for before, after in itertools.pairwise(history):
        assert after.from_version == before.to_version
        assert after.from_version != after.to_version
    current = registry.get_alias("default", "m", "production").version
    assert history[-1].to_version == current


_WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    from podium.access.service import ProjectService
    from podium.registry.service import RegistryService
    from podium.store.blobs import open_blob_store
    from podium.store.engine import open_database
    from podium.tracking.service import TrackingService

    url, blobs_dir, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    db = open_database(url)
    blobs = open_blob_store(str(Path(blobs_dir)))
    projects = ProjectService(db)
    registry = RegistryService(db, blobs, projects, TrackingService(db, blobs, projects))
    numbers = [registry.create_version("default", "m").version for _ in range(count)]
    print(" ".join(map(str, numbers)))
    db.dispose()
    """
)


@pytest.mark.slow
def test_processes_creating_versions_get_exactly_1_to_n(tmp_path: Path) -> None:
    # SQLite only: separate processes contend on its file lock; threads cover PostgreSQL.
    services = build(Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'podium.db'}"))
    services.registry.create_model("default", "m")
    url = services.settings.resolved_database_url
    blobs_dir = str(services.settings.home / "blobs")
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, url, blobs_dir, str(PER_THREAD)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    numbers: list[int] = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        numbers += [int(n) for n in out.split()]
    assert sorted(numbers) == list(range(1, 4 * PER_THREAD + 1))
    assert services.registry.get_model("default", "m").latest_version == 4 * PER_THREAD
    services.close()
