"""Text generation on CPU with continuous batching: ``GenerationEngine``.

One engine owns one causal language model and its tokenizer. Callers submit token ids with their
own ``SamplingParams``; a single background worker thread runs the model. Requests that arrive
while others are decoding join the running batch at the next decode step (continuous batching):
the newcomers are prefilled together with left padding, their key/value cache is left-padded to
the batch's length and concatenated onto it, and rows leave the batch as soon as they finish.
Because keys are cached after the rotary position embedding, each row keeps its own positions
(``position_ids``) and the attention mask hides the padding, so a batched greedy answer equals the
same request decoded alone.

Why one thread: torch already spreads one forward pass over the CPU cores, and one batched step
for eight requests costs little more than a step for one, which is where the speed comes from.

Text is streamed as it is decoded: each step re-decodes the request's tokens and sends only the
new characters, holding back an incomplete multi-byte character (decoded as U+FFFD) and any tail
that could still become a stop string.

torch is imported lazily (``podium[local]``); this module imports without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import random
import threading
import warnings
from collections.abc import AsyncGenerator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from podium.errors import InvalidInput, PodiumError, ServiceUnavailable
from podium.local_models.weights import LoadedModel, require_torch

log = logging.getLogger(__name__)

_REPLACEMENT = "\ufffd"  # what decoding an incomplete UTF-8 sequence yields


@dataclass(frozen=True)
class SamplingParams:
    """How one request is decoded; the defaults are OpenAI's.

    ``temperature`` 0 means greedy decoding. ``seed`` makes sampling repeatable. Raises
    ``InvalidInput`` (naming the field) for out-of-range values.
    """

    max_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise InvalidInput("max_tokens must be at least 1", field="max_tokens")
        if not 0 <= self.temperature <= 2:
            raise InvalidInput("temperature must be between 0 and 2", field="temperature")
        if not 0 < self.top_p <= 1:
            raise InvalidInput("top_p must be greater than 0 and at most 1", field="top_p")
        if len(self.stop) > 4 or any(not s for s in self.stop):
            raise InvalidInput("stop takes up to 4 non-empty strings", field="stop")


@dataclass(frozen=True)
class TextDelta:
    """New text of a streamed answer."""

    text: str


@dataclass(frozen=True)
class Finished:
    """The end of an answer: why it stopped (``stop`` or ``length``) and the token counts."""

    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


GenerationEvent = TextDelta | Finished


@dataclass(frozen=True)
class Completion:
    """A whole answer, as ``GenerationEngine.generate`` returns it."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


@dataclass(eq=False)
class _Sequence:
    """One request's state; touched only by the worker thread (``cancelled`` excepted)."""

    prompt: list[int]
    params: SamplingParams
    emit: Callable[[GenerationEvent | BaseException], None]
    max_new: int
    generated: list[int] = field(default_factory=list)
    sent: int = 0  # characters of decoded text already emitted
    position: int = 0  # position id of the next token fed to the model
    last_token: int = 0
    generator: Any = None  # torch.Generator when sampling
    cancelled: bool = False
    done: bool = False


class GenerationEngine:
    """Serves one causal LM to many concurrent requests from a background worker thread.

    Use ``stream`` (async iterator of ``TextDelta`` then one ``Finished``), ``generate``
    (async, whole answer) or ``generate_sync`` (blocking, for scripts and benchmarks). Build the
    prompt with ``chat_prompt`` or ``encode``. ``close`` stops the worker; requests still running
    then fail with ``ServiceUnavailable``.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        *,
        max_batch: int = 8,
        int8: bool = False,
        threads: int | None = None,
    ) -> None:
        require_torch("Local text generation")
        import torch

        if max_batch < 1:
            raise InvalidInput("max_batch must be at least 1", field="max_batch")
        self.name = loaded.name
        self.int8 = int8
        self.max_batch = max_batch
        self._threads = threads
        if threads:
            torch.set_num_threads(threads)
        model = loaded.model.eval()
        self._model = quantize_int8(model) if int8 else model
        self._tokenizer = loaded.tokenizer
        self._eos = _eos_ids(loaded)
        pad = loaded.tokenizer.pad_token_id
        self._pad_id = int(pad if pad is not None else min(self._eos))
        self.context_length = int(getattr(model.config, "max_position_embeddings", 2048))
        self.vocab_size = int(model.config.vocab_size)
        # One forward pass in the constructing thread before the worker starts. On a busy 2-core
        # machine, decoding on the worker stayed 5-10x slower when the process's first parallel
        # model pass ran there (OpenMP thread pools are per calling thread and spin-wait for
        # busy cores); warming up here first avoided it in our measurements, for the cost of one
        # token. Where cores are shared, PODIUM_LOCAL_THREADS=1 avoids the spinning altogether.
        with torch.inference_mode():
            self._model(input_ids=torch.tensor([[self._pad_id]]), use_cache=False)
        self._queue: queue.SimpleQueue[_Sequence | None] = queue.SimpleQueue()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"podium-gen-{self.name}")
        self._thread.daemon = True
        self._thread.start()

    # -- prompts ----------------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` as a plain completion prompt."""
        return list(self._tokenizer.encode(text))

    def chat_prompt(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """Token ids of ``messages`` ({role, content}) through the model's chat template."""
        if not messages:
            raise InvalidInput("messages must not be empty", field="messages")
        if not getattr(self._tokenizer, "chat_template", None):
            raise InvalidInput(
                f"model {self.name} has no chat template; use /v1/completions", field="model"
            )
        text = self._tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, tokenize=False
        )
        return list(self._tokenizer.encode(text, add_special_tokens=False))

    def count_tokens(self, text: str) -> int:
        """How many tokens ``text`` takes."""
        return len(self.encode(text))

    # -- requests ---------------------------------------------------------------------------

    async def stream(
        self, prompt: Sequence[int], params: SamplingParams | None = None
    ) -> AsyncGenerator[GenerationEvent, None]:
        """Yield ``TextDelta`` events as tokens are decoded, then one ``Finished``.

        Raises ``InvalidInput`` for an empty or too long prompt, ``ServiceUnavailable`` once the
        engine is closed. Leaving the loop early cancels the request.
        """
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[GenerationEvent | BaseException] = asyncio.Queue()

        def emit(event: GenerationEvent | BaseException) -> None:
            loop.call_soon_threadsafe(events.put_nowait, event)

        sequence = self._submit(prompt, params or SamplingParams(), emit)
        try:
            while True:
                event = await events.get()
                if isinstance(event, BaseException):
                    raise event
                yield event
                if isinstance(event, Finished):
                    return
        finally:
            sequence.cancelled = True  # a no-op when it finished; frees the batch row otherwise

    async def generate(
        self, prompt: Sequence[int], params: SamplingParams | None = None
    ) -> Completion:
        """The whole answer to ``prompt`` (same errors as ``stream``)."""
        parts: list[str] = []
        async for event in self.stream(prompt, params):
            if isinstance(event, TextDelta):
                parts.append(event.text)
            else:
                return Completion(
                    "".join(parts),
                    event.finish_reason,
                    event.prompt_tokens,
                    event.completion_tokens,
                )
        raise ServiceUnavailable("local generation ended without an answer")  # pragma: no cover

    def generate_sync(
        self, prompt: Sequence[int], params: SamplingParams | None = None
    ) -> Completion:
        """Blocking ``generate`` for code without an event loop (benchmarks, scripts)."""
        events: queue.SimpleQueue[GenerationEvent | BaseException] = queue.SimpleQueue()
        self._submit(prompt, params or SamplingParams(), events.put)
        parts: list[str] = []
        while True:
            event = events.get()
            if isinstance(event, BaseException):
                raise event
            if isinstance(event, TextDelta):
                parts.append(event.text)
            else:
                return Completion(
                    "".join(parts),
                    event.finish_reason,
                    event.prompt_tokens,
                    event.completion_tokens,
                )

    def close(self, timeout: float = 10.0) -> None:
        """Stop the worker thread; running and queued requests fail with ServiceUnavailable."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._queue.put(None)
        self._thread.join(timeout)

    def _submit(
        self,
        prompt: Sequence[int],
        params: SamplingParams,
        emit: Callable[[GenerationEvent | BaseException], None],
    ) -> _Sequence:
        ids = self.check_prompt(prompt)
        room = self.context_length - len(ids)
        sequence = _Sequence(ids, params, emit, max_new=min(params.max_tokens, room))
        self._queue.put(sequence)
        if self._closed.is_set():  # closed meanwhile: the worker may have drained already
            self._fail([], "has been shut down", queued=True)
        return sequence

    def check_prompt(self, prompt: Sequence[int]) -> list[int]:
        """``prompt`` as a list if this engine can take it now.

        Raises ``InvalidInput`` for an empty, too long or out-of-vocabulary prompt and
        ``ServiceUnavailable`` once the engine is closed: what ``stream`` would raise, but
        callable before a response starts (a streaming server must fail before its first chunk).
        """
        if self._closed.is_set():
            raise ServiceUnavailable(f"the local model {self.name} has been shut down")
        ids = [int(t) for t in prompt]
        if not ids:
            raise InvalidInput("the prompt is empty", field="prompt")
        if min(ids) < 0 or max(ids) >= self.vocab_size:
            raise InvalidInput(
                f"prompt token ids must be between 0 and {self.vocab_size - 1}", field="prompt"
            )
        if len(ids) >= self.context_length:
            raise InvalidInput(
                f"the prompt has {len(ids)} tokens but {self.name} reads at most "
                f"{self.context_length - 1}; shorten it",
                field="prompt",
            )
        return ids

    # -- the worker -------------------------------------------------------------------------

    def _run(self) -> None:
        import torch

        if self._threads:  # intra-op thread count is per calling thread with OpenMP
            torch.set_num_threads(self._threads)
        batch = _Batch()
        while True:
            arrivals, stopping = self._take(batch.size)
            if stopping or self._closed.is_set():  # also when a full batch never reads None
                self._fail(batch.rows + arrivals, "has been shut down", queued=True)
                return
            try:
                with torch.inference_mode():
                    if arrivals:
                        batch.admit(self, arrivals)
                    else:
                        batch.step(self)
            except Exception as exc:  # a model failure must not kill the worker
                log.exception("local generation step failed")
                self._fail(batch.rows + arrivals, f"failed: {exc}")
                batch = _Batch()

    def _take(self, running: int) -> tuple[list[_Sequence], bool]:
        """New requests for the batch: block when idle, else take what is waiting."""
        arrivals: list[_Sequence] = []
        while running + len(arrivals) < self.max_batch:
            try:
                item = self._queue.get(block=running + len(arrivals) == 0)
            except queue.Empty:
                break
            if item is None:
                return arrivals, True
            if not item.cancelled:
                arrivals.append(item)
        return arrivals, False

    def _fail(self, sequences: list[_Sequence], what: str, *, queued: bool = False) -> None:
        """Fail ``sequences`` (each once) and, with ``queued``, every request still waiting."""
        error = ServiceUnavailable(f"the local model {self.name} {what}")
        for sequence in dict.fromkeys(sequences):  # arrivals may already be batch rows
            _safe_emit(sequence, error)
        while queued:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                _safe_emit(item, error)

    def _sample(self, sequences: list[_Sequence], logits: Any) -> list[int]:
        """One next token per row of ``logits`` (batch, vocab), each with its own params."""
        import torch

        greedy = logits.argmax(dim=-1).tolist()
        tokens: list[int] = []
        for row, sequence in enumerate(sequences):
            params = sequence.params
            if params.temperature == 0:
                tokens.append(int(greedy[row]))
                continue
            if sequence.generator is None:
                seed = params.seed if params.seed is not None else random.getrandbits(63)
                sequence.generator = torch.Generator().manual_seed(seed)
            probs = torch.softmax(logits[row].float() / params.temperature, dim=-1)
            if params.top_p < 1:
                ordered, order = torch.sort(probs, descending=True)
                # Keep the smallest prefix whose mass reaches top_p (always the first token).
                drop = ordered.cumsum(-1) - ordered >= params.top_p
                ordered[drop] = 0
                choice = torch.multinomial(ordered, 1, generator=sequence.generator)
                tokens.append(int(order[choice]))
            else:
                tokens.append(int(torch.multinomial(probs, 1, generator=sequence.generator)))
        return tokens

    def _accept(self, sequence: _Sequence, token: int) -> None:
        """Record ``token`` for ``sequence``, emit new text, and finish it when it is done."""
        if token in self._eos:
            self._finish(sequence, "stop")
            return
        sequence.generated.append(token)
        sequence.last_token = token
        text = self._tokenizer.decode(sequence.generated, skip_special_tokens=True)
        stop_at = _find_stop(text, sequence.params.stop)
        if stop_at is not None:
            self._send(sequence, text[: max(stop_at, sequence.sent)])
            self._finish(sequence, "stop")
            return
        if len(sequence.generated) >= sequence.max_new:
            self._send(sequence, text)
            self._finish(sequence, "length")
            return
        self._send(sequence, text[: _safe_end(text, sequence.params.stop)])

    def _send(self, sequence: _Sequence, text: str) -> None:
        if len(text) > sequence.sent:
            _safe_emit(sequence, TextDelta(text[sequence.sent :]))
            sequence.sent = len(text)

    def _finish(self, sequence: _Sequence, reason: str) -> None:
        sequence.done = True
        _safe_emit(sequence, Finished(reason, len(sequence.prompt), len(sequence.generated)))


class _Batch:
    """The running batch: its rows, their shared left-padded KV cache and attention mask."""

    def __init__(self) -> None:
        self.rows: list[_Sequence] = []
        self.cache: Any = None  # transformers DynamicCache, (rows, heads, length, dim) a layer
        self.mask: Any = None  # (rows, length) of 0/1

    @property
    def size(self) -> int:
        return len(self.rows)

    def admit(self, engine: GenerationEngine, arrivals: list[_Sequence]) -> None:
        """Prefill ``arrivals`` together, sample their first tokens, join them to the batch."""
        import torch
        from transformers import DynamicCache

        width = max(len(s.prompt) for s in arrivals)
        ids = torch.tensor(
            [[engine._pad_id] * (width - len(s.prompt)) + s.prompt for s in arrivals]
        )
        mask = torch.tensor([[0] * (width - len(s.prompt)) + [1] * len(s.prompt) for s in arrivals])
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache()
        out = engine._model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        for sequence in arrivals:
            sequence.position = len(sequence.prompt)
        self._merge(out.past_key_values, mask, arrivals)
        self._advance(engine, arrivals, out.logits[:, -1, :])

    def step(self, engine: GenerationEngine) -> None:
        """One decode step for every row."""
        import torch

        self.mask = torch.cat([self.mask, torch.ones((self.size, 1), dtype=self.mask.dtype)], 1)
        out = engine._model(
            input_ids=torch.tensor([[s.last_token] for s in self.rows]),
            attention_mask=self.mask,
            position_ids=torch.tensor([[s.position] for s in self.rows]),
            past_key_values=self.cache,
            use_cache=True,
            logits_to_keep=1,
        )
        self.cache = out.past_key_values
        for sequence in self.rows:
            sequence.position += 1
        self._advance(engine, list(self.rows), out.logits[:, -1, :])

    def _advance(self, engine: GenerationEngine, rows: list[_Sequence], logits: Any) -> None:
        for sequence, token in zip(rows, engine._sample(rows, logits), strict=True):
            if not sequence.cancelled:
                engine._accept(sequence, token)
        self._drop_finished()

    def _merge(self, cache: Any, mask: Any, arrivals: list[_Sequence]) -> None:
        import torch
        from transformers import DynamicCache

        if not self.rows:
            self.rows, self.cache, self.mask = list(arrivals), cache, mask
            return
        length = max(self.mask.shape[1], mask.shape[1])
        layers = []
        for old, new in zip(self.cache.layers, cache.layers, strict=True):
            keys = torch.cat([_pad_left(old.keys, length), _pad_left(new.keys, length)], 0)
            values = torch.cat([_pad_left(old.values, length), _pad_left(new.values, length)], 0)
            layers.append((keys, values))
        self.cache = DynamicCache(ddp_cache_data=layers)
        self.mask = torch.cat([_pad_left(self.mask, length), _pad_left(mask, length)], 0)
        self.rows.extend(arrivals)

    def _drop_finished(self) -> None:
        import torch

        keep = [i for i, s in enumerate(self.rows) if not (s.done or s.cancelled)]
        if len(keep) == len(self.rows):
            return
        if not keep:
            self.rows, self.cache, self.mask = [], None, None
            return
        index = torch.tensor(keep)
        mask = self.mask.index_select(0, index)
        # Columns that are padding in every remaining row carry nothing: cut them off.
        first = int(mask.any(0).nonzero()[0])
        self.mask = mask[:, first:]
        for layer in self.cache.layers:
            layer.keys = layer.keys.index_select(0, index)[:, :, first:]
            layer.values = layer.values.index_select(0, index)[:, :, first:]
        self.rows = [self.rows[i] for i in keep]


def _pad_left(tensor: Any, length: int) -> Any:
    """Zero-pad ``tensor`` on the left of its sequence axis (-2 for KV, -1 for a mask)."""
    import torch.nn.functional as functional

    axis_is_mask = tensor.dim() == 2
    missing = length - tensor.shape[-1 if axis_is_mask else -2]
    if missing == 0:
        return tensor
    return functional.pad(tensor, (missing, 0) if axis_is_mask else (0, 0, missing, 0))


def _find_stop(text: str, stops: tuple[str, ...]) -> int | None:
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    return min(found) if found else None


def _safe_end(text: str, stops: tuple[str, ...]) -> int:
    """How much of ``text`` may be sent: not a partial character, not a possible stop start."""
    end = len(text)
    while end and text[end - 1] == _REPLACEMENT:
        end -= 1
    for stop in stops:
        for size in range(min(len(stop) - 1, end), 0, -1):
            if text[end - size : end] == stop[:size]:
                end -= size
                break
    return end


def _safe_emit(sequence: _Sequence, event: GenerationEvent | BaseException) -> None:
    try:
        sequence.emit(event)
    except RuntimeError:  # the caller's event loop is gone: nobody is listening any more
        sequence.cancelled = True


def _eos_ids(loaded: LoadedModel) -> set[int]:
    ids: set[int] = set()
    for source in (loaded.model.generation_config, loaded.tokenizer):
        value = getattr(source, "eos_token_id", None)
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(int(v) for v in value)
    if not ids:
        raise PodiumError(f"model {loaded.name} declares no end-of-sequence token")
    return ids


def quantize_int8(model: Any) -> Any:
    """``model`` with its Linear layers dynamically quantized to int8 (CPU inference only)."""
    import torch
    from torch.ao import quantization

    with warnings.catch_warnings():
        # torch marks torch.ao.quantization and quantized tensors as deprecated in favour of
        # torchao, which we do not ship; the dynamic int8 path still works and is what we want
        # on CPU, so its deprecation notices (Deprecation/Future/UserWarning) are silenced here.
        warnings.simplefilter("ignore")
        with contextlib.suppress(AttributeError):
            torch.backends.quantized.engine = "fbgemm"
        quantize: Any = quantization.quantize_dynamic  # untyped in torch
        return quantize(model, {torch.nn.Linear}, dtype=torch.qint8)
