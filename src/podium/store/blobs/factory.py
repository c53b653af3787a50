"""Chooses the blob store backend from its URL scheme."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from podium.errors import InvalidInput
from podium.store.blobs.base import BlobStore
from podium.store.blobs.local import LocalBlobStore

VALID_SCHEMES = ("file://", "s3://")


def open_blob_store(url: str, *, s3_endpoint_url: str | None = None) -> BlobStore:
    """Open the blob store at ``url``; raises ``InvalidInput`` listing valid schemes otherwise."""
    parsed = urlparse(url)
    if parsed.scheme in ("", "file"):
        path = unquote(parsed.path) if parsed.scheme == "file" else url
        return LocalBlobStore(Path(path).expanduser())
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise InvalidInput(
                f"artifacts URL {url!r} names no bucket; use s3://bucket/prefix",
                field="artifacts_url",
            )
        from podium.store.blobs.s3 import S3BlobStore  # boto3 is an optional extra

        return S3BlobStore(parsed.netloc, parsed.path, endpoint_url=s3_endpoint_url)
    raise InvalidInput(
        f"unsupported artifacts URL scheme {parsed.scheme!r} in {url!r}; valid schemes: "
        + ", ".join(VALID_SCHEMES),
        field="artifacts_url",
    )
