"""Content-addressed blob storage: bytes are named by their sha256.

``open_blob_store(url)`` picks the backend by URL scheme (``file://`` or a plain path: a local
folder; ``s3://bucket/prefix``: any S3-compatible store). Writes stream in fixed-size chunks and
reads come back as chunk iterators, so a large file is never held whole in memory.
"""

from podium.store.blobs.base import CHUNK_SIZE, BlobInfo, BlobStore
from podium.store.blobs.factory import open_blob_store

__all__ = ["CHUNK_SIZE", "BlobInfo", "BlobStore", "open_blob_store"]
