"""The blob store contract every backend implements."""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Protocol

from podium.errors import InvalidInput

CHUNK_SIZE = 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class BlobInfo:
    """What a stored blob is: its sha256 and its size in bytes."""

    sha256: str
    size: int


class BlobStore(Protocol):
    """Stores bytes under their sha256; writing the same content twice stores it once."""

    url: str

    def put(self, stream: IO[bytes]) -> BlobInfo:
        """Store everything read from ``stream``; return its sha256 and size."""
        ...

    def open(self, sha256: str) -> Iterator[bytes]:
        """Yield the blob's bytes in chunks; raises ``NotFound`` if it is not stored."""
        ...

    def exists(self, sha256: str) -> bool:
        """Whether a blob with this sha256 is stored."""
        ...

    def delete(self, sha256: str) -> None:
        """Remove a blob (a no-op when it is not there)."""
        ...


def check_sha256(sha256: str) -> str:
    """Return ``sha256`` if it is 64 lowercase hex digits; raise ``InvalidInput`` otherwise."""
    if not _SHA256.match(sha256):
        raise InvalidInput(f"not a sha256 digest: {sha256!r}", field="sha256")
    return sha256


def spool_and_hash(stream: IO[bytes], target: IO[bytes]) -> BlobInfo:
    """Copy ``stream`` into ``target`` chunk by chunk, hashing as it goes."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK_SIZE):
        digest.update(chunk)
        target.write(chunk)
        size += len(chunk)
    target.flush()
    return BlobInfo(digest.hexdigest(), size)


def spooled_copy(stream: IO[bytes], directory: str | None = None) -> tuple[IO[bytes], BlobInfo]:
    """Spool ``stream`` to a temp file (on disk past 8 MiB); return it rewound with its info."""
    spool = tempfile.SpooledTemporaryFile(max_size=8 * CHUNK_SIZE, dir=directory)  # noqa: SIM115
    info = spool_and_hash(stream, spool)
    spool.seek(0)
    return spool, info


__all__ = ["CHUNK_SIZE", "BlobInfo", "BlobStore", "check_sha256", "spool_and_hash", "spooled_copy"]
