"""The dataset pages over the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import re

import httpx

from podium.server.app import Services


def _import(services: Services, rows: list[dict[str, object]]) -> None:
    body = "".join(json.dumps(r) + "\n" for r in rows).encode()
    services.data.import_rows("alpha", "qa", io.BytesIO(body), message="seed")


def test_list_dataset_lineage_rows_and_diff_pages(http: httpx.Client, services: Services) -> None:
    _import(services, [{"input": f"question {i}", "expected": f"a{i}"} for i in range(60)])
    services.data.clean(
        "alpha", "qa", [{"name": "filter", "params": {"max_chars": 10}}], message="short"
    )
    listed = http.get("/datasets", params={"project": "alpha"})
    assert listed.status_code == 200
    assert 'data-dataset="qa"' in listed.text
    assert "v2" in listed.text

    page = http.get("/datasets/qa", params={"project": "alpha", "version": 1})
    assert page.status_code == 200
    # Lineage: v2 nested under v1, with its step.
    lineage = re.search(r'<ul class="lineage">(.*?)</ul>\s*<h2>Versions', page.text, re.S)
    assert lineage is not None
    tree = re.sub(r"\s+", " ", lineage.group(1))
    assert re.search(r'<li data-lineage="1">.*<ul> ?<li data-lineage="2">.*>filter</span>', tree)
    assert page.text.count("<tr data-row=") == 50
    assert 'rel="next"' in page.text

    second = http.get("/datasets/qa", params={"project": "alpha", "version": 1, "offset": 50})
    assert second.text.count("<tr data-row=") == 10
    found = http.get("/datasets/qa", params={"project": "alpha", "version": 1, "search": "ion 4"})
    assert found.text.count("<tr data-row=") == 11  # question 4, 40-49

    diff = http.get("/datasets/qa/diff", params={"project": "alpha", "base": 1, "other": 2})
    assert diff.status_code == 200
    assert 'data-counts="0,50,0,10"' in diff.text


def test_missing_dataset_page_is_a_404_page(http: httpx.Client) -> None:
    response = http.get("/datasets/nope", params={"project": "alpha"})
    assert response.status_code == 404
    assert "podium data import nope" in response.text
