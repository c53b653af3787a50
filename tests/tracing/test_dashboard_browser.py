"""The dashboard in a real headless Chromium against a real ``podium server`` (SQLite).

The charts are drawn by the page's script from ``/api/v1/traces/timeseries``: this checks that
every chart gets a canvas with painted pixels and one legend entry per series, and that the page
logs no error. Data correctness is ``test_dashboard.py``'s job, on both databases.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from podium.store.clock import now_ms
from podium.tracing.monitoring_ui import FIGURES
from tests.conftest import LiveServer
from tests.server.test_ui_browser import Page, browser  # noqa: F401  (the browser fixture)
from tests.tracing.support import PROTOBUF, T0_NS, genai_attrs, new_span_id, new_trace_id, span
from tests.tracing.support import request as otlp_request

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("browser")]


@pytest.fixture(scope="module")
def traced_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A ``podium server`` holding an hour of traffic of two models in project ``shop``."""
    home = tmp_path_factory.mktemp("dashboard-home")
    env = {"PODIUM_HOME": str(home), "PODIUM_DATABASE_URL": f"sqlite:///{home / 'podium.db'}"}
    server = LiveServer(env, home)
    server.start()
    start = now_ms() - 3_600_000 - T0_NS // 1_000_000
    spans = [
        span(
            new_trace_id(),
            new_span_id(),
            start_ms=start + i * 60_000,
            duration_ms=100 + 10 * i,
            attrs=genai_attrs("gpt-4o" if i % 3 else "o3"),
            error=i % 7 == 0,
        )
        for i in range(60)
    ]
    reply = httpx.post(
        server.url + "/otlp/v1/traces",
        content=otlp_request(*spans).SerializeToString(),
        headers={**PROTOBUF, "X-Podium-Project": "shop"},
        timeout=30,
    )
    assert reply.status_code == 200
    yield server
    server.stop()


@pytest.fixture
def page(browser: Any, traced_server: LiveServer) -> Iterator[Page]:  # noqa: F811
    opened = Page(browser, traced_server.url)
    yield opened
    errors = list(opened.errors)
    opened.close()
    assert errors == []


def drawn(tab: Any, figure: str) -> tuple[int, int]:
    """(painted pixels, legend series) of the chart of ``figure``."""
    chart = tab.locator(f'.dashboard-chart[data-figure="{figure}"]')
    canvas = chart.locator("canvas")
    canvas.wait_for(state="visible")
    box = canvas.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 100
    assert chart.get_attribute("data-rendered") == "true"
    painted: int = canvas.evaluate(
        """c => {
            const pixels = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] > 0) n++; }
            return n;
        }"""
    )
    return painted, chart.locator(".u-legend .u-series").count() - 1


def test_every_chart_draws_one_line_per_model(page: Page) -> None:
    tab = page.tab
    tab.goto("/traces/dashboard?project=shop&since=6h&group_by=model")
    assert tab.title() == "Dashboard of shop · Podium"
    status = tab.locator('#dashboard-status[data-state="ready"]')
    status.wait_for()
    assert status.inner_text().startswith("60 requests in 2 series")
    for figure, _title, _unit in FIGURES:
        painted, series = drawn(tab, figure)
        assert painted > 500, figure
        assert series == 2, figure
    legend = tab.locator('.dashboard-chart[data-figure="requests"] .u-legend').inner_text()
    assert "gpt-4o" in legend and "o3" in legend


def test_selectors_reload_with_other_series(page: Page) -> None:
    tab = page.tab
    tab.goto("/traces/dashboard?project=shop&since=6h")
    tab.locator('#dashboard-status[data-state="ready"]').wait_for()
    assert drawn(tab, "latency_p95_ms")[1] == 1  # one series: everything
    tab.locator("select[name=group_by]").select_option("model")
    tab.wait_for_url("**group_by=model**")
    tab.locator('#dashboard-status[data-state="ready"]').wait_for()
    assert drawn(tab, "latency_p95_ms")[1] == 2


def test_empty_project_and_alerts_page(page: Page) -> None:
    tab = page.tab
    tab.goto("/traces/dashboard?project=nobody")
    tab.locator('#dashboard-status[data-state="ready"]').wait_for()
    assert tab.locator('.dashboard-chart[data-rendered="empty"]').count() == len(FIGURES)
    tab.goto("/alerts?project=shop")
    assert tab.locator("h1").inner_text() == "Alerts"
    assert tab.locator(".mainnav a.active").inner_text() == "Monitoring"


def test_drift_page_overlays_the_length_histograms(page: Page, traced_server: LiveServer) -> None:
    """Short English questions two hours ago, long French ones in the last hour: the drift page
    flags the shift and draws both length histograms (uPlot) without a console error."""
    start = now_ms() - 2 * 3_600_000 - T0_NS // 1_000_000
    spans = []
    for i in range(40):
        recent = i >= 20
        text = (
            f"Pourriez-vous m'expliquer en détail la facture numéro {i} et ses pénalités ? " * 3
            if recent
            else f"Where is order {i}?"
        )
        attrs = genai_attrs("gpt-4o", **{"input.value": text, "output.value": text.upper()})
        spans.append(
            span(
                new_trace_id(),
                new_span_id(),
                start_ms=start + (3_600_000 if recent else 0) + i * 60_000,
                attrs=attrs,
            )
        )
    reply = httpx.post(
        traced_server.url + "/otlp/v1/traces",
        content=otlp_request(*spans).SerializeToString(),
        headers={**PROTOBUF, "X-Podium-Project": "drifting"},
        timeout=30,
    )
    assert reply.status_code == 200
    # The first check loads the embedding model in the server (seconds on a cold, busy
    # machine): run it once over REST so the page load below measures the page.
    warm = httpx.post(
        traced_server.url + "/api/v1/traces/drift",
        json={"project": "drifting", "reference": "3h..70m", "current": "70m..now"},
        timeout=180,
    )
    assert warm.status_code == 200, warm.text
    tab = page.tab
    tab.goto(
        "/traces/drift?project=drifting&reference=3h..70m&current=70m..now&check=1",
        timeout=120_000,
    )
    assert tab.locator("[data-verdict]").get_attribute("data-verdict") == "drift"
    flagged = tab.locator('tr[data-statistic="length_input"]').get_attribute("data-flagged")
    assert flagged == "true"
    charts = tab.locator('.drift-chart[data-rendered="true"]')
    charts.first.wait_for()
    assert charts.count() >= 2
    painted: int = charts.first.locator("canvas").evaluate(
        """c => {
            const pixels = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] > 0) n++; }
            return n;
        }"""
    )
    assert painted > 500
    legend = charts.first.locator(".u-legend").inner_text()
    assert "reference" in legend and "current" in legend
