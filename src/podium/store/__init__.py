"""Storage: the database engine (SQLite/PostgreSQL), migrations and the blob store."""

from podium.store.blobs import BlobInfo, BlobStore, open_blob_store
from podium.store.engine import Database, open_database
from podium.store.metadata import metadata
from podium.store.migrate import upgrade

__all__ = [
    "BlobInfo",
    "BlobStore",
    "Database",
    "metadata",
    "open_blob_store",
    "open_database",
    "upgrade",
]
