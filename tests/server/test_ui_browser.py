"""The web UI in a real headless Chromium against a real ``podium server`` with the demo seeded.

Uses Debian's Chromium through Playwright (never ``playwright install``). The pages' data is the
same on both databases (``test_ui_pages.py`` covers that), so this runs on SQLite only: what it
adds is the browser's side, the charts drawn, htmx swapping the runs table, the Compare button.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import LiveServer
from tests.support.browser import headless_chromium

# One worker runs them all (make test uses --dist loadgroup): one server and one browser.
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]

TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A ``podium server`` on SQLite that seeded the demo project on start."""
    home = tmp_path_factory.mktemp("browser-home")
    env = {
        "PODIUM_HOME": str(home),
        "PODIUM_DATABASE_URL": f"sqlite:///{home / 'podium.db'}",
        "PODIUM_ARTIFACTS_URL": (home / "blobs").as_uri(),
        "PODIUM_SEED_DEMO": "true",
    }
    server = LiveServer(env, home)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium, driven by Playwright."""
    with headless_chromium() as launched:
        yield launched


class Page:
    """A browser tab on the demo server that records console errors and failed requests."""

    def __init__(self, browser: Any, base_url: str) -> None:
        self.context = browser.new_context(
            base_url=base_url, viewport={"width": 1280, "height": 900}
        )
        self.tab = self.context.new_page()
        self.tab.set_default_timeout(TIMEOUT_MS)
        self.errors: list[str] = []
        self.tab.on("console", self._console)
        self.tab.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        self.tab.on(
            "response",
            lambda r: r.status >= 400 and self.errors.append(f"HTTP {r.status} for {r.url}"),
        )

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def page(browser: Any, demo_server: LiveServer) -> Iterator[Page]:
    """A fresh tab; the test fails if the page logged an error or a request failed."""
    opened = Page(browser, demo_server.url)
    yield opened
    errors = list(opened.errors)
    opened.close()
    assert errors == []


def run_names(tab: Any) -> list[str]:
    """The names in the runs table, top to bottom."""
    names: list[str] = tab.locator("table.runs-table td.run-name a").all_inner_texts()
    return names


def assert_chart_drawn(tab: Any, key: str, series: int) -> None:
    """The uPlot chart for ``key`` exists, has a size, painted pixels and ``series`` lines."""
    chart = tab.locator(f'.metric-chart[data-key="{key}"]')
    canvas = chart.locator("canvas")
    canvas.wait_for(state="visible")
    box = canvas.bounding_box()
    assert box is not None
    assert box["width"] > 100
    assert box["height"] > 100
    assert chart.get_attribute("data-rendered") == "true"
    painted = canvas.evaluate(
        """c => {
            const pixels = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] > 0) n++; }
            return n;
        }"""
    )
    assert painted > 500  # axes, grid and at least one line
    # uPlot's legend: one entry for the x axis, then one per series.
    assert chart.locator(".u-legend .u-series").count() == series + 1


def test_runs_page_lists_the_demo_runs(page: Page) -> None:
    tab = page.tab
    # The demo's eval experiments are runs too (experiment eval-support-qa): filtered out.
    tab.goto("/runs?project=demo&experiment=sentiment-finetune")
    assert tab.title() == "Runs of demo · Podium"
    assert sorted(run_names(tab)) == [
        "baseline-r8",
        "lora-r16",
        "lora-r16-slow",
        "lora-r32-hot",
        "lr-sweep",
        "lr-sweep-1e-4",
        "lr-sweep-3e-4",
    ]
    assert tab.locator(".badge.status-FAILED").count() == 1


def test_run_page_draws_a_chart_per_metric(page: Page) -> None:
    tab = page.tab
    tab.goto("/runs?project=demo")
    tab.get_by_role("link", name="lora-r16", exact=True).click()
    tab.wait_for_url("**/runs/*")
    assert tab.locator("h1.run-title").inner_text() == "lora-r16"
    for key in ("eval/accuracy", "eval/loss", "train/loss"):
        assert_chart_drawn(tab, key, series=1)
    assert tab.locator("table.artifacts a", has_text="config.json").count() == 1


def test_compare_overlays_the_picked_runs(page: Page) -> None:
    tab = page.tab
    tab.goto("/runs?project=demo")
    button = tab.locator("[data-compare-button]")
    assert button.is_disabled()
    for name in ("baseline-r8", "lora-r16", "lora-r32-hot"):
        tab.get_by_role("checkbox", name=f"Select {name}", exact=True).check()
    assert button.is_enabled()
    assert button.inner_text() == "Compare 3 runs"
    button.click()
    tab.wait_for_url("**/runs/compare?**")
    assert tab.locator("h1").inner_text() == "Compare 3 runs"
    for key in ("eval/accuracy", "eval/loss", "train/loss"):
        assert_chart_drawn(tab, key, series=3)
    legend = tab.locator('.metric-chart[data-key="eval/loss"] .u-legend').inner_text()
    for name in ("baseline-r8", "lora-r16", "lora-r32-hot"):
        assert name in legend
    assert tab.locator('tr.differs[data-param="lora_r"]').count() == 1


def test_filter_and_sort_swap_the_table_in_place(page: Page) -> None:
    tab = page.tab
    tab.goto("/runs?project=demo")
    tab.evaluate("window.__same_document = true")  # lost if the page reloads

    tab.locator("input[name=filter]").fill("params.lora_r = '16' and status = 'FINISHED'")
    tab.locator("#runs-filter button[type=submit]").click()
    tab.wait_for_url("**filter=params.lora_r**")
    tab.wait_for_function("document.querySelectorAll('table.runs-table tbody tr').length === 5")
    assert "baseline-r8" not in run_names(tab)

    tab.get_by_role("link", name="eval/accuracy", exact=True).click()
    tab.wait_for_url("**order_by=metrics.eval%2Faccuracy**")
    tab.wait_for_function(
        "document.querySelector('table.runs-table td.run-name a').textContent === 'lr-sweep-3e-4'"
    )
    assert run_names(tab)[:2] == ["lr-sweep-3e-4", "lora-r16"]

    tab.locator("input[name=filter]").fill("metrics.eval/accuracy >")
    tab.locator("#runs-filter button[type=submit]").click()
    error = tab.locator("#search-error")
    error.wait_for()
    assert "Invalid filter." in error.inner_text()
    assert tab.evaluate("window.__same_document") is True  # htmx swapped, no reload


def test_model_pages_show_versions_and_alias_history(page: Page) -> None:
    tab = page.tab
    tab.goto("/models?project=demo")
    row = tab.locator('tr[data-model="sentiment-classifier"]')
    assert row.locator(".badge.alias").all_inner_texts() == ["production → v1", "staging → v2"]
    row.get_by_role("link", name="sentiment-classifier").click()
    tab.wait_for_url("**/models/sentiment-classifier?project=demo")
    assert tab.locator("table.versions-table tbody tr").count() == 2
    history = tab.locator("table.alias-history tbody tr")
    assert history.count() == 3
    assert "LoRA r=16 beats the baseline on eval/accuracy" in history.first.inner_text()
    assert tab.locator("article.model-card h2", has_text="Intended use").count() == 1


def test_project_picker_switches_project(page: Page) -> None:
    tab = page.tab
    tab.goto("/models?project=default")
    assert tab.locator("#project-select").input_value() == "default"
    assert tab.locator(".mainnav a.active").inner_text() == "Models"
    tab.locator("#project-select").select_option("demo")
    tab.wait_for_url("**/models?project=demo")
    assert tab.locator("tr[data-model]").count() == 1
    assert tab.locator(".mainnav a", has_text="Runs").get_attribute("href") == "/runs?project=demo"


def test_static_assets_are_local(page: Page, demo_server: LiveServer) -> None:
    requested: list[str] = []
    page.tab.on("request", lambda r: requested.append(r.url))
    page.tab.goto("/runs?project=demo")
    page.tab.wait_for_load_state("networkidle")
    assert requested
    assert all(url.startswith(demo_server.url) for url in requested), requested
