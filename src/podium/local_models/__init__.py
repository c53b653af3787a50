"""Local models on CPU: text generation with continuous batching, and sentence embeddings.

A shared leaf: it imports only ``podium.errors`` and ``podium.settings``; torch and transformers
are imported lazily (``podium[local]``), so importing this package stays cheap.
"""

from podium.local_models.embeddings import Embedder, embed_texts
from podium.local_models.generation import (
    Completion,
    Finished,
    GenerationEngine,
    SamplingParams,
    TextDelta,
)
from podium.local_models.weights import LoadedModel, load_smollm2, tiny_llama

__all__ = [
    "Completion",
    "Embedder",
    "Finished",
    "GenerationEngine",
    "LoadedModel",
    "SamplingParams",
    "TextDelta",
    "embed_texts",
    "load_smollm2",
    "tiny_llama",
]
