"""Reading and writing dataset rows: JSONL, CSV, Parquet and chat-format JSONL, streamed.

Imports never hold a whole file in Python objects: records are parsed a batch at a time
(``BATCH_ROWS``) into Arrow record batches, which ``write_parquet`` appends to a Parquet file as
row groups. Exports read a version's Parquet one row group at a time and yield encoded bytes.

Every row is stored as ``input`` (text), ``expected`` (text or null), ``metadata`` (JSON text)
plus two hash columns: ``row_hash`` (BLAKE2b of the canonical row) and ``key_hash`` (of ``input``
alone), which is all a diff reads. Non-string ``input``/``expected`` values (objects, lists,
numbers) are stored as their canonical JSON text. User mistakes raise ``InvalidInput`` naming
the line (JSONL, CSV) or the column (Parquet).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from typing import IO, Any

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from podium.data.models import FORMATS, HASH_COLUMNS, ROW_COLUMNS
from podium.errors import InvalidInput

BATCH_ROWS = 8192
MAX_LINE_BYTES = 64 * 1024 * 1024

PARQUET_SCHEMA = pa.schema(
    [
        pa.field("input", pa.string(), nullable=False),
        pa.field("expected", pa.string()),
        pa.field("metadata", pa.string(), nullable=False),
        pa.field("row_hash", pa.string(), nullable=False),
        pa.field("key_hash", pa.string(), nullable=False),
    ]
)
SCHEMA_DESCRIPTION = [
    {"name": "input", "type": "string"},
    {"name": "expected", "type": "string?"},
    {"name": "metadata", "type": "json"},
]

Record = tuple[str, str | None, str]  # input, expected, metadata as canonical JSON


def check_format(fmt: str) -> str:
    """Return ``fmt`` if it is a known format; ``InvalidInput`` naming the valid ones."""
    if fmt not in FORMATS:
        raise InvalidInput(
            f"unknown format {fmt!r}: use one of {', '.join(FORMATS)} (e.g. ?format=jsonl)",
            field="format",
        )
    return fmt


def canonical_json(value: Any) -> str:
    """Compact JSON with sorted keys: the same value always gives the same text."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _hash(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def row_hash(input_text: str, expected: str | None, metadata_json: str) -> str:
    """The hash identifying a row's whole content (hex BLAKE2b-128 of its canonical form)."""
    return _hash(canonical_json([input_text, expected, metadata_json]))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else canonical_json(value)


def record_batch(records: list[Record]) -> pa.RecordBatch:
    """One Arrow batch of ``records`` with their hash columns."""
    inputs = [r[0] for r in records]
    expected = [r[1] for r in records]
    metadata = [r[2] for r in records]
    return pa.record_batch(
        [
            pa.array(inputs, pa.string()),
            pa.array(expected, pa.string()),
            pa.array(metadata, pa.string()),
            pa.array([row_hash(*r) for r in records], pa.string()),
            pa.array([_hash(r[0]) for r in records], pa.string()),
        ],
        schema=PARQUET_SCHEMA,
    )


def batched(records: Iterable[Record]) -> Iterator[pa.RecordBatch]:
    """Group ``records`` into Arrow batches of at most ``BATCH_ROWS`` rows."""
    pending: list[Record] = []
    for record in records:
        pending.append(record)
        if len(pending) >= BATCH_ROWS:
            yield record_batch(pending)
            pending = []
    if pending:
        yield record_batch(pending)


# -- reading ------------------------------------------------------------------------------------


def read_records(stream: IO[bytes], fmt: str) -> Iterator[Record]:
    """Parse ``stream`` in format ``fmt`` into records, lazily; ``InvalidInput`` on bad data."""
    check_format(fmt)
    if fmt == "jsonl":
        return _jsonl(stream, chat=False)
    if fmt == "chat":
        return _jsonl(stream, chat=True)
    if fmt == "csv":
        return _csv(stream)
    return _parquet(stream)


def _record(obj: dict[str, Any], where: str) -> Record:
    if "input" not in obj or obj["input"] is None:
        raise InvalidInput(
            f"{where}: the row has no 'input'; every row needs an \"input\" field "
            '(e.g. {"input": "What is 2+2?", "expected": "4"})',
            field="input",
        )
    metadata = obj.get("metadata")
    if metadata is None:
        metadata = {}
    elif isinstance(metadata, str):
        try:
            metadata = json.loads(metadata) if metadata else {}
        except ValueError:
            raise InvalidInput(
                f"{where}: 'metadata' is not valid JSON; give a JSON object", field="metadata"
            ) from None
    if not isinstance(metadata, dict):
        raise InvalidInput(
            f"{where}: 'metadata' must be a JSON object, not {type(metadata).__name__}",
            field="metadata",
        )
    extra = {k: v for k, v in obj.items() if k not in ROW_COLUMNS and k not in HASH_COLUMNS}
    if extra:
        metadata = {**extra, **metadata}
    expected = obj.get("expected")
    return (
        _text(obj["input"]),
        None if expected is None else _text(expected),
        canonical_json(metadata),
    )


def _chat_record(obj: dict[str, Any], where: str) -> Record:
    messages = obj.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidInput(
            f'{where}: a chat row needs a non-empty "messages" list '
            '(e.g. {"messages": [{"role": "user", "content": "hi"}]})',
            field="messages",
        )
    for message in messages:
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InvalidInput(
                f'{where}: every message needs a "role" and "content"', field="messages"
            )
    expected = None
    prompt = messages
    last = messages[-1]
    if last.get("role") == "assistant" and len(messages) > 1:
        expected = _text(last.get("content"))
        prompt = messages[:-1]
    metadata = obj.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise InvalidInput(f"{where}: 'metadata' must be a JSON object", field="metadata")
    extra = {k: v for k, v in obj.items() if k not in ("messages", "metadata")}
    return canonical_json(prompt), expected, canonical_json({**extra, **metadata})


def _jsonl(stream: IO[bytes], *, chat: bool) -> Iterator[Record]:
    decoder = codecs.getincrementaldecoder("utf-8")()
    for number, raw in enumerate(_lines(stream), start=1):
        try:
            line = decoder.decode(raw, final=True)
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"line {number}: not valid UTF-8 ({exc.reason} at byte {exc.start}); "
                "save the file as UTF-8",
                field="body",
            ) from None
        if not line.strip():
            continue
        try:
            obj = json.loads(line.rstrip("\r\n"))
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f"line {number}: not valid JSON ({exc.msg} at column {exc.colno}); each line "
                "must be one JSON object",
                field="body",
                line=number,
            ) from None
        if not isinstance(obj, dict):
            raise InvalidInput(
                f"line {number}: expected a JSON object, got {type(obj).__name__}",
                field="body",
                line=number,
            )
        where = f"line {number}"
        yield _chat_record(obj, where) if chat else _record(obj, where)


def _lines(stream: IO[bytes]) -> Iterator[bytes]:
    while True:
        line = stream.readline(MAX_LINE_BYTES + 1)
        if not line:
            return
        if len(line) > MAX_LINE_BYTES:
            raise InvalidInput(
                f"a line is longer than {MAX_LINE_BYTES} bytes; split the row", field="body"
            )
        yield line


def _decoded_lines(stream: IO[bytes]) -> Iterator[str]:
    # Decoded line by line (a newline byte never occurs inside a UTF-8 sequence), so an
    # encoding error names its physical line.
    for number, raw in enumerate(_lines(stream), start=1):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"line {number}: not valid UTF-8 ({exc.reason} at byte {exc.start}); "
                "save the file as UTF-8",
                field="body",
            ) from None


def _csv(stream: IO[bytes]) -> Iterator[Record]:
    reader = csv.DictReader(_decoded_lines(stream))
    header = reader.fieldnames
    if not header or "input" not in header:
        raise InvalidInput(
            "the CSV header has no 'input' column; the first line must name the columns, "
            "e.g. input,expected",
            field="input",
        )
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InvalidInput(f"line {reader.line_num}: {exc}", field="body") from None
        if None in row:
            raise InvalidInput(
                f"line {reader.line_num}: more fields than the header has columns", field="body"
            )
        obj: dict[str, Any] = dict(row)
        if obj.get("expected") == "":
            obj["expected"] = None
        yield _record(obj, f"line {reader.line_num}")


def _parquet(stream: IO[bytes]) -> Iterator[Record]:
    try:
        source = pq.ParquetFile(stream)
    except (pa.ArrowException, OSError) as exc:
        raise InvalidInput(f"not a readable Parquet file: {exc}", field="body") from None
    names = source.schema_arrow.names
    if "input" not in names:
        raise InvalidInput(
            f"the Parquet file has no 'input' column (its columns: {', '.join(names)})",
            field="input",
        )
    offset = 0
    try:
        for batch in source.iter_batches(batch_size=BATCH_ROWS):
            for index, obj in enumerate(batch.to_pylist()):
                yield _record(obj, f"row {offset + index + 1}")
            offset += batch.num_rows
    except pa.ArrowException as exc:
        raise InvalidInput(f"the Parquet file cannot be read: {exc}", field="body") from None


# -- writing ------------------------------------------------------------------------------------


def write_parquet(batches: Iterable[pa.RecordBatch], target: IO[bytes]) -> int:
    """Write ``batches`` to ``target`` as one Parquet file; the number of rows written."""
    rows = 0
    with pq.ParquetWriter(target, PARQUET_SCHEMA, compression="zstd") as writer:
        for batch in batches:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows


def iter_rows(source: IO[bytes], columns: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """The rows of a version's Parquet file as dicts, one row group at a time."""
    for batch in pq.ParquetFile(source).iter_batches(batch_size=BATCH_ROWS, columns=columns):
        yield from batch.to_pylist()


def export(source: IO[bytes], fmt: str) -> Iterator[bytes]:
    """Encode a version's Parquet file as ``fmt``, yielding bytes a batch at a time."""
    check_format(fmt)
    if fmt == "parquet":
        # The stored file is already Parquet; importing it back ignores the hash columns.
        while chunk := source.read(1024 * 1024):
            yield chunk
        return
    parquet = pq.ParquetFile(source)
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(ROW_COLUMNS)
        for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=list(ROW_COLUMNS)):
            for row in batch.to_pylist():
                writer.writerow([row["input"], row["expected"] or "", row["metadata"]])
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
        if out.tell():
            yield out.getvalue().encode()
        return
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS, columns=list(ROW_COLUMNS)):
        lines = [_export_line(row, chat=fmt == "chat") for row in batch.to_pylist()]
        yield ("\n".join(lines) + "\n").encode()


def _export_line(row: dict[str, Any], *, chat: bool) -> str:
    metadata = json.loads(row["metadata"])
    if not chat:
        obj: dict[str, Any] = {"input": row["input"]}
        if row["expected"] is not None:
            obj["expected"] = row["expected"]
        obj["metadata"] = metadata
        return json.dumps(obj, ensure_ascii=False)
    try:
        messages = json.loads(row["input"])
    except ValueError:
        messages = None
    if not isinstance(messages, list):
        messages = [{"role": "user", "content": row["input"]}]
    if row["expected"] is not None:
        messages = [*messages, {"role": "assistant", "content": row["expected"]}]
    chat_obj: dict[str, Any] = {"messages": messages}
    if metadata:
        chat_obj["metadata"] = metadata
    return json.dumps(chat_obj, ensure_ascii=False)
