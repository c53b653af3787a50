"""``/api/v1/datasets`` over the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq

from podium.server.app import Services

ROWS = [
    {"input": "What is 2+2?", "expected": "4", "metadata": {"topic": "math"}},
    {"input": "Capital of France?", "expected": "Paris"},
    {"input": "Colour of the sky?", "expected": "blue"},
]


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


def _put(
    http: httpx.Client, name: str, body: bytes, fmt: str = "jsonl", **params: Any
) -> httpx.Response:
    return http.put(
        f"/api/v1/datasets/{name}/content",
        params={"project": "alpha", "format": fmt, **params},
        content=body,
    )


def test_import_creates_dense_content_addressed_versions(
    http: httpx.Client, services: Services
) -> None:
    first = _put(http, "qa", _jsonl(ROWS), message="first cut")
    assert first.status_code == 201, first.text
    v1 = first.json()
    assert (v1["version"], v1["row_count"], v1["created"], v1["message"]) == (
        1,
        3,
        True,
        "first cut",
    )
    assert v1["steps"] == [{"name": "import", "params": {"format": "jsonl"}}]
    assert v1["parents"] == []
    assert [c["name"] for c in v1["schema"]] == ["input", "expected", "metadata"]
    assert services.blobs.exists(v1["sha256"])

    again = _put(http, "qa", _jsonl(ROWS))
    assert again.status_code == 200
    assert (again.json()["version"], again.json()["created"]) == (1, False)

    second = _put(http, "qa", _jsonl([*ROWS, {"input": "new"}]))
    assert second.status_code == 201
    assert second.json()["version"] == 2
    assert second.json()["sha256"] != v1["sha256"]

    dataset = http.get("/api/v1/datasets/qa", params={"project": "alpha"}).json()
    assert (dataset["name"], dataset["project"], dataset["latest_version"]) == ("qa", "alpha", 2)
    listed = http.get("/api/v1/datasets", params={"project": "alpha"}).json()
    assert [d["name"] for d in listed["items"]] == ["qa"]
    versions = http.get("/api/v1/datasets/qa/versions", params={"project": "alpha"}).json()
    assert [v["version"] for v in versions["items"]] == [2, 1]
    one = http.get("/api/v1/datasets/qa/versions/1", params={"project": "alpha"}).json()
    assert one["sha256"] == v1["sha256"]


def test_a_failed_import_leaves_no_dataset_and_no_version(http: httpx.Client) -> None:
    broken = _jsonl(ROWS) + b'{"input": "x"\n'
    response = _put(http, "qa", broken)
    assert response.status_code == 422
    problem = response.json()
    assert problem["detail"].startswith("line 4: not valid JSON")
    assert problem["field"] == "body"
    assert http.get("/api/v1/datasets/qa", params={"project": "alpha"}).status_code == 404

    assert _put(http, "qa", _jsonl(ROWS)).status_code == 201
    assert _put(http, "qa", _jsonl(ROWS[:1]) + b"\xff\xfe\n").status_code == 422
    assert _put(http, "qa", b"question\nx\n", "csv").status_code == 422
    assert _put(http, "qa", b"", "jsonl").status_code == 422
    dataset = http.get("/api/v1/datasets/qa", params={"project": "alpha"}).json()
    assert dataset["latest_version"] == 1
    versions = http.get("/api/v1/datasets/qa/versions", params={"project": "alpha"}).json()
    assert [v["version"] for v in versions["items"]] == [1]


def test_bad_format_and_unknown_names_are_clear_errors(http: httpx.Client) -> None:
    response = _put(http, "qa", _jsonl(ROWS), "xml")
    assert response.status_code == 422
    assert response.json()["field"] == "format"
    assert _put(http, "bad name!", _jsonl(ROWS)).status_code == 422
    missing = http.get("/api/v1/datasets/nope", params={"project": "alpha"})
    assert missing.status_code == 404
    assert "podium data import nope" in missing.json()["detail"]
    _put(http, "qa", _jsonl(ROWS))
    gone = http.get("/api/v1/datasets/qa/versions/9", params={"project": "alpha"})
    assert gone.status_code == 404
    assert gone.json()["detail"] == "dataset 'qa' has no version 9; its versions are 1..1"


def test_every_format_imports_and_exports(http: httpx.Client) -> None:
    table = pa.table({"input": ["a", "b"], "expected": ["1", None], "lang": ["en", "fr"]})
    sink = io.BytesIO()
    pq.write_table(table, sink)
    uploads = {
        "jsonl": _jsonl(
            [{"input": "a", "expected": "1", "lang": "en"}, {"input": "b", "lang": "fr"}]
        ),
        "csv": b"input,expected,lang\na,1,en\nb,,fr\n",
        "parquet": sink.getvalue(),
    }
    shas = set()
    for fmt, body in uploads.items():
        response = _put(http, f"ds-{fmt}", body, fmt)
        assert response.status_code == 201, (fmt, response.text)
        shas.add(response.json()["sha256"])
    # The same rows, whatever the format they came in: the same content id.
    assert len(shas) == 1

    exported = http.get(
        "/api/v1/datasets/ds-csv/content", params={"project": "alpha", "format": "jsonl"}
    )
    assert exported.status_code == 200
    assert exported.headers["x-podium-version"] == "1"
    assert [json.loads(line) for line in exported.text.splitlines()] == [
        {"input": "a", "expected": "1", "metadata": {"lang": "en"}},
        {"input": "b", "metadata": {"lang": "fr"}},
    ]
    as_csv = http.get(
        "/api/v1/datasets/ds-csv/content", params={"project": "alpha", "format": "csv"}
    )
    assert (
        as_csv.text == 'input,expected,metadata\na,1,"{""lang"":""en""}"\nb,,"{""lang"":""fr""}"\n'
    )
    as_parquet = http.get(
        "/api/v1/datasets/ds-csv/content", params={"project": "alpha", "format": "parquet"}
    )
    back = pq.read_table(io.BytesIO(as_parquet.content))
    assert back.column("input").to_pylist() == ["a", "b"]


def test_chat_import_and_export(http: httpx.Client) -> None:
    chat = {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
        ]
    }
    assert _put(http, "chat", _jsonl([chat]), "chat").status_code == 201
    rows = http.get("/api/v1/datasets/chat/rows", params={"project": "alpha"}).json()["items"]
    assert rows[0]["expected"] == "hello"
    assert json.loads(rows[0]["input"])[1] == {"role": "user", "content": "hi"}
    back = http.get("/api/v1/datasets/chat/content", params={"project": "alpha", "format": "chat"})
    assert json.loads(back.text) == chat


def test_rows_page_and_search(http: httpx.Client) -> None:
    rows = [{"input": f"question {i}", "expected": "odd" if i % 2 else "even"} for i in range(25)]
    _put(http, "big", _jsonl(rows))
    page = http.get(
        "/api/v1/datasets/big/rows", params={"project": "alpha", "offset": 20, "limit": 10}
    ).json()
    assert [r["input"] for r in page["items"]] == [f"question {i}" for i in range(20, 25)]
    assert page["next_offset"] is None
    first = http.get("/api/v1/datasets/big/rows", params={"project": "alpha", "limit": 2}).json()
    assert first["next_offset"] == 2
    found = http.get(
        "/api/v1/datasets/big/rows",
        params={"project": "alpha", "search": "ODD", "offset": 3, "limit": 2},
    ).json()
    assert [r["input"] for r in found["items"]] == ["question 7", "question 9"]


def test_diff_counts_added_removed_and_changed_rows(http: httpx.Client) -> None:
    before = [{"input": f"q{i}", "expected": f"a{i}"} for i in range(10)]
    after = [r for r in before if r["input"] not in ("q0", "q1")]
    after[0] = {"input": "q2", "expected": "fixed"}
    after += [{"input": "q10", "expected": "a10"}]
    _put(http, "d", _jsonl(before))
    _put(http, "d", _jsonl(after))
    diff = http.get(
        "/api/v1/datasets/d/diff", params={"project": "alpha", "base": 1, "other": 2}
    ).json()
    assert (diff["added"], diff["removed"], diff["changed"], diff["unchanged"]) == (1, 2, 1, 7)
    assert [r["input"] for r in diff["added_examples"]] == ["q10"]
    assert [r["input"] for r in diff["removed_examples"]] == ["q0", "q1"]
    (changed,) = diff["changed_examples"]
    assert (changed["before"]["expected"], changed["after"]["expected"]) == ("a2", "fixed")
    same = http.get(
        "/api/v1/datasets/d/diff", params={"project": "alpha", "base": 2, "other": 2}
    ).json()
    assert (same["added"], same["removed"], same["changed"], same["unchanged"]) == (0, 0, 0, 9)


def test_delete_dataset(http: httpx.Client) -> None:
    _put(http, "d", _jsonl(ROWS))
    assert http.delete("/api/v1/datasets/d", params={"project": "alpha"}).status_code == 204
    assert http.get("/api/v1/datasets/d", params={"project": "alpha"}).status_code == 404
    assert _put(http, "d", _jsonl(ROWS)).json()["version"] == 1


def test_clean_records_a_new_version_with_lineage_and_reports(http: httpx.Client) -> None:
    rows = [
        {"input": "  Hello   world  ", "expected": "hi"},
        {"input": "hello world", "expected": "hi"},
        {"input": "x"},
        {"input": "a normal question about databases"},
    ]
    _put(http, "raw", _jsonl(rows))
    steps = [
        {"name": "normalise"},
        {"name": "exact_dedup"},
        {"name": "filter", "params": {"min_chars": 2}},
    ]
    response = http.post(
        "/api/v1/datasets/raw/clean", json={"project": "alpha", "steps": steps, "message": "c"}
    )
    assert response.status_code == 201, response.text
    result = response.json()
    version = result["version"]
    assert (version["version"], version["parents"], version["row_count"]) == (2, [1], 2)
    assert version["steps"] == [
        {"name": "normalise", "params": {"form": "NFC", "collapse": "spaces"}},
        {"name": "exact_dedup", "params": {"on": "input"}},
        {
            "name": "filter",
            "params": {
                "min_chars": 2,
                "max_chars": 10**12,
                "min_words": 0,
                "max_words": 10**12,
                "max_repetition": 1.0,
                "repetition_ngram": 3,
            },
        },
    ]
    assert [(r["name"], r["removed"], r["changed"]) for r in result["reports"]] == [
        ("normalise", 0, 1),
        ("exact_dedup", 1, 0),
        ("filter", 1, 0),
    ]
    kept = http.get("/api/v1/datasets/raw/rows", params={"project": "alpha"}).json()["items"]
    assert [r["input"] for r in kept] == ["Hello world", "a normal question about databases"]
    diff = http.get(
        "/api/v1/datasets/raw/diff", params={"project": "alpha", "base": 1, "other": 2}
    ).json()
    # The normalised input is a new key: the old spellings are removed, it is added.
    assert (diff["added"], diff["removed"], diff["changed"], diff["unchanged"]) == (1, 3, 0, 1)


def test_a_failed_pipeline_leaves_no_version(http: httpx.Client) -> None:
    _put(http, "raw", _jsonl(ROWS))
    bad = http.post(
        "/api/v1/datasets/raw/clean",
        json={"project": "alpha", "steps": [{"name": "normalise"}, {"name": "nope"}]},
    )
    assert bad.status_code == 422
    assert bad.json()["detail"].startswith("unknown step 'nope'")
    everything = http.post(
        "/api/v1/datasets/raw/clean",
        json={"project": "alpha", "steps": [{"name": "filter", "params": {"min_chars": 1000}}]},
    )
    assert everything.status_code == 422
    assert "removed every row" in everything.json()["detail"]
    missing = http.post(
        "/api/v1/datasets/raw/clean",
        json={"project": "alpha", "version": 5, "steps": [{"name": "normalise"}]},
    )
    assert missing.status_code == 404
    dataset = http.get("/api/v1/datasets/raw", params={"project": "alpha"}).json()
    assert dataset["latest_version"] == 1
