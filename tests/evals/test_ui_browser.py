"""The eval pages in a real headless Chromium against a real ``podium server`` (SQLite): a suite
reported over HTTP shows up in the list, and the comparison page draws its delta chart.

Uses Debian's Chromium through Playwright (never ``playwright install``)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from podium.client import Client
from podium.client import data as sdk_data
from podium.evals.runner import run_suite
from podium.evals.suite import parse_suite
from tests.conftest import LiveServer
from tests.evals.conftest import qa_jsonl

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    home = tmp_path / "home"
    env = {"PODIUM_HOME": str(home), "PODIUM_DATABASE_URL": f"sqlite:///{home / 'podium.db'}"}
    live = LiveServer(env, home)
    live.start()
    yield live
    live.stop()


def test_experiments_and_the_comparison_chart_in_a_browser(
    server: LiveServer, chromium: Any
) -> None:
    with Client(server.url) as client:
        sdk_data.import_stream(client, "qa", io.BytesIO(qa_jsonl()))
        ids = []
        for target in ("answer", "weak_answer"):
            suite = parse_suite(
                {
                    "name": "qa-browser",
                    "dataset": "qa",
                    "targets": [{"name": target, "python": f"tests.evals.conftest:{target}"}],
                    "scorers": ["exact_match", "f1"],
                }
            )
            (outcome,) = run_suite(suite, client)
            ids.append(outcome.experiment["id"])

    context = chromium.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.goto("/evals")
    assert tab.locator("tr[data-experiment]").count() == 2
    tab.click("form.compare-form button[type=submit]")
    tab.wait_for_selector("#delta-chart canvas")
    rows = tab.locator("table.comparison-table tr[data-scorer]")
    assert rows.count() == 2
    assert tab.locator('tr[data-scorer="exact_match"] td strong').inner_text() == "too few items"
    tab.click(f'a[href^="/evals/{ids[1]}"]')
    tab.wait_for_selector("table.items-table")
    assert "Marlowe" in tab.locator("table.items-table").inner_text()
    assert errors == []
    context.close()
