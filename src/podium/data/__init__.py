"""Data management: datasets per project with immutable, content-addressed versions.

A version's rows live as Parquet in the blob store (its sha256 is the version's content id),
with a per-row hash column so two versions are diffed by reading hashes only. The server side
lives in the submodules (``podium.data.service``, ``.routes``, ``.cli``); the SDK helpers in
``podium.client.data``.
"""
