"""Artifacts over real HTTP: a 20 MB upload streamed in chunks, hashed, and read back."""

from __future__ import annotations

import hashlib
import io
import os

import httpx
import pytest

from podium.errors import NotFound

CHUNK = 256 * 1024
TOTAL = 20 * 1024 * 1024


def _chunks(seed: bytes):
    # Deterministic, incompressible-looking bytes, produced chunk by chunk (never whole).
    block = hashlib.sha256(seed).digest() * (CHUNK // 32)
    for i in range(TOTAL // CHUNK):
        yield bytes([i % 251]) + block[1:]


@pytest.mark.slow
def test_streamed_20_mb_upload_round_trips(live_server):
    expected = hashlib.sha256()
    for chunk in _chunks(b"podium"):
        expected.update(chunk)
    with httpx.Client(base_url=live_server.url + "/api/v1", timeout=120) as http:
        run_id = http.post("/runs", json={"experiment": "artifacts"}).json()["id"]
        # A generator body goes out with chunked transfer encoding: no Content-Length, and
        # larger than the JSON body limit (16 MiB), which this route is exempt from.
        response = http.put(
            f"/runs/{run_id}/artifacts/content",
            params={"path": "model/weights.bin"},
            content=_chunks(b"podium"),
        )
        assert response.status_code == 201, response.text
        artifact = response.json()
        assert artifact["size"] == TOTAL
        assert artifact["sha256"] == expected.hexdigest()

        downloaded = hashlib.sha256()
        size = 0
        with http.stream(
            "GET", f"/runs/{run_id}/artifacts/content", params={"path": "model/weights.bin"}
        ) as download:
            assert download.status_code == 200
            assert download.headers["content-length"] == str(TOTAL)
            assert download.headers["x-podium-sha256"] == expected.hexdigest()
            for chunk in download.iter_bytes():
                downloaded.update(chunk)
                size += len(chunk)
        assert (size, downloaded.hexdigest()) == (TOTAL, expected.hexdigest())


def test_service_round_trip_and_overwrite(tracking, services):
    run = tracking.create_run()
    data = os.urandom(300_000)
    first = tracking.log_artifact(run.id, "data/blob.bin", io.BytesIO(data))
    assert (first.size, first.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    artifact, chunks = tracking.open_artifact(run.id, "data/blob.bin")
    assert artifact == first
    assert b"".join(chunks) == data
    second = tracking.log_artifact(run.id, "data/blob.bin", io.BytesIO(b"new"))
    assert [a.sha256 for a in tracking.list_artifacts(run.id)] == [second.sha256]
    # Content-addressed: the first blob is still stored (other runs may share it).
    assert services.blobs.exists(first.sha256)
    with pytest.raises(NotFound):
        tracking.open_artifact(run.id, "missing.bin")
    with pytest.raises(NotFound):
        tracking.list_artifacts("nope")
