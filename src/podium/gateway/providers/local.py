"""The ``local`` provider: the in-process CPU model (SmolLM2) and embeddings (all-MiniLM-L6-v2).

It turns OpenAI-shaped requests into calls on ``podium.local_models`` and builds OpenAI's reply
shapes: ``chat.completion`` / ``chat.completion.chunk`` (a first chunk with the assistant role,
content deltas, a chunk with ``finish_reason``, and a usage chunk with empty ``choices`` when
``stream_options.include_usage`` asks for it), ``text_completion`` (every streamed chunk carries
``text``, the last one too), and the embeddings ``list`` (``float`` or ``base64`` encoding, as
the openai SDK asks for by default).

Models load lazily, off the event loop, on the first request that needs them: a gateway whose
routes only use embeddings never loads the language model, and the server starts at once.

Request mistakes (wrong types, unsupported options, an unknown model) become non-retryable
``ProviderError`` with status 400/404; a missing ``podium[local]`` becomes 501 naming the fix.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import contextlib
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from typing import Any, TypeVar

from podium.errors import InvalidInput, MissingExtra, PodiumError, ServiceUnavailable
from podium.gateway.providers.base import JSONObject, ProviderError, ProviderModel
from podium.local_models.embeddings import MINILM_NAME, Embedder
from podium.local_models.generation import (
    Completion,
    GenerationEngine,
    SamplingParams,
    TextDelta,
)
from podium.local_models.weights import SMOLLM2_NAME, LoadedModel, load_smollm2
from podium.settings import Settings

T = TypeVar("T")

DEFAULT_MAX_TOKENS = 256  # OpenAI's "until the context ends" is minutes on a CPU
MAX_CHOICES = 8
MAX_EMBED_INPUTS = 2048
MAX_ARTIFACT_ENGINES = 2  # registry models kept loaded at once (each holds its weights)
_ROLES = {"system", "user", "assistant", "tool", "developer"}


class LocalProvider:
    """Serves the local language model and the local embedding model behind the gateway.

    ``LocalProvider(settings)`` loads SmolLM2 and all-MiniLM-L6-v2 on first use, configured by
    ``settings`` (model cache, int8, threads, batch size). Pass ``engine`` and/or ``embedder`` to
    serve already built ones instead (tests use a tiny random model this way).
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        engine: GenerationEngine | None = None,
        embedder: Embedder | None = None,
        name: str = "local",
    ) -> None:
        self.name = name
        # Defaults without reading the environment: only entry points build Settings from it.
        self._settings = settings if settings is not None else Settings.model_construct()
        self._engine = engine
        self._embedder = embedder
        self._owns_engine = engine is None
        self.chat_model = engine.name if engine is not None else SMOLLM2_NAME
        self.embedding_model = embedder.name if embedder is not None else MINILM_NAME
        self._load_lock = threading.Lock()
        # Registry versions served from their artifacts: name -> loader, and the engines
        # loaded so far (least recently used first; at most MAX_ARTIFACT_ENGINES stay loaded).
        self._artifact_loaders: dict[str, Callable[[], LoadedModel]] = {}
        self._artifact_engines: collections.OrderedDict[str, GenerationEngine] = (
            collections.OrderedDict()
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalProvider:
        """The provider for ``settings`` (models load on first use)."""
        return cls(settings)

    # -- Provider ---------------------------------------------------------------------------

    async def chat(self, request: JSONObject) -> JSONObject:
        """A ``chat.completion`` object (``n`` choices, decoded concurrently)."""
        engine = await self._generation(request)
        with _mapped():
            prompt = engine.chat_prompt(_messages(request))
        params, n = _sampling(request)
        answers = await _gather(engine, prompt, params, n)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.chat_model,
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": answer.text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": answer.finish_reason,
                }
                for i, answer in enumerate(answers)
            ],
            "usage": _usage(answers),
            "system_fingerprint": None,
        }

    async def stream_chat(self, request: JSONObject) -> AsyncIterator[JSONObject]:
        """``chat.completion.chunk`` objects: role, content deltas, finish, optional usage."""
        engine = await self._generation(request)
        with _mapped():
            prompt = engine.chat_prompt(_messages(request))
        params, n = _sampling(request)
        _single_stream(n)
        base = {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": self.chat_model,
            "system_fingerprint": None,
        }

        def chunk(delta: JSONObject, finish: str | None = None) -> JSONObject:
            choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
            return {**base, "choices": [choice]}

        with _mapped():  # request errors must surface before the first chunk
            engine.check_prompt(prompt)
        yield chunk({"role": "assistant", "content": ""})
        async for event, usage in _events(engine, prompt, params):
            if isinstance(event, TextDelta):
                yield chunk({"content": event.text})
            else:
                yield chunk({}, event.finish_reason)
                if _include_usage(request):
                    yield {**base, "choices": [], "usage": usage}

    async def complete(self, request: JSONObject) -> JSONObject:
        """A ``text_completion`` object: one choice per prompt and per ``n``."""
        engine = await self._generation(request)
        params, n = _sampling(request)
        _no_extras(request, ("echo", "logprobs", "suffix", "best_of"))
        prompts = _prompts(engine, request)
        if len(prompts) * n > MAX_CHOICES:
            raise _invalid(f"at most {MAX_CHOICES} completions (prompts x n) per request", "n")
        answers: list[Completion] = []
        for group in await asyncio.gather(*(_gather(engine, p, params, n) for p in prompts)):
            answers.extend(group)
        return {
            "id": f"cmpl-{uuid.uuid4().hex[:24]}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": self.chat_model,
            "choices": [
                {"text": a.text, "index": i, "logprobs": None, "finish_reason": a.finish_reason}
                for i, a in enumerate(answers)
            ],
            "usage": _usage(answers),
        }

    async def stream_complete(self, request: JSONObject) -> AsyncIterator[JSONObject]:
        """``text_completion`` chunks; the last carries ``finish_reason`` (and ``text`` "")."""
        engine = await self._generation(request)
        params, n = _sampling(request)
        _no_extras(request, ("echo", "logprobs", "suffix", "best_of"))
        _single_stream(n)
        prompts = _prompts(engine, request)
        if len(prompts) != 1:
            raise _invalid("a streamed completion takes one prompt", "prompt")
        base = {
            "id": f"cmpl-{uuid.uuid4().hex[:24]}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": self.chat_model,
        }

        def chunk(text: str, finish: str | None = None) -> JSONObject:
            choice = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish}
            return {**base, "choices": [choice]}

        with _mapped():  # request errors must surface before the first chunk
            engine.check_prompt(prompts[0])
        async for event, usage in _events(engine, prompts[0], params):
            if isinstance(event, TextDelta):
                yield chunk(event.text)
            else:
                yield chunk("", event.finish_reason)
                if _include_usage(request):
                    yield {**base, "choices": [], "usage": usage}

    async def embed(self, request: JSONObject) -> JSONObject:
        """An embeddings ``list`` object; ``encoding_format`` ``float`` or ``base64``."""
        model = request.get("model")
        if model != self.embedding_model:
            raise _unknown_model(model, self.embedding_model)
        texts = request.get("input")
        if isinstance(texts, str):
            texts = [texts]
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            raise _invalid("'input' must be a string or a non-empty list of strings", "input")
        if len(texts) > MAX_EMBED_INPUTS:
            raise _invalid(f"at most {MAX_EMBED_INPUTS} inputs per request", "input")
        encoding = request.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            raise _invalid("'encoding_format' must be 'float' or 'base64'", "encoding_format")
        embedder = await self._embeddings()
        dimensions = request.get("dimensions")
        if dimensions is not None and dimensions != embedder.dimensions:
            raise _invalid(
                f"{self.embedding_model} has {embedder.dimensions} dimensions; omit 'dimensions'",
                "dimensions",
            )
        vectors = await _off_loop(lambda: embedder.embed(texts))
        tokens = await _off_loop(lambda: embedder.count_tokens(texts))
        data: list[JSONObject] = []
        for i, vector in enumerate(vectors):
            embedding: Any = (
                base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
                if encoding == "base64"
                else [float(x) for x in vector]
            )
            data.append({"object": "embedding", "index": i, "embedding": embedding})
        return {
            "object": "list",
            "data": data,
            "model": self.embedding_model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    async def models(self) -> list[ProviderModel]:
        """The chat/completions model and the embedding model."""
        return [
            ProviderModel(self.chat_model, "podium-local"),
            ProviderModel(self.embedding_model, "podium-local"),
        ]

    async def aclose(self) -> None:
        """Stop the generation worker (in-flight requests fail with 503)."""
        await asyncio.to_thread(self.close_sync)

    def close_sync(self) -> None:
        """``aclose`` for callers outside an event loop."""
        while self._artifact_engines:
            self._artifact_engines.popitem()[1].close()
        engine = self._engine
        if engine is not None and self._owns_engine:
            engine.close()
            self._engine = None

    # -- lazy loading -----------------------------------------------------------------------

    def warm_up(self, models: Iterable[str]) -> None:
        """Load the named models now (blocking), so requests for them do not wait."""
        for model in set(models):
            if model == self.chat_model:
                self._load_engine()
            elif model == self.embedding_model:
                self._load_embedder()

    def add_artifact_model(self, name: str, load: Callable[[], LoadedModel]) -> None:
        """Serve ``name`` with the model ``load`` returns (called once, off the event loop).

        The gateway registers registry versions whose artifact is a model folder this way.
        """
        self._artifact_loaders.setdefault(name, load)

    async def _generation(self, request: JSONObject) -> GenerationEngine:
        model = request.get("model")
        if isinstance(model, str) and model in self._artifact_loaders:
            return await _off_loop(lambda: self._artifact_engine(model))
        if model != self.chat_model:
            raise _unknown_model(model, self.chat_model)
        if self._engine is None:
            await _off_loop(self._load_engine)
        assert self._engine is not None  # set by _load_engine or it raised
        return self._engine

    def _artifact_engine(self, name: str) -> GenerationEngine:
        with self._load_lock:
            engine = self._artifact_engines.get(name)
            if engine is None:
                settings = self._settings
                engine = GenerationEngine(
                    self._artifact_loaders[name](),
                    max_batch=settings.local_max_batch,
                    int8=settings.local_int8,
                    threads=settings.local_threads or None,
                )
                self._artifact_engines[name] = engine
                while len(self._artifact_engines) > MAX_ARTIFACT_ENGINES:
                    _, evicted = self._artifact_engines.popitem(last=False)
                    evicted.close()
            self._artifact_engines.move_to_end(name)
            return engine

    def _load_engine(self) -> None:
        with self._load_lock:
            if self._engine is None:
                settings = self._settings
                self._engine = GenerationEngine(
                    load_smollm2(settings.model_cache),
                    max_batch=settings.local_max_batch,
                    int8=settings.local_int8,
                    threads=settings.local_threads or None,
                )

    async def _embeddings(self) -> Embedder:
        if self._embedder is None:
            await _off_loop(self._load_embedder)
        assert self._embedder is not None
        return self._embedder

    def _load_embedder(self) -> None:
        with self._load_lock:
            if self._embedder is None:
                self._embedder = Embedder()


# -- request parsing --------------------------------------------------------------------------


def _invalid(message: str, param: str) -> ProviderError:
    return ProviderError(
        f"{message} (param: {param})", status=400, kind="invalid_request_error", retryable=False
    )


def _unknown_model(model: object, served: str) -> ProviderError:
    return ProviderError(
        f"the local provider serves {served!r}, not {model!r}; set the deployment's model to "
        f"{served!r}",
        status=404,
        kind="invalid_request_error",
        retryable=False,
    )


@contextlib.contextmanager
def _mapped() -> Iterator[None]:
    """Turn Podium errors raised by the local models into ``ProviderError``."""
    try:
        yield
    except InvalidInput as exc:
        raise _invalid(exc.message, exc.field or "request") from exc
    except MissingExtra as exc:
        raise ProviderError(exc.message, status=501, retryable=False) from exc
    except ServiceUnavailable as exc:
        raise ProviderError(exc.message, status=503, kind="service_unavailable") from exc
    except PodiumError as exc:
        raise ProviderError(exc.message, status=500) from exc


async def _off_loop(work: Callable[[], T]) -> T:
    """Run blocking model work in a thread, mapping its errors."""
    with _mapped():
        return await asyncio.to_thread(work)


def _number(request: JSONObject, key: str, default: float) -> float:
    value = request.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"'{key}' must be a number", key)
    return float(value)


def _integer(request: JSONObject, key: str) -> int | None:
    value = request.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise _invalid(f"'{key}' must be an integer", key)
    return value


def _sampling(request: JSONObject) -> tuple[SamplingParams, int]:
    """The request's sampling parameters and ``n``."""
    max_tokens = _integer(request, "max_completion_tokens") or _integer(request, "max_tokens")
    stop = request.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise _invalid("'stop' must be a string or a list of strings", "stop")
    n = _integer(request, "n") or 1
    if not 1 <= n <= MAX_CHOICES:
        raise _invalid(f"'n' must be between 1 and {MAX_CHOICES}", "n")
    with _mapped():
        params = SamplingParams(
            max_tokens=max_tokens if max_tokens is not None else DEFAULT_MAX_TOKENS,
            temperature=_number(request, "temperature", 1.0),
            top_p=_number(request, "top_p", 1.0),
            stop=tuple(stop or ()),
            seed=_integer(request, "seed"),
        )
    return params, n


def _messages(request: JSONObject) -> list[dict[str, str]]:
    """``messages`` as {role, content} with text content (text parts joined)."""
    _no_extras(request, ("tools", "functions", "logprobs"))
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("'messages' must be a non-empty list", "messages")
    out: list[dict[str, str]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict) or message.get("role") not in _ROLES:
            raise _invalid(f"{where} needs a 'role' among {sorted(_ROLES)}", where)
        content = message.get("content")
        if isinstance(content, list):
            if not all(isinstance(p, dict) and p.get("type") == "text" for p in content):
                raise _invalid(f"{where}: the local model reads text parts only", where)
            content = "".join(str(p.get("text", "")) for p in content)
        if content is None:
            content = ""
        if not isinstance(content, str):
            raise _invalid(f"{where}.content must be a string or a list of text parts", where)
        role = "system" if message["role"] == "developer" else message["role"]
        out.append({"role": role, "content": content})
    return out


def _prompts(engine: GenerationEngine, request: JSONObject) -> list[list[int]]:
    """Token ids of each prompt: a string, a list of strings, or a list of token ids."""
    prompt = request.get("prompt")
    if isinstance(prompt, str):
        return [engine.encode(prompt)]
    if isinstance(prompt, list) and prompt:
        if all(isinstance(p, str) for p in prompt):
            return [engine.encode(p) for p in prompt]
        if all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
            return [list(prompt)]
    raise _invalid("'prompt' must be a string, a list of strings or a list of token ids", "prompt")


def _no_extras(request: JSONObject, keys: tuple[str, ...]) -> None:
    for key in keys:
        value = request.get(key)
        # The defaults OpenAI clients send explicitly are fine (best_of=1, echo=false …).
        harmless = (
            value is None or value is False or value == [] or (key == "best_of" and value == 1)
        )
        if not harmless:
            raise _invalid(f"the local provider does not support '{key}'; leave it out", key)


def _single_stream(n: int) -> None:
    if n != 1:
        raise _invalid("a streamed answer takes n=1", "n")


def _include_usage(request: JSONObject) -> bool:
    options = request.get("stream_options")
    return isinstance(options, dict) and bool(options.get("include_usage"))


def _usage(answers: list[Completion]) -> JSONObject:
    prompt = sum(a.prompt_tokens for a in answers)
    completion = sum(a.completion_tokens for a in answers)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


async def _gather(
    engine: GenerationEngine, prompt: list[int], params: SamplingParams, n: int
) -> list[Completion]:
    with _mapped():
        if n == 1:
            return [await engine.generate(prompt, params)]
        # Distinct seeds per choice, or the n answers of a seeded request would be identical.
        variants = [
            params
            if params.seed is None
            else SamplingParams(
                params.max_tokens, params.temperature, params.top_p, params.stop, params.seed + i
            )
            for i in range(n)
        ]
        return list(await asyncio.gather(*(engine.generate(prompt, p) for p in variants)))


async def _events(
    engine: GenerationEngine, prompt: list[int], params: SamplingParams
) -> AsyncIterator[tuple[Any, JSONObject]]:
    """The engine's events for one request, each with the usage so far (final on Finished)."""
    with _mapped():
        async with contextlib.aclosing(engine.stream(prompt, params)) as events:
            async for event in events:
                usage: JSONObject = {}
                if not isinstance(event, TextDelta):
                    usage = _usage(
                        [
                            Completion(
                                "",
                                event.finish_reason,
                                event.prompt_tokens,
                                event.completion_tokens,
                            )
                        ]
                    )
                yield event, usage
