"""The SDK's model registry helpers end to end through the in-process app."""

from __future__ import annotations

from pathlib import Path

import pytest

from podium import errors
from podium.client import Client, registry, start_run


def test_register_a_runs_model_and_move_its_alias(tmp_path: Path, client: Client) -> None:
    weights = tmp_path / "weights.bin"
    weights.write_bytes(b"v1 weights")
    with start_run(project="nlp", client=client) as run:
        artifact = run.log_artifact(weights, artifact_path="model")
    first = registry.register_model(
        "summarizer",
        run_id=run.id,
        artifact_path="model/weights.bin",
        project="nlp",
        framework="pytorch",
        metadata={"params": 7_000_000},
        description="first cut",
        model_card="# Summarizer",
        client=client,
    )
    assert first["version"] == 1
    assert first["source_run_id"] == run.id
    assert first["artifact_sha256"] == artifact["sha256"]
    assert first["framework"] == "pytorch"
    assert first["metadata"] == {"params": 7_000_000}
    assert first["model_card"] == "# Summarizer"
    model = client.get("/models/summarizer", project="nlp")
    assert model["description"] == "first cut"  # described by the call that created it

    second = registry.register_model("summarizer", project="nlp", client=client)
    assert second["version"] == 2  # the existing model got a new version

    promoted = registry.set_alias(
        "summarizer", "production", 1, reason="eval passed", project="nlp", client=client
    )
    assert (promoted["alias"], promoted["version"]) == ("production", 1)
    registry.set_alias("summarizer", "production", 2, project="nlp", client=client)
    assert (
        registry.load_version("summarizer", "production", project="nlp", client=client)["version"]
        == 2
    )
    rolled = registry.rollback_alias(
        "summarizer", "production", reason="regression", project="nlp", client=client
    )
    assert rolled["version"] == 1
    by_alias = registry.load_version("summarizer", "production", project="nlp", client=client)
    assert by_alias["version"] == 1
    assert "production" in by_alias["aliases"]
    assert registry.load_version("summarizer", 2, project="nlp", client=client)["version"] == 2
    assert registry.load_version("summarizer", "2", project="nlp", client=client)["version"] == 2


def test_unknown_names_are_not_found(client: Client) -> None:
    registry.register_model("m", client=client)
    with pytest.raises(errors.NotFound):
        registry.load_version("m", "production", client=client)
    with pytest.raises(errors.NotFound):
        registry.load_version("m", 9, client=client)
    with pytest.raises(errors.NotFound):
        registry.set_alias("m", "production", 9, client=client)
    with pytest.raises(errors.NotFound):
        registry.load_version("nope", 1, client=client)
