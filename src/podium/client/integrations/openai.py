"""Traces every call of the ``openai`` client as a Podium span with ``gen_ai.*`` attributes.

    import openai, podium
    from podium.client.integrations.openai import instrument_openai

    instrument_openai()                      # every client in the process
    instrument_openai(openai.OpenAI())       # or one client (sync or async)

Wrapped: ``chat.completions.create``, ``completions.create`` and ``embeddings.create``, sync and
async, streaming too (the span ends when the stream is consumed or closed). Each call records
the provider, operation, request model and parameters, the input messages (``gen_ai.prompt``),
the output text (``gen_ai.completion``), the response model and finish reasons, and the token
usage, so ingest fills model, tokens and cost. A stream without usage gets its tokens estimated
at ingest. Recording never changes what the call returns or raises.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from podium import errors
from podium.client.tracing import ActiveSpan, current_span

_PARAMS = ("temperature", "top_p", "max_tokens", "max_completion_tokens", "n", "seed", "stop")
_PATCHED = "__podium_original__"
# (module, class, operation) of the methods the global instrumentation patches.
_TARGETS = (
    ("openai.resources.chat.completions", "Completions", "chat"),
    ("openai.resources.chat.completions", "AsyncCompletions", "chat"),
    ("openai.resources.completions", "Completions", "text_completion"),
    ("openai.resources.completions", "AsyncCompletions", "text_completion"),
    ("openai.resources.embeddings", "Embeddings", "embeddings"),
    ("openai.resources.embeddings", "AsyncEmbeddings", "embeddings"),
)


def instrument_openai(client: Any = None) -> None:
    """Trace the calls of ``client`` (an ``OpenAI`` / ``AsyncOpenAI``), or of every client.

    Idempotent. Raises ``MissingExtra`` when the ``openai`` package is not installed.
    """
    if client is not None:
        for resource, operation in (
            (client.chat.completions, "chat"),
            (client.completions, "text_completion"),
            (client.embeddings, "embeddings"),
        ):
            create = resource.create
            if not hasattr(create, _PATCHED):
                resource.create = _wrap(create, operation)
        return
    for cls, operation in _classes():
        create = cls.create
        if not hasattr(create, _PATCHED):
            cls.create = _wrap(create, operation)


def uninstrument_openai() -> None:
    """Undo the global ``instrument_openai()`` (clients instrumented one by one keep theirs)."""
    for cls, _ in _classes():
        original = getattr(cls.create, _PATCHED, None)
        if original is not None:
            cls.create = original


def _classes() -> list[tuple[Any, str]]:
    try:
        import importlib

        return [
            (getattr(importlib.import_module(module), name), operation)
            for module, name, operation in _TARGETS
        ]
    except ModuleNotFoundError as exc:
        raise errors.MissingExtra(
            "tracing the openai client needs the openai package: pip install openai"
        ) from exc


def _wrap(create: Callable[..., Any], operation: str) -> Callable[..., Any]:
    # openai's async methods are plain functions returning a coroutine (a decorator hides the
    # ``async def``), so sync and async are told apart by what the call returns.
    @functools.wraps(create)
    def traced_create(*args: Any, **kwargs: Any) -> Any:
        started = _start(operation, kwargs)
        stream = bool(kwargs.get("stream"))
        try:
            result = create(*args, **kwargs)
        except BaseException as exc:
            started.record_exception(exc)
            started.end()
            raise
        if inspect.isawaitable(result):
            return _finish_async(result, started, operation, stream)
        if stream:
            return _TracedStream(result, started, operation)
        _record_response(started, operation, result)
        started.end()
        return result

    setattr(traced_create, _PATCHED, create)
    return traced_create


async def _finish_async(
    pending: Awaitable[Any], started: ActiveSpan, operation: str, stream: bool
) -> Any:
    try:
        result = await pending
    except BaseException as exc:
        started.record_exception(exc)
        started.end()
        raise
    if stream:
        return _AsyncTracedStream(result, started, operation)
    _record_response(started, operation, result)
    started.end()
    return result


def _start(operation: str, kwargs: dict[str, Any]) -> ActiveSpan:
    model = kwargs.get("model")
    started = ActiveSpan(
        f"{operation} {model}" if model else operation, kind="client", parent=current_span()
    )
    attributes: dict[str, Any] = {
        "gen_ai.system": "openai",
        "gen_ai.provider.name": "openai",
        "gen_ai.operation.name": operation,
    }
    if isinstance(model, str):
        attributes["gen_ai.request.model"] = model
    for name in _PARAMS:
        value = kwargs.get(name)
        if isinstance(value, bool | int | float | str):
            attributes[f"gen_ai.request.{name}"] = value
    if kwargs.get("stream"):
        attributes["gen_ai.request.stream"] = True
    given = kwargs.get("messages", kwargs.get("prompt", kwargs.get("input")))
    if given is not None:
        attributes["gen_ai.prompt"] = given if isinstance(given, str) else _json(given)
    return started.set_attributes(attributes)


def _record_response(started: ActiveSpan, operation: str, response: Any) -> None:
    """Copy the model, output, finish reasons and usage of a whole response onto the span."""
    try:
        model = getattr(response, "model", None)
        if model:
            started.set_attribute("gen_ai.response.model", model)
        response_id = getattr(response, "id", None)
        if response_id:
            started.set_attribute("gen_ai.response.id", response_id)
        if operation == "embeddings":
            data = getattr(response, "data", None) or []
            started.set_attribute("gen_ai.embeddings.count", len(data))
        else:
            choices = getattr(response, "choices", None) or []
            texts = [_choice_text(c, operation) for c in choices]
            if texts:
                started.set_attribute("gen_ai.completion", "\n".join(t for t in texts if t))
            reasons = [c.finish_reason for c in choices if getattr(c, "finish_reason", None)]
            if reasons:
                started.set_attribute("gen_ai.response.finish_reasons", reasons)
        _record_usage(started, getattr(response, "usage", None))
    except Exception as exc:  # an unexpected response shape must not break the application
        started.set_attribute("podium.record_error", repr(exc))


def _record_usage(started: ActiveSpan, usage: Any) -> None:
    if usage is None:
        return
    prompt_tokens = getattr(usage, "prompt_tokens", None)
    completion_tokens = getattr(usage, "completion_tokens", None)
    if isinstance(prompt_tokens, int):
        started.set_attribute("gen_ai.usage.input_tokens", prompt_tokens)
    if isinstance(completion_tokens, int):
        started.set_attribute("gen_ai.usage.output_tokens", completion_tokens)


def _choice_text(choice: Any, operation: str) -> str:
    if operation == "text_completion":
        return str(getattr(choice, "text", "") or "")
    message = getattr(choice, "message", None)
    content = getattr(message, "content", None)
    if content:
        return str(content)
    tool_calls = getattr(message, "tool_calls", None)
    if tool_calls:
        return _json([call.model_dump() for call in tool_calls])
    return ""


class _StreamRecorder:
    """Accumulates a stream's chunks and ends the span once (exhausted, closed or failed)."""

    def __init__(self, started: ActiveSpan, operation: str) -> None:
        self.span = started
        self.operation = operation
        self.parts: list[str] = []
        self.reasons: list[str] = []
        self.done = False

    def chunk(self, chunk: Any) -> None:
        try:
            model = getattr(chunk, "model", None)
            if model:
                self.span.set_attribute("gen_ai.response.model", model)
            for choice in getattr(chunk, "choices", None) or []:
                if self.operation == "text_completion":
                    text = getattr(choice, "text", None)
                else:
                    text = getattr(getattr(choice, "delta", None), "content", None)
                if text and getattr(choice, "index", 0) == 0:
                    self.parts.append(text)
                reason = getattr(choice, "finish_reason", None)
                if reason:
                    self.reasons.append(reason)
            _record_usage(self.span, getattr(chunk, "usage", None))
        except Exception as exc:
            self.span.set_attribute("podium.record_error", repr(exc))

    def finish(self, exc: BaseException | None = None) -> None:
        if self.done:
            return
        self.done = True
        if self.parts:
            self.span.set_attribute("gen_ai.completion", "".join(self.parts))
        if self.reasons:
            self.span.set_attribute("gen_ai.response.finish_reasons", self.reasons)
        if exc is not None:
            self.span.record_exception(exc)
        self.span.end()


class _TracedStream:
    """A sync ``openai.Stream`` that records its chunks; everything else is delegated."""

    def __init__(self, stream: Any, started: ActiveSpan, operation: str) -> None:
        self._stream = stream
        self._recorder = _StreamRecorder(started, operation)

    def __iter__(self) -> Iterator[Any]:
        try:
            for chunk in self._stream:
                self._recorder.chunk(chunk)
                yield chunk
        except Exception as exc:
            self._recorder.finish(exc)
            raise
        finally:
            self._recorder.finish()

    def __next__(self) -> Any:
        try:
            chunk = next(self._stream)
        except StopIteration:
            self._recorder.finish()
            raise
        except Exception as exc:
            self._recorder.finish(exc)
            raise
        self._recorder.chunk(chunk)
        return chunk

    def __enter__(self) -> _TracedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying stream and end the span."""
        try:
            self._stream.close()
        finally:
            self._recorder.finish()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _AsyncTracedStream:
    """An ``openai.AsyncStream`` that records its chunks; everything else is delegated."""

    def __init__(self, stream: Any, started: ActiveSpan, operation: str) -> None:
        self._stream = stream
        self._recorder = _StreamRecorder(started, operation)

    async def __aiter__(self) -> AsyncIterator[Any]:
        try:
            async for chunk in self._stream:
                self._recorder.chunk(chunk)
                yield chunk
        except Exception as exc:
            self._recorder.finish(exc)
            raise
        finally:
            self._recorder.finish()

    async def __anext__(self) -> Any:
        try:
            chunk = await self._stream.__anext__()
        except StopAsyncIteration:
            self._recorder.finish()
            raise
        except Exception as exc:
            self._recorder.finish(exc)
            raise
        self._recorder.chunk(chunk)
        return chunk

    async def __aenter__(self) -> _AsyncTracedStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the underlying stream and end the span."""
        try:
            await self._stream.close()
        finally:
            self._recorder.finish()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _json(value: Any) -> str:
    try:
        return json.dumps(value, default=_plain, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _plain(value: Any) -> Any:
    dump = getattr(value, "model_dump", None)
    return dump() if callable(dump) else repr(value)
