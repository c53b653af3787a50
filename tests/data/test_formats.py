"""Parsing and encoding of dataset rows (no database): formats.py."""

from __future__ import annotations

import io
import json
import tempfile
import tracemalloc

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from podium.data import formats
from podium.errors import InvalidInput


def _records(data: bytes, fmt: str) -> list[formats.Record]:
    return list(formats.read_records(io.BytesIO(data), fmt))


def test_jsonl_rows_keep_input_expected_and_fold_extra_keys_into_metadata() -> None:
    data = (
        b'{"input": "2+2?", "expected": "4", "metadata": {"src": "a"}}\n'
        b"\n"
        b'{"input": {"q": 1}, "topic": "math"}\n'
    )
    assert _records(data, "jsonl") == [
        ("2+2?", "4", '{"src":"a"}'),
        ('{"q":1}', None, '{"topic":"math"}'),
    ]


def test_broken_json_line_names_the_line_number() -> None:
    data = b'{"input": "a"}\n{"input": "b"}\n{"input": oops}\n'
    with pytest.raises(InvalidInput) as caught:
        _records(data, "jsonl")
    assert caught.value.message.startswith("line 3: not valid JSON")
    assert caught.value.extra == {"line": 3}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"expected": "x"}\n', "line 1: the row has no 'input'"),
        (b"[1, 2]\n", "line 1: expected a JSON object, got list"),
        (b'{"input": "a", "metadata": [1]}\n', "line 1: 'metadata' must be a JSON object"),
        (b'{"input": "a"}\n{"input": "\xff\xfe"}\n', "line 2: not valid UTF-8"),
    ],
)
def test_malformed_jsonl_rows_are_invalid_input(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        _records(data, "jsonl")
    assert caught.value.message.startswith(message)


def test_csv_needs_an_input_column_and_puts_other_columns_in_metadata() -> None:
    data = b'input,expected,lang\n"hello, world",hi,en\nbye,,fr\n'
    assert _records(data, "csv") == [
        ("hello, world", "hi", '{"lang":"en"}'),
        ("bye", None, '{"lang":"fr"}'),
    ]
    with pytest.raises(InvalidInput, match="no 'input' column"):
        _records(b"question,answer\na,b\n", "csv")
    with pytest.raises(InvalidInput, match="line 3: not valid UTF-8"):
        _records(b"input\nok\n\xff\xfe\n", "csv")
    with pytest.raises(InvalidInput, match="line 2: more fields than the header"):
        _records(b"input\na,b\n", "csv")


def test_chat_rows_split_the_final_assistant_turn_into_expected() -> None:
    row = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
        ],
        "id": 7,
    }
    ((input_text, expected, metadata),) = _records(json.dumps(row).encode(), "chat")
    assert json.loads(input_text) == [{"role": "user", "content": "hi"}]
    assert expected == "hello"
    assert metadata == '{"id":7}'
    with pytest.raises(InvalidInput, match="line 1: a chat row needs a non-empty"):
        _records(b'{"input": "x"}\n', "chat")


def test_parquet_needs_an_input_column_and_ignores_stored_hash_columns() -> None:
    sink = io.BytesIO()
    pq.write_table(pa.table({"input": ["a"], "expected": ["b"], "row_hash": ["zz"]}), sink)
    assert _records(sink.getvalue(), "parquet") == [("a", "b", "{}")]
    wrong = io.BytesIO()
    pq.write_table(pa.table({"prompt": ["a"]}), wrong)
    with pytest.raises(InvalidInput, match=r"no 'input' column \(its columns: prompt\)"):
        _records(wrong.getvalue(), "parquet")
    with pytest.raises(InvalidInput, match="not a readable Parquet file"):
        _records(b"not parquet at all", "parquet")


def test_unknown_format_names_the_valid_ones() -> None:
    with pytest.raises(InvalidInput, match="use one of jsonl, csv, parquet, chat") as caught:
        formats.read_records(io.BytesIO(b""), "xml")
    assert caught.value.field == "format"


def test_row_hash_depends_on_every_column() -> None:
    base = formats.row_hash("a", "b", "{}")
    assert base == formats.row_hash("a", "b", "{}")
    assert len(base) == 32
    assert (
        len({base, formats.row_hash("a", None, "{}"), formats.row_hash("a", "b", '{"x":1}')}) == 3
    )


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "chat", "parquet"])
def test_export_then_import_round_trips_every_format(fmt: str) -> None:
    records = [
        ("q1", "a1", '{"k":1}'),
        ("q2 with, comma\nand newline", None, "{}"),
        ("ünïcødé", "✓", '{"nested":{"x":[1,2]}}'),
    ]
    if fmt == "chat":
        # Chat rows keep their messages as the input's JSON; plain text would come back wrapped.
        turns = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
        single = [{"role": "user", "content": "ünï"}]
        records = [
            (formats.canonical_json(turns), "hello", '{"k":1}'),
            (formats.canonical_json(single), None, "{}"),
            (formats.canonical_json(single), "✓", '{"x":[1]}'),
        ]
    stored = io.BytesIO()
    assert formats.write_parquet(formats.batched(records), stored) == 3
    stored.seek(0)
    exported = b"".join(formats.export(stored, fmt))
    assert _records(exported, fmt) == records


def _import_peak(rows: int) -> int:
    data = b"".join(
        b'{"input": "question %d padded to be longer", "expected": "%d"}\n' % (i, i)
        for i in range(rows)
    )
    with tempfile.TemporaryFile() as target:
        stream = io.BytesIO(data)
        tracemalloc.start()
        try:
            records = formats.read_records(stream, "jsonl")
            assert formats.write_parquet(formats.batched(records), target) == rows
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


def test_import_memory_does_not_grow_with_the_row_count() -> None:
    # Rows are parsed BATCH_ROWS at a time: four times the rows, about the same Python peak.
    small, large = _import_peak(2 * formats.BATCH_ROWS), _import_peak(8 * formats.BATCH_ROWS)
    assert large < small * 1.3
