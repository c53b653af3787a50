"""SDK helpers in ``podium.client.data`` over the in-process app, on both databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from podium.client import Client, data
from podium.errors import InvalidInput, NotFound


def test_import_file_iter_rows_export_and_diff(client: Client, tmp_path: Path) -> None:
    source = tmp_path / "rows.jsonl"
    source.write_text("".join(json.dumps({"input": f"q{i}"}) + "\n" for i in range(150)))
    version = data.import_file(client, "qa", source, project="alpha", message="m")
    assert (version["version"], version["row_count"], version["message"]) == (1, 150, "m")

    rows = list(data.iter_rows(client, "qa", project="alpha"))
    assert [r["input"] for r in rows] == [f"q{i}" for i in range(150)]
    exported = b"".join(data.export(client, "qa", project="alpha", fmt="csv"))
    assert exported.decode().splitlines()[1] == "q0,,{}"

    shorter = tmp_path / "rows.csv"
    shorter.write_text("input\nq0\nq1\n")
    assert data.import_file(client, "qa", shorter, project="alpha")["version"] == 2
    diff = data.diff(client, "qa", 1, 2, project="alpha", examples=1)
    assert (diff["added"], diff["removed"], diff["unchanged"]) == (0, 148, 2)
    assert len(diff["removed_examples"]) == 1

    cleaned = data.clean(
        client, "qa", [{"name": "split", "params": {"seed": 1}}], version=1, project="alpha"
    )
    assert (cleaned["version"]["version"], cleaned["version"]["parents"]) == (3, [1])
    assert cleaned["reports"][0]["details"] == {"train": 120, "validation": 15, "test": 15}

    with pytest.raises(NotFound):
        list(data.export(client, "qa", project="alpha", version=4))
    packed = tmp_path / "rows.jsonl.gz"
    packed.write_bytes(b"x")
    with pytest.raises(InvalidInput, match="pass --format"):
        data.import_file(client, "qa", packed, project="alpha")
    with pytest.raises(InvalidInput, match="is not a file"):
        data.import_file(client, "qa", tmp_path / "missing.jsonl", project="alpha")
