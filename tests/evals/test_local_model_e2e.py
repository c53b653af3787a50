"""End to end with a real small model: a real server on loopback serves SmolLM2-135M through
the gateway (routes ``chat`` and ``judge``, provider ``local``); a 5-item suite targets the
``chat`` route through the OpenAI-compatible URL and grades with an LLM judge on the ``judge``
route. A 135M model judges badly, so only the shape is checked: every item has a score in 0..1
or a clear "no score" detail, and a re-run takes every judge answer from the cache.

Then the UI: two targets (two system prompts on the ``chat`` route of another project) answer
6 questions of the support dataset that ships with Podium (the demo's), and headless Chromium
shows the model's real outputs with their scores and the comparison chart."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest

from podium.client import Client
from podium.evals.runner import run_suite
from podium.evals.suite import parse_suite
from podium.server.app import build
from podium.server.demo_ops import QUESTIONS as SUPPORT_QUESTIONS
from podium.server.web import format_number
from podium.settings import Settings
from podium.tracing import sql as tracing_sql
from podium.tracing.models import TraceFilter
from tests.gateway.conftest import GatewayServer, serving
from tests.local_models.conftest import require_local, shared_model_cache

QUESTIONS = [
    ("What is the capital of France?", "Paris"),
    ("What colour is the sky on a clear day?", "blue"),
    ("How many legs does a spider have?", "8"),
    ("Who wrote Hamlet?", "William Shakespeare"),
    ("What is 2 + 2?", "4"),
]
SMOL = [{"name": "smol", "provider": "local", "model": "smollm2-135m-instruct"}]


@pytest.fixture(scope="module")
def smol_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayServer]:
    """A real server whose ``chat`` and ``judge`` routes serve SmolLM2 (SQLite: the judge
    cache and the experiments are the same code on both databases, tested elsewhere)."""
    require_local()
    cache = shared_model_cache()
    settings = Settings(
        home=tmp_path_factory.mktemp("evals-smol"),
        password_hash_cost=10,
        model_cache=cache,
        local_threads=1,
    )
    services = build(settings)
    try:
        with serving(services) as running:
            running.put_route("chat", deployments=SMOL)
            running.put_route("judge", deployments=SMOL)
            rows = "".join(json.dumps({"input": q, "expected": a}) + "\n" for q, a in QUESTIONS)
            services.data.import_rows("default", "trivia", io.BytesIO(rows.encode()))
            yield running
    finally:
        services.close()


def calls_per_route(server: GatewayServer) -> dict[str, int]:
    """How many requests each route served (every request is a span)."""
    services = server.services
    services.gateway.recorder.flush()
    project = services.projects.by_name("default")
    with services.db.read() as conn:
        traces = tracing_sql.list_traces(conn, project.id, TraceFilter(), 0, 1000)
        spans = [s for t in traces for s in tracing_sql.spans_of(conn, t.trace_id)]
    counts: dict[str, int] = {}
    for span in spans:
        route = str(span.attributes.get("gateway.route"))
        counts[route] = counts.get(route, 0) + 1
    return counts


@pytest.mark.slow
def test_smollm2_behind_the_gateway_is_evaluated_and_judged(smol_server: GatewayServer) -> None:
    url = smol_server.url + "/v1"
    suite = parse_suite(
        {
            "name": "trivia-smol",
            "dataset": "trivia",
            "targets": [
                {
                    "name": "smol",
                    "url": url,
                    "model": "chat",
                    "params": {"temperature": 0, "max_tokens": 12},
                    "system": "Answer in a few words.",
                }
            ],
            "scorers": [
                "contains",
                {
                    "name": "judge",
                    "url": url,
                    "model": "judge",
                    "rubric": "Does the response give the reference answer?",
                    "max_tokens": 24,
                },
            ],
            "concurrency": 5,
            "timeout": 60,
        }
    )
    with Client(smol_server.url) as client:
        (first,) = run_suite(suite, client)
        experiment = first.experiment
        assert (experiment["status"], experiment["item_count"]) == ("finished", 5)
        assert experiment["metrics"]["error_rate"] == 0.0
        items: list[dict[str, Any]] = list(
            client.paginate(f"/evals/experiments/{experiment['id']}/items", project="default")
        )
        assert len(items) == 5
        assert all(i["error"] is None and i["output"] for i in items)
        # The model knows at least one of these; a 135M model is not asked for more.
        assert experiment["metrics"]["contains"] > 0
        for item in items:
            judged = item["details"].get("judge", {})
            if "raw" in judged:  # a parseable grade, scaled to 0..1
                assert 0.0 <= item["scores"]["judge"] <= 1.0
                assert 1 <= judged["raw"] <= 5 or item["scores"]["judge"] in (0.0, 1.0)
            else:  # the clear "unparseable" outcome, never an exception
                assert judged["error"] == "the judge gave no score"
                assert item["scores"]["judge"] == 0.0
        assert calls_per_route(smol_server) == {"chat": 5, "judge": 5}

        (second,) = run_suite(suite, client)
        assert second.experiment["id"] != experiment["id"]  # a finished run is not resumed
        # The target was asked again; every judge answer came from the cache.
        assert calls_per_route(smol_server) == {"chat": 10, "judge": 5}
        assert second.experiment["metrics"]["judge"] == experiment["metrics"]["judge"]


# Two ways to prompt the same model, compared on the packaged support questions.
SUPPORT_TARGETS = {
    "terse": "Answer in a few words.",
    "menu-path": "You are a support assistant. Name the menu path (Settings > ...) if any.",
}


def _one_line(text: str) -> str:
    """``text`` as the browser lays it out in a table cell: whitespace collapsed."""
    return " ".join(text.split())


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.xdist_group("browser")
def test_real_model_outputs_scores_and_chart_in_a_browser(
    smol_server: GatewayServer, chromium: Any
) -> None:
    project = "support"  # its own project: the route counts above stay those of "default"
    smol_server.put_route("chat", project=project, deployments=SMOL)
    sample = SUPPORT_QUESTIONS[:6]
    rows = "".join(json.dumps({"input": q, "expected": a}) + "\n" for q, a in sample)
    smol_server.services.data.import_rows(project, "support", io.BytesIO(rows.encode()))
    suite = parse_suite(
        {
            "name": "support-smol",
            "project": project,
            "dataset": "support",
            "targets": [
                {
                    "name": name,
                    "route": "chat",
                    "params": {"temperature": 0, "max_tokens": 16},
                    "system": system,
                }
                for name, system in SUPPORT_TARGETS.items()
            ],
            "scorers": ["f1", "rouge_l"],
            "concurrency": 6,
            "timeout": 60,
        }
    )
    with Client(smol_server.url) as client:
        base, candidate = (outcome.experiment for outcome in run_suite(suite, client))
        items: list[dict[str, Any]] = list(
            client.paginate(f"/evals/experiments/{candidate['id']}/items", project=project)
        )
    assert [e["status"] for e in (base, candidate)] == ["finished", "finished"]
    assert len(items) == len(sample)
    assert all(i["error"] is None and i["output"].strip() for i in items)
    assert max(len(i["output"]) for i in items) < 160  # the page truncates longer ones

    context = chromium.new_context(
        base_url=smol_server.url, viewport={"width": 1280, "height": 900}
    )
    tab = context.new_page()
    errors: list[str] = []
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda exc: errors.append(str(exc)))

    tab.goto(f"/evals?project={project}")
    assert tab.locator("tr[data-experiment]").count() == 2

    # The candidate's page: each question with the model's own answer and its two scores.
    tab.goto(f"/evals/{candidate['id']}?project={project}")
    assert tab.locator("table.items-table tbody tr").count() == len(sample)
    for item in items:
        cells = tab.locator(f'table.items-table tr[data-item="{item["key"][:12]}"] td')
        # position, variant, input, expected, output, f1, rouge_l, latency
        texts = cells.all_inner_texts()
        assert texts[2:5] == [item["input"], item["expected"], _one_line(item["output"])]
        assert texts[5:7] == [format_number(item["scores"][s]) for s in ("f1", "rouge_l")]
    for scorer in ("f1", "rouge_l"):
        value = tab.locator(f'table.metrics-table tr[data-metric="{scorer}"] td.num')
        assert value.inner_text() == format_number(candidate["metrics"][scorer])

    # The comparison draws its delta chart (uPlot on a canvas) and tables both scorers.
    tab.goto(f"/evals/compare?project={project}&base={base['id']}&candidate={candidate['id']}")
    canvas = tab.locator("#delta-chart canvas")
    canvas.wait_for(state="visible")
    box = canvas.bounding_box()
    assert box is not None and box["width"] > 100 and box["height"] > 50
    painted = canvas.evaluate(
        """c => {
            const pixels = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] > 0) n++; }
            return n;
        }"""
    )
    assert painted > 500  # axes, grid and the intervals
    scorers = tab.locator("table.comparison-table tr[data-scorer]")
    assert sorted(r.get_attribute("data-scorer") for r in scorers.all()) == ["f1", "rouge_l"]
    assert errors == []
    context.close()
