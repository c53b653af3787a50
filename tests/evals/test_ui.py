"""The eval pages: the experiment list, one experiment with its confusion matrix and probe
groups, and the comparison page with its chart data and changed items."""

from __future__ import annotations

import json
import re

import httpx

from podium.client import Client
from podium.evals.runner import run_suite
from podium.evals.suite import parse_suite


def run(client: Client, target: str, scorers: list[object] | None = None) -> str:
    suite = parse_suite(
        {
            "name": "qa-ui",
            "dataset": "qa",
            "targets": [{"name": target, "python": f"tests.evals.conftest:{target}"}],
            "scorers": scorers
            or ["exact_match", {"name": "classification", "labels": ["Paris", "8"]}],
            "probes": {"paraphrase": True},
        }
    )
    (outcome,) = run_suite(suite, client)
    return str(outcome.experiment["id"])


def test_list_experiment_and_compare_pages(
    http: httpx.Client, client: Client, qa_dataset: int
) -> None:
    good = run(client, "answer")
    weak = run(client, "weak_answer")

    page = http.get("/evals")
    assert page.status_code == 200
    assert page.text.count('data-experiment="') == 2
    assert f'href="/evals/{good}?project=default"' in page.text

    detail = http.get(f"/evals/{weak}")
    assert detail.status_code == 200
    assert "qa-ui · weak_answer" in detail.text
    assert 'data-metric="exact_match"' in detail.text
    assert "Confusion matrix (classification)" in detail.text
    assert 'data-group="paraphrase"' in detail.text
    assert "Marlowe" in detail.text

    compare = http.get("/evals/compare", params={"base": good, "candidate": weak})
    assert compare.status_code == 200
    assert 'data-scorer="exact_match" data-verdict="too few items"' in compare.text
    assert compare.text.count('data-change="regressed"') == 6  # 3 items x 2 scorers
    chart = re.search(
        r'<script type="application/json" id="delta-data">(.*?)</script>', compare.text, re.S
    )
    assert chart is not None
    data = json.loads(chart.group(1))
    assert [(d["scorer"], d["delta"]) for d in data] == [
        ("exact_match", -0.5),
        ("classification", -0.5),
    ]


def test_pages_for_unknown_things_are_friendly(http: httpx.Client) -> None:
    assert http.get("/evals").status_code == 200  # no project yet: an empty list
    missing = http.get("/evals/nope")
    assert missing.status_code == 404
    assert "Back to the eval experiments" in missing.text
    assert http.get("/evals/compare").status_code == 404
