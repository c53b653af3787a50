"""Blobs in a local folder: ``<root>/<aa>/<bb>/<sha256>``, written atomically."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from podium.errors import NotFound
from podium.store.blobs.base import CHUNK_SIZE, BlobInfo, check_sha256, spool_and_hash


class LocalBlobStore:
    """A content-addressed folder; a blob is visible only once it is complete and synced."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = root.as_uri()
        self._incoming = root / "incoming"
        self._incoming.mkdir(parents=True, exist_ok=True)

    def _path(self, sha256: str) -> Path:
        check_sha256(sha256)
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, stream: IO[bytes]) -> BlobInfo:
        """Stream into a temporary file, then rename it to its hash (atomic)."""
        fd, tmp_name = tempfile.mkstemp(dir=self._incoming)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                info = spool_and_hash(stream, handle)
                os.fsync(handle.fileno())
            final = self._path(info.sha256)
            if final.exists():
                tmp.unlink()
            else:
                final.parent.mkdir(parents=True, exist_ok=True)
                tmp.replace(final)
            return info
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def open(self, sha256: str) -> Iterator[bytes]:
        """Yield the blob in chunks."""
        path = self._path(sha256)
        try:
            handle = path.open("rb")
        except FileNotFoundError:
            raise NotFound(f"blob {sha256} is not in the blob store at {self.url}") from None
        return _read_chunks(handle)

    def exists(self, sha256: str) -> bool:
        """Whether the blob is stored."""
        return self._path(sha256).is_file()

    def delete(self, sha256: str) -> None:
        """Remove the blob if present."""
        self._path(sha256).unlink(missing_ok=True)


def _read_chunks(handle: IO[bytes]) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(CHUNK_SIZE):
            yield chunk
