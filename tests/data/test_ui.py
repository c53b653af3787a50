"""The dataset pages over the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
import re
import time

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
    # Lineage: an SVG with both versions as linked nodes and the v1 → v2 edge labelled "filter".
    lineage = re.search(r'<svg class="lineage".*?</svg>', page.text, re.S)
    assert lineage is not None
    svg = lineage.group(0)
    assert re.findall(r'data-node="(\d+)"', svg) == ["1", "2"]
    assert '<a href="/datasets/qa?project=alpha&amp;version=2" data-node="2">' in svg
    edge = re.search(r'<g data-edge="1-2">(.*?)</g>', svg, re.S)
    assert edge is not None
    assert re.search(r">filter</text>", edge.group(1))
    assert "<title>filter {&#34;max_chars&#34;: 10" in edge.group(1)
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


def test_lineage_svg_places_branches_in_layers(http: httpx.Client, services: Services) -> None:
    _import(services, [{"input": f"question {i}"} for i in range(5)])
    data = services.data
    data.clean("alpha", "qa", [{"name": "normalise"}])  # v2 from v1
    data.clean("alpha", "qa", [{"name": "exact_dedup"}], version=1)  # v3 from v1
    data.clean("alpha", "qa", [{"name": "split"}], version=2)  # v4 from v2
    page = http.get("/datasets/qa", params={"project": "alpha"})
    nodes = dict(
        re.findall(r'data-node="(\d+)">\s*<title>[^<]*</title>\s*<rect x="(\d+)"', page.text)
    )
    # v1 in the first layer, v2 and v3 in the second, v4 in the third.
    assert nodes["2"] == nodes["3"] != nodes["1"]
    assert int(nodes["1"]) < int(nodes["2"]) < int(nodes["4"])
    assert sorted(re.findall(r'data-edge="(\d+-\d+)"', page.text)) == ["1-2", "1-3", "2-4"]


def test_job_page_shows_progress_and_the_fragment_for_htmx(
    http: httpx.Client, services: Services
) -> None:
    _import(services, [{"input": f"question {i}"} for i in range(5)])
    job = services.data.start_clean("alpha", "qa", [{"name": "normalise"}, {"name": "split"}])
    deadline = time.monotonic() + 60
    while services.data.get_job(job.id).state == "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    page = http.get(f"/datasets/jobs/{job.id}")
    assert page.status_code == 200
    assert "<h1>Pipeline on qa v1</h1>" in page.text
    assert 'data-state="succeeded"' in page.text
    assert "hx-trigger" not in page.text  # a finished job stops polling
    assert re.findall(r'data-step-state="(\w+)"', page.text) == ["done", "done"]
    assert 'data-result="2"' in page.text
    fragment = http.get(f"/datasets/jobs/{job.id}", headers={"HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<div id="job" data-state="succeeded"')
    assert "<html" not in fragment.text
    missing = http.get("/datasets/jobs/" + "0" * 32)
    assert missing.status_code == 404
