"""Blobs in any S3-compatible store under ``s3://bucket/prefix``.

The sha256 is only known once the whole stream is read, so an upload is first spooled to a
temporary file (on disk beyond a few MiB, never wholly in memory) and then sent with a multipart
upload under its hash key. Reads stream the object body in chunks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

from podium.errors import MissingExtra, NotFound, ServiceUnavailable
from podium.store.blobs.base import CHUNK_SIZE, BlobInfo, check_sha256, spooled_copy

_PART_SIZE = 8 * CHUNK_SIZE


class S3BlobStore:
    """A content-addressed prefix in an S3 bucket."""

    def __init__(self, bucket: str, prefix: str, endpoint_url: str | None = None) -> None:
        try:
            import boto3
            from botocore.config import Config
        except ModuleNotFoundError as exc:
            raise MissingExtra.for_feature("S3 artifact storage", "s3") from exc
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            config=Config(retries={"max_attempts": 5, "mode": "standard"}),
        )

    def _key(self, sha256: str) -> str:
        check_sha256(sha256)
        name = f"{sha256[:2]}/{sha256[2:4]}/{sha256}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def put(self, stream: IO[bytes]) -> BlobInfo:
        """Spool and hash, then upload under the hash unless it is already there."""
        spool, info = spooled_copy(stream)
        with spool:
            if not self.exists(info.sha256):
                self._upload(spool, self._key(info.sha256), info.size)
        return info

    def _upload(self, spool: IO[bytes], key: str, size: int) -> None:
        # A hand-rolled multipart upload holds one part in memory at a time; boto3's managed
        # transfer reads ahead and held the whole 64 MiB test file in memory.
        if size <= _PART_SIZE:
            self._call(self._client.put_object, Bucket=self.bucket, Key=key, Body=spool.read())
            return
        upload = self._call(self._client.create_multipart_upload, Bucket=self.bucket, Key=key)
        upload_id = upload["UploadId"]
        parts = []
        try:
            number = 1
            while part := spool.read(_PART_SIZE):
                etag = self._call(
                    self._client.upload_part,
                    Bucket=self.bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=part,
                )["ETag"]
                parts.append({"ETag": etag, "PartNumber": number})
                number += 1
            self._call(
                self._client.complete_multipart_upload,
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            self._client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
            raise

    def open(self, sha256: str) -> Iterator[bytes]:
        """Yield the object body in chunks."""
        from botocore.exceptions import ClientError

        key = self._key(sha256)
        try:
            body = self._call(self._client.get_object, Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                raise NotFound(f"blob {sha256} is not in the blob store at {self.url}") from None
            raise ServiceUnavailable(f"S3 error reading {self.url}: {exc}") from exc
        return _iter_body(body["Body"])

    def exists(self, sha256: str) -> bool:
        """Whether the object exists (a HEAD request)."""
        from botocore.exceptions import ClientError

        key = self._key(sha256)
        try:
            self._call(self._client.head_object, Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise ServiceUnavailable(f"S3 error at {self.url}: {exc}") from exc
        return True

    def delete(self, sha256: str) -> None:
        """Delete the object (S3 deletes are idempotent)."""
        self._call(self._client.delete_object, Bucket=self.bucket, Key=self._key(sha256))

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return fn(*args, **kwargs)
        except ClientError:
            raise
        except BotoCoreError as exc:
            raise ServiceUnavailable(f"S3 store at {self.url} unreachable: {exc}") from exc


def _iter_body(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK_SIZE)
    finally:
        body.close()
