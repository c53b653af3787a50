"""Dense versions and a consistent label history under concurrent writers, on both databases."""

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
PER_THREAD = 4
VARS = [{"name": "n", "type": "string"}]


def test_threads_pushing_distinct_content_get_exactly_1_to_n(services: Services) -> None:
    prompts = services.prompts
    prompts.create_prompt("default", "p", template="start")

    def push(worker: int) -> list[int]:
        return [
            prompts.push_version(
                "default", "p", template=f"w{worker}-{i}", actor=f"w{worker}"
            ).version
            for i in range(PER_THREAD)
        ]

    with ThreadPoolExecutor(THREADS) as pool:
        numbers = [n for batch in pool.map(push, range(THREADS)) for n in batch]

    total = THREADS * PER_THREAD + 1
    assert sorted(numbers) == list(range(2, total + 1))
    listed = [v.version for v in prompts.list_versions("default", "p", limit=1000)]
    assert listed == list(range(total, 0, -1))


def test_threads_pushing_identical_content_make_one_version(services: Services) -> None:
    prompts = services.prompts
    prompts.create_prompt("default", "p", template="start")

    def push(_: int) -> tuple[int, bool]:
        found = prompts.push_version("default", "p", template="same {{ n }}", variables=VARS)
        return found.version, found.created

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(push, range(THREADS)))
    assert {version for version, _ in results} == {2}
    assert sum(created for _, created in results) == 1


def test_concurrent_label_moves_keep_the_history_a_chain(services: Services) -> None:
    prompts = services.prompts
    prompts.create_prompt("default", "p", template="v1")
    for n in range(2, THREADS + 1):
        prompts.push_version("default", "p", template=f"v{n}")

    def move(version: int) -> None:
        for _ in range(3):
            prompts.set_label("default", "p", "production", version, actor=f"w{version}")
            prompts.set_label("default", "p", "production", 1 + version % THREADS, actor="x")

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(move, range(1, THREADS + 1)))

    history = list(reversed(prompts.label_history("default", "p", "production")))
    assert history[0].from_version is None
    for before, after in itertools.pairwise(history):
        assert after.from_version == before.to_version != after.to_version
    current = prompts.get_by_label("default", "p", "production").version
    assert history[-1].to_version == current


_WORKER = textwrap.dedent(
    """
    import sys

    from podium.access.service import ProjectService
    from podium.prompts.service import PromptService
    from podium.store.engine import open_database

    url, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    db = open_database(url)
    prompts = PromptService(db, ProjectService(db))
    numbers = [
        prompts.push_version("default", "p", template=f"{worker}-{i}").version
        for i in range(count)
    ]
    print(" ".join(map(str, numbers)))
    db.dispose()
    """
)


@pytest.mark.slow
def test_processes_pushing_get_exactly_1_to_n_on_sqlite(tmp_path: Path) -> None:
    services = build(Settings(home=tmp_path, database_url=f"sqlite:///{tmp_path / 'podium.db'}"))
    services.prompts.create_prompt("default", "p", template="start")
    url = services.settings.resolved_database_url
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, url, str(worker), str(PER_THREAD)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(4)
    ]
    numbers: list[int] = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        numbers += [int(n) for n in out.split()]
    assert sorted(numbers) == list(range(2, 4 * PER_THREAD + 2))
    services.close()
