"""The blob store contract, on the local folder and on a real S3-compatible server."""

from __future__ import annotations

import hashlib
import io
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from podium.errors import InvalidInput, NotFound
from podium.store.blobs import BlobStore, open_blob_store
from tests.support.s3 import S3Server


@pytest.fixture(params=["local", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return open_blob_store((tmp_path / "blobs").as_uri())
    server: S3Server = request.getfixturevalue("s3_server")
    bucket = f"podium-{uuid.uuid4().hex[:8]}"
    server.create_bucket(bucket)
    return open_blob_store(f"s3://{bucket}/artifacts", s3_endpoint_url=server.endpoint)


def test_put_returns_sha256_and_size_and_reads_back(blobs: BlobStore) -> None:
    data = b"hello podium\n" * 1000
    info = blobs.put(io.BytesIO(data))
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.size == len(data)
    assert blobs.exists(info.sha256)
    assert b"".join(blobs.open(info.sha256)) == data


def test_same_content_is_stored_once(blobs: BlobStore) -> None:
    first = blobs.put(io.BytesIO(b"same"))
    second = blobs.put(io.BytesIO(b"same"))
    assert first == second


def test_empty_blob(blobs: BlobStore) -> None:
    info = blobs.put(io.BytesIO(b""))
    assert info.size == 0
    assert b"".join(blobs.open(info.sha256)) == b""


def test_unknown_blob_is_not_found(blobs: BlobStore) -> None:
    missing = "0" * 64
    assert not blobs.exists(missing)
    with pytest.raises(NotFound, match="not in the blob store"):
        b"".join(blobs.open(missing))


def test_malformed_digest_is_invalid_input(blobs: BlobStore) -> None:
    with pytest.raises(InvalidInput, match="not a sha256"):
        blobs.exists("../../etc/passwd")


def test_delete(blobs: BlobStore) -> None:
    info = blobs.put(io.BytesIO(b"bye"))
    blobs.delete(info.sha256)
    assert not blobs.exists(info.sha256)
    blobs.delete(info.sha256)  # idempotent


class _Generated(io.RawIOBase):
    """A readable stream of ``size`` pseudo-random bytes that never exists whole in memory."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.digest = hashlib.sha256()
        self.counter = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.remaining)
        if n == 0:
            return 0
        block = hashlib.sha512(self.counter.to_bytes(8, "big")).digest() * (n // 64 + 1)
        self.counter += 1
        buffer[:n] = block[:n]
        self.digest.update(block[:n])
        self.remaining -= n
        return n


def _consume(chunks: Iterator[bytes]) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def test_large_blob_streams_with_bounded_memory(blobs: BlobStore) -> None:
    size = 64 * 1024 * 1024
    source = _Generated(size)
    tracemalloc.start()
    try:
        info = blobs.put(io.BufferedReader(source, buffer_size=1024 * 1024))
        sha, read_size = _consume(blobs.open(info.sha256))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert info.size == size == read_size
    assert info.sha256 == source.digest.hexdigest() == sha
    # Chunks are 1 MiB and spools go to disk past 8 MiB: far below the 64 MiB blob.
    assert peak < 24 * 1024 * 1024, f"peak traced memory {peak / 2**20:.1f} MiB"


def test_unknown_scheme_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"valid schemes: file://, s3://"):
        open_blob_store("gs://bucket/x")


def test_s3_url_without_bucket_is_rejected() -> None:
    with pytest.raises(InvalidInput, match="names no bucket"):
        open_blob_store("s3:///prefix")
