"""The web pages, rendered by the real app over the demo project (on SQLite and PostgreSQL).

These read the HTML the server sends; what the browser does with it (charts, htmx) is
``test_ui_browser.py``'s job.
"""

from __future__ import annotations

import io
import json
import re
from urllib.parse import quote

import httpx
import pytest

from podium.server.app import Services
from podium.server.demo import seed_demo
from podium.tracking.models import MetricPoint

DEMO_RUNS = {
    "baseline-r8",
    "lora-r16",
    "lora-r16-slow",
    "lora-r32-hot",
    "lr-sweep",
    "lr-sweep-1e-4",
    "lr-sweep-3e-4",
}


@pytest.fixture
def demo(services: Services) -> dict[str, str]:
    """The demo project seeded; returns run name -> id (of the training runs)."""
    seed_demo(services)
    runs = services.tracking.search_runs(project="demo", experiments=["sentiment-finetune"])
    return {r.name: r.id for r in runs}


def row_names(html: str) -> list[str]:
    """The run names of the runs table, top to bottom."""
    return re.findall(r'<td class="run-name">\s*<a href="/runs/[0-9a-f]+">([^<]+)</a>', html)


def chart_data(html: str) -> dict[str, list[dict[str, object]]]:
    """The metric series a page sends for its charts."""
    found = re.search(
        r'<script type="application/json" id="metric-data">(.*?)</script>', html, re.S
    )
    assert found is not None, "no chart data on the page"
    data: dict[str, list[dict[str, object]]] = json.loads(found.group(1))
    return data


def test_home_redirects_to_runs(http: httpx.Client) -> None:
    response = http.get("/?project=demo", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/runs?project=demo"


def test_runs_page_lists_the_demo_runs(http: httpx.Client, demo: dict[str, str]) -> None:
    # The demo's eval experiments are runs too (experiment eval-support-qa): filtered out.
    response = http.get("/runs", params={"project": "demo", "experiment": "sentiment-finetune"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert set(row_names(html)) == DEMO_RUNS
    assert html.count('class="badge status-FAILED"') == 1
    assert html.count('class="badge status-FINISHED"') == 6
    # Metric columns, and the params that differ between runs (base_model is the same for all).
    assert ">eval/accuracy" in html
    assert ">lora_r" in html
    assert ">base_model<" not in html
    # One checkbox per run for the Compare form.
    assert html.count('name="run_ids"') == 7
    assert 'action="/runs/compare"' in html
    # The project selector lists the project and the nav keeps it.
    assert '<option value="demo" selected>demo</option>' in html
    assert 'href="/models?project=demo"' in html


def test_runs_page_sorts_and_pages(http: httpx.Client, demo: dict[str, str]) -> None:
    training = {"project": "demo", "experiment": "sentiment-finetune"}
    html = http.get("/runs", params={**training, "order_by": "metrics.eval/accuracy DESC"}).text
    assert row_names(html) == [
        "lr-sweep-3e-4",
        "lora-r16",
        "lr-sweep-1e-4",
        "baseline-r8",
        "lora-r16-slow",
        "lora-r32-hot",
        "lr-sweep",  # no eval/accuracy: last
    ]
    # The sorted column's header flips the direction on the next click.
    assert 'aria-sort="descending"' in html
    assert "order_by=metrics.eval%2Faccuracy+ASC" in html

    page = http.get(
        "/runs", params={**training, "order_by": "name ASC", "limit": 3, "offset": 3}
    ).text
    assert row_names(page) == ["lora-r32-hot", "lr-sweep", "lr-sweep-1e-4"]
    assert "runs 4\u20136" in page  # an en dash
    assert 'rel="next"' in page
    assert 'rel="prev"' in page


def test_runs_page_filters_by_experiment_and_filter(
    services: Services, http: httpx.Client, demo: dict[str, str]
) -> None:
    services.tracking.create_run(project="demo", experiment="other", name="elsewhere")
    everything = http.get("/runs", params={"project": "demo"}).text
    assert "elsewhere" in row_names(everything)
    assert "<th>Experiment</th>" in everything  # two experiments: the column is shown

    one = http.get("/runs", params={"project": "demo", "experiment": "other"}).text
    assert row_names(one) == ["elsewhere"]

    filtered = http.get(
        "/runs",
        params={"project": "demo", "filter": "params.lora_r = '16' and status = 'FINISHED'"},
    ).text
    assert set(row_names(filtered)) == {
        "lora-r16",
        "lora-r16-slow",
        "lr-sweep",
        "lr-sweep-1e-4",
        "lr-sweep-3e-4",
    }


def test_a_bad_filter_is_explained_on_the_page(http: httpx.Client, demo: dict[str, str]) -> None:
    response = http.get(
        "/runs", params={"project": "demo", "filter": "metrics.eval/accuracy > 0.8 and"}
    )
    assert response.status_code == 200
    html = response.text
    assert 'id="search-error"' in html
    assert "Invalid filter." in html
    assert "invalid filter at position" in html
    # The box keeps what was typed so it can be fixed.
    assert 'value="metrics.eval/accuracy &gt; 0.8 and"' in html
    assert row_names(html) == []


def test_an_unknown_experiment_or_sort_key_is_explained(
    http: httpx.Client, demo: dict[str, str]
) -> None:
    html = http.get("/runs", params={"project": "demo", "experiment": "nope"}).text
    assert 'id="search-error"' in html
    assert "experiment &#39;nope&#39; does not exist" in html
    bad_sort = http.get("/runs", params={"project": "demo", "order_by": "wat?"})
    assert bad_sort.status_code == 200
    assert 'id="search-error"' in bad_sort.text


def test_runs_page_of_an_unknown_project(http: httpx.Client) -> None:
    response = http.get("/runs", params={"project": "nowhere"})
    assert response.status_code == 200
    assert "does not exist yet" in response.text


def test_run_page_shows_everything_logged(http: httpx.Client, demo: dict[str, str]) -> None:
    run_id = demo["lora-r16"]
    response = http.get(f"/runs/{run_id}")
    assert response.status_code == 200
    html = response.text
    assert '<h1 class="run-title">lora-r16</h1>' in html
    assert '<td class="key">lr</td><td class="value">0.0002</td>' in html
    assert '<td class="key">dataset</td><td class="value">reviews-v3</td>' in html
    assert "python train.py --lr 0.0002 --epochs 3 --lora-r 16" in html
    assert f'href="/api/v1/runs/{run_id}/artifacts/content?path=config.json"' in html
    # One chart per metric key, with the series embedded for the chart script.
    for key in ("eval/accuracy", "eval/loss", "train/loss"):
        assert 'class="metric-chart" id="chart-' in html
        assert f'data-key="{key}"' in html
    data = chart_data(html)
    assert sorted(data) == ["eval/accuracy", "eval/loss", "train/loss"]
    (train,) = data["train/loss"]
    assert train["label"] == "lora-r16"
    assert train["steps"] == list(range(100))
    (accuracy,) = data["eval/accuracy"]
    assert accuracy["steps"] == [0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 99]
    # The nav keeps the run's project.
    assert 'href="/runs?project=demo"' in html


def test_parent_run_lists_its_children(http: httpx.Client, demo: dict[str, str]) -> None:
    html = http.get(f"/runs/{demo['lr-sweep']}").text
    assert "<h2>Child runs</h2>" in html
    assert f'<a href="/runs/{demo["lr-sweep-1e-4"]}">lr-sweep-1e-4</a>' in html
    assert f'<a href="/runs/{demo["lr-sweep-3e-4"]}">lr-sweep-3e-4</a>' in html
    child = http.get(f"/runs/{demo['lr-sweep-1e-4']}").text
    assert f'<a href="/runs/{demo["lr-sweep"]}">lr-sweep</a>' in child  # the parent link


def test_unknown_run_is_a_404_page(http: httpx.Client) -> None:
    response = http.get("/runs/0123456789abcdef")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "There is no run with id &#39;0123456789abcdef&#39;" in response.text


def test_compare_page_overlays_runs(http: httpx.Client, demo: dict[str, str]) -> None:
    a, b = demo["baseline-r8"], demo["lora-r16"]
    response = http.get("/runs/compare", params=[("run_ids", a), ("run_ids", b)])
    assert response.status_code == 200
    html = response.text
    assert "Compare 2 runs" in html
    assert '<tr class="differs" data-param="lora_r">' in html
    assert '<tr class="same" data-param="base_model">' in html
    assert '<tr data-metric="eval/accuracy">' in html
    data = chart_data(html)
    assert sorted(data) == ["eval/accuracy", "eval/loss", "train/loss"]
    assert [s["label"] for s in data["eval/loss"]] == ["baseline-r8", "lora-r16"]
    assert [s["run_id"] for s in data["eval/loss"]] == [a, b]


def test_compare_needs_two_known_runs(http: httpx.Client, demo: dict[str, str]) -> None:
    one = http.get("/runs/compare", params={"run_ids": demo["lora-r16"]})
    assert one.status_code == 422
    assert "Pick two or more runs to compare" in one.text
    unknown = http.get(
        "/runs/compare", params=[("run_ids", demo["lora-r16"]), ("run_ids", "feedface")]
    )
    assert unknown.status_code == 404
    assert "feedface" in unknown.text


def test_models_page_lists_the_model(http: httpx.Client, demo: dict[str, str]) -> None:
    response = http.get("/models", params={"project": "demo"})
    assert response.status_code == 200
    html = response.text
    assert '<a href="/models/sentiment-classifier?project=demo">sentiment-classifier</a>' in html
    assert ">v2<" in html
    assert 'data-alias="production">production → v1</span>' in html
    assert 'data-alias="staging">staging → v2</span>' in html


def test_model_page_shows_versions_card_and_alias_history(
    http: httpx.Client, demo: dict[str, str]
) -> None:
    response = http.get("/models/sentiment-classifier", params={"project": "demo"})
    assert response.status_code == 200
    html = response.text
    assert '<tr data-version="2">' in html
    assert '<tr data-version="1">' in html
    assert f'href="/runs/{demo["lora-r16"]}"' in html  # v2's source run
    assert f'href="/runs/{demo["baseline-r8"]}"' in html
    assert "transformers+peft" in html
    # The latest version's card, rendered from markdown.
    assert "Model card <span" in html
    assert "<h2>Intended use</h2>" in html
    assert "<td>16</td>" in html
    # Alias history, newest first: who moved which alias from where to where, and why.
    history = html[html.index('<table class="alias-history">') :]
    rows = re.findall(r'<tr data-alias="(\w+)">', history)
    assert rows == ["staging", "staging", "production"]
    assert "LoRA r=16 beats the baseline on eval/accuracy" in history
    assert "<td>v1</td>\n    <td>v2</td>" in history


def test_unknown_model_is_a_404_page(http: httpx.Client, demo: dict[str, str]) -> None:
    response = http.get("/models/nope", params={"project": "demo"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "There is no model &#39;nope&#39; in project &#39;demo&#39;" in response.text


def test_user_content_is_escaped(services: Services, http: httpx.Client) -> None:
    evil = "<script>alert(1)</script>"
    run = services.tracking.create_run(
        project="default",
        name=evil,
        params={"note": '"><img src=x onerror=alert(2)>'},
        tags={"t": evil},
    )
    services.tracking.log_artifact(run.id, "a<b>.txt", io.BytesIO(b"x"))
    services.registry.create_model("default", "m", description=evil)
    services.registry.create_version(
        "default", "m", model_card=f"# Card\n\n{evil}\n\n[x](javascript:alert(3))"
    )
    pages = [
        http.get("/runs").text,
        http.get(f"/runs/{run.id}").text,
        http.get("/models").text,
        http.get("/models/m").text,
    ]
    for html in pages:
        assert evil not in html
        assert "<img src=x" not in html
        assert 'href="javascript:' not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[1]
    assert "&#34;&gt;&lt;img src=x onerror=alert(2)&gt;" in pages[1]
    assert f"path={quote('a<b>.txt', safe='')}" in pages[1]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in pages[3]


def test_static_files_are_served(http: httpx.Client) -> None:
    for path, kind in [
        ("/static/podium.css", "text/css"),
        ("/static/podium.js", "text/javascript"),
        ("/static/vendor/htmx.min.js", "text/javascript"),
        ("/static/vendor/uPlot.iife.min.js", "text/javascript"),
        ("/static/vendor/uPlot.min.css", "text/css"),
    ]:
        response = http.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith(kind), path
    assert http.get("/static/nope.js").status_code == 404


def test_download_links_serve_the_files(http: httpx.Client, demo: dict[str, str]) -> None:
    run_page = http.get(f"/runs/{demo['baseline-r8']}").text
    artifact_href = re.search(r'<a href="(/api/v1/runs/[^"]+)" download>config.json</a>', run_page)
    assert artifact_href is not None
    config = http.get(artifact_href.group(1).replace("&amp;", "&"))
    assert config.status_code == 200
    assert json.loads(config.content)["lora_r"] == "8"

    model_page = http.get("/models/sentiment-classifier", params={"project": "demo"}).text
    version_hrefs = re.findall(r'<a href="(/api/v1/models/[^"]+)" download>', model_page)
    assert version_hrefs == [
        "/api/v1/models/sentiment-classifier/versions/2/content?project=demo",
        "/api/v1/models/sentiment-classifier/versions/1/content?project=demo",
    ]
    v1 = http.get(version_hrefs[1])
    assert v1.status_code == 200
    assert v1.content == config.content  # v1 is the baseline run's config.json


def test_long_and_non_finite_series_are_charted(services: Services, http: httpx.Client) -> None:
    run = services.tracking.create_run(name="long")
    points = [MetricPoint("loss", 1.0 / (step + 1), step, 1_000 + step) for step in range(3000)]
    points[0] = MetricPoint("loss", float("nan"), 0, 1_000)
    services.tracking.log_metrics(run.id, points)
    html = http.get(f"/runs/{run.id}").text
    (series,) = chart_data(html)["loss"]
    assert isinstance(series["steps"], list)
    assert isinstance(series["values"], list)
    assert len(series["steps"]) == 1000  # thinned for the chart
    assert series["steps"][0] == 0
    assert series["steps"][-1] == 2999
    assert series["values"][0] is None  # NaN: a gap in the line, not invalid JSON
    assert series["values"][-1] == 1.0 / 3000
