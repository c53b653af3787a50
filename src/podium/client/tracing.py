"""The tracing SDK: ``@observe``, ``span(...)``, ``trace(...)`` and the exporter they feed.

    import podium

    @podium.observe
    def answer(question: str) -> str:
        with podium.span("retrieve", kind="internal") as s:
            s.set_output(["doc-1", "doc-2"])
        return "42"

    with podium.trace("request", session_id="s-1", user_id="alice", tags=["beta"]):
        answer("what is six times seven?")

Spans nest through a ``contextvars`` variable, so a span started inside another (in the same
thread, or in an asyncio task created under it) gets its parent and trace id. When a span ends
it is handed to the process's ``SpanExporter`` (``_span_exporter``), which sends OTLP protobuf
to ``PODIUM_URL``'s ``/otlp/v1/traces`` (Bearer ``PODIUM_API_KEY``) or, with no URL, to the
app in-process, from a background thread. Nothing here does I/O on the caller's thread or lets
an exporter problem reach the application.

The attributes written are the ones ingest maps: ``input.value`` / ``output.value``,
``gen_ai.request.model`` and ``gen_ai.usage.*``, ``session.id``, ``user.id``,
``podium.prompt.name`` / ``podium.prompt.version`` and ``podium.tags``.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import json
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar, overload

from podium import errors

if TYPE_CHECKING:
    from podium.client._span_exporter import ExporterStats, FinishedSpan, Sender, SpanExporter
    from podium.client.api import Client

F = TypeVar("F", bound=Callable[..., Any])

MAX_VALUE_CHARS = 16_000  # input/output values are cut here before they are queued
MAX_GENERATOR_ITEMS = 100  # a generator's output records at most this many items
PROJECT_HEADER = "X-Podium-Project"
KINDS = ("internal", "server", "client", "producer", "consumer")


@dataclass
class _TraceState:
    """Trace-level attributes, shared by every span of one trace started in this process."""

    session_id: str | None = None
    user_id: str | None = None
    tags: set[str] = field(default_factory=set)


_current: contextvars.ContextVar[ActiveSpan | None] = contextvars.ContextVar(
    "podium_current_span", default=None
)


class ActiveSpan:
    """A span being recorded; ``with podium.span(...) as s`` gives one.

    Setters may be called until the span ends; each returns ``self`` so calls can be chained.
    The span ends when its ``with`` block (or observed function) exits, or on ``end()``.
    """

    def __init__(
        self,
        name: str,
        *,
        kind: str = "internal",
        attributes: Mapping[str, Any] | None = None,
        parent: ActiveSpan | None = None,
        trace_state: _TraceState | None = None,
    ) -> None:
        if kind not in KINDS:
            raise errors.InvalidInput(
                f"span kind {kind!r} is not one of {', '.join(KINDS)}", field="kind"
            )
        self.name = name
        self.kind = kind
        self.parent = parent
        self.trace_id: str = parent.trace_id if parent is not None else _new_id(16)
        self.span_id = _new_id(8)
        self.start_ns = time.time_ns()
        self.end_ns: int | None = None
        self.status = "unset"
        self.status_message = ""
        self.attributes: dict[str, Any] = dict(attributes or {})
        self.events: list[tuple[str, int, dict[str, Any]]] = []
        self._trace: _TraceState = trace_state or (
            parent._trace if parent is not None else _TraceState()
        )
        self._token: contextvars.Token[ActiveSpan | None] | None = None

    # -- what the application records ---------------------------------------------------------

    def set_attribute(self, key: str, value: Any) -> ActiveSpan:
        """Set one attribute (str, bool, int, float or a list of them; others become JSON)."""
        self.attributes[key] = value
        return self

    def set_attributes(self, attributes: Mapping[str, Any]) -> ActiveSpan:
        """Set several attributes."""
        self.attributes.update(attributes)
        return self

    def set_input(self, value: Any) -> ActiveSpan:
        """Record the span's input (text is kept as is, anything else as JSON)."""
        self.attributes["input.value"] = _text(value)
        return self

    def set_output(self, value: Any) -> ActiveSpan:
        """Record the span's output (text is kept as is, anything else as JSON)."""
        self.attributes["output.value"] = _text(value)
        return self

    def set_usage(
        self,
        *,
        model: str | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        provider: str | None = None,
    ) -> ActiveSpan:
        """Record the model called and the tokens it used; ingest prices them."""
        if model is not None:
            self.attributes["gen_ai.request.model"] = model
        if input_tokens is not None:
            self.attributes["gen_ai.usage.input_tokens"] = int(input_tokens)
        if output_tokens is not None:
            self.attributes["gen_ai.usage.output_tokens"] = int(output_tokens)
        if provider is not None:
            self.attributes["gen_ai.provider.name"] = provider
        return self

    def set_prompt(self, prompt: Any, version: int | None = None) -> ActiveSpan:
        """Link the span to a prompt version: a name and version, or a ``podium.prompts`` prompt."""
        if isinstance(prompt, str):
            name = prompt
        else:
            name = prompt.name
            version = prompt.version if version is None else version
        self.attributes["podium.prompt.name"] = name
        if version is not None:
            self.attributes["podium.prompt.version"] = int(version)
        return self

    def set_trace(
        self,
        *,
        session_id: str | None = None,
        user_id: str | None = None,
        tags: Iterable[str] = (),
    ) -> ActiveSpan:
        """Set trace-level attributes: the session, the user, and tags added to the trace."""
        if session_id is not None:
            self._trace.session_id = session_id
        if user_id is not None:
            self._trace.user_id = user_id
        self._trace.tags.update(str(t) for t in tags)
        return self

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> ActiveSpan:
        """Add a timestamped event to the span."""
        self.events.append((name, time.time_ns(), dict(attributes or {})))
        return self

    def record_exception(self, exc: BaseException) -> ActiveSpan:
        """Mark the span failed and add an ``exception`` event with type, message and stack."""
        self.status = "error"
        self.status_message = f"{type(exc).__name__}: {exc}"[:2000]
        stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return self.add_event(
            "exception",
            {
                "exception.type": type(exc).__qualname__,
                "exception.message": str(exc),
                "exception.stacktrace": stack[-MAX_VALUE_CHARS:],
            },
        )

    def set_error(self, message: str) -> ActiveSpan:
        """Mark the span failed with ``message``."""
        self.status = "error"
        self.status_message = message
        return self

    def end(self) -> None:
        """End the span and hand it to the exporter (once; later calls do nothing)."""
        if self.end_ns is not None:
            return
        self.end_ns = time.time_ns()
        attributes = dict(self.attributes)
        state = self._trace
        if state.session_id is not None:
            attributes.setdefault("session.id", state.session_id)
        if state.user_id is not None:
            attributes.setdefault("user.id", state.user_id)
        if state.tags:
            attributes["podium.tags"] = sorted(state.tags)
        _export(self, attributes)

    # -- context management ------------------------------------------------------------------

    def __enter__(self) -> ActiveSpan:
        self._token = _current.set(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None and not isinstance(exc, GeneratorExit):
            self.record_exception(exc)
        self._restore()
        self.end()

    async def __aenter__(self) -> ActiveSpan:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def _restore(self) -> None:
        token, self._token = self._token, None
        if token is None:
            return
        try:
            _current.reset(token)
        except ValueError:
            # Exited in another context than it was entered in (a generator resumed elsewhere).
            _current.set(self.parent)


def current_span() -> ActiveSpan | None:
    """The span being recorded in this context, or None."""
    return _current.get()


def span(
    name: str,
    *,
    kind: str = "internal",
    attributes: Mapping[str, Any] | None = None,
) -> ActiveSpan:
    """A span, child of the current one; use it as ``with`` or ``async with``."""
    return ActiveSpan(name, kind=kind, attributes=attributes, parent=_current.get())


def trace(
    name: str = "trace",
    *,
    session_id: str | None = None,
    user_id: str | None = None,
    tags: Iterable[str] = (),
    attributes: Mapping[str, Any] | None = None,
) -> ActiveSpan:
    """A span that sets trace-level attributes (session, user, tags) for its whole trace.

    Outside any span it starts a new trace; inside one it is a child span that sets the
    attributes on the trace it belongs to.
    """
    started = ActiveSpan(name, attributes=attributes, parent=_current.get())
    return started.set_trace(session_id=session_id, user_id=user_id, tags=tags)


# -- @observe ----------------------------------------------------------------------------------


@overload
def observe(function: F, /) -> F: ...


@overload
def observe(
    *,
    name: str | None = None,
    kind: str = "internal",
    capture_input: bool = True,
    capture_output: bool = True,
) -> Callable[[F], F]: ...


def observe(
    function: Any = None,
    /,
    *,
    name: str | None = None,
    kind: str = "internal",
    capture_input: bool = True,
    capture_output: bool = True,
) -> Any:
    """Record every call of the decorated function as a span.

    Works on plain and ``async`` functions and on (async) generators, whose span lasts until the
    generator is exhausted or closed. The span records the arguments (``input.value``), the
    return value (``output.value``), the duration, and an exception (status error, an
    ``exception`` event) before re-raising it. Use ``@observe`` or ``@observe(name=...)``.
    """
    if kind not in KINDS:
        raise errors.InvalidInput(
            f"span kind {kind!r} is not one of {', '.join(KINDS)}", field="kind"
        )

    def decorate(fn: F) -> F:
        span_name = name or fn.__qualname__
        signature = _signature(fn)

        def start(args: tuple[Any, ...], kwargs: dict[str, Any]) -> ActiveSpan:
            started = ActiveSpan(span_name, kind=kind, parent=_current.get())
            if capture_input:
                started.set_input(_arguments(signature, args, kwargs))
            return started

        def finish(started: ActiveSpan, output: Any) -> None:
            if capture_output and output is not None:
                started.set_output(output)

        if inspect.isasyncgenfunction(fn):

            @functools.wraps(fn)
            async def agen_wrapper(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
                started = start(args, kwargs)
                items: list[Any] = []
                agen = fn(*args, **kwargs)
                try:
                    while True:
                        token = _current.set(started)
                        try:
                            item = await agen.__anext__()
                        except StopAsyncIteration:
                            break
                        finally:
                            _current.reset(token)
                        if len(items) < MAX_GENERATOR_ITEMS:
                            items.append(item)
                        yield item
                    finish(started, items)
                except BaseException as exc:
                    if not isinstance(exc, GeneratorExit):
                        started.record_exception(exc)
                    await agen.aclose()
                    raise
                finally:
                    started.end()

            return agen_wrapper  # type: ignore[return-value]

        if inspect.isgeneratorfunction(fn):

            @functools.wraps(fn)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
                started = start(args, kwargs)
                items: list[Any] = []
                gen = fn(*args, **kwargs)
                try:
                    while True:
                        token = _current.set(started)
                        try:
                            item = next(gen)
                        except StopIteration:
                            break
                        finally:
                            _current.reset(token)
                        if len(items) < MAX_GENERATOR_ITEMS:
                            items.append(item)
                        yield item
                    finish(started, items)
                except BaseException as exc:
                    if not isinstance(exc, GeneratorExit):
                        started.record_exception(exc)
                    gen.close()
                    raise
                finally:
                    started.end()

            return gen_wrapper  # type: ignore[return-value]

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with start(args, kwargs) as started:
                    output = await fn(*args, **kwargs)
                    finish(started, output)
                    return output

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with start(args, kwargs) as started:
                output = fn(*args, **kwargs)
                finish(started, output)
                return output

        return wrapper  # type: ignore[return-value]

    if function is not None:
        return decorate(function)
    return decorate


def _signature(fn: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def _arguments(
    signature: inspect.Signature | None, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """The call's arguments by parameter name (``self`` and ``cls`` left out)."""
    if signature is not None:
        try:
            bound = signature.bind_partial(*args, **kwargs)
        except TypeError:
            pass
        else:
            return {k: v for k, v in bound.arguments.items() if k not in ("self", "cls")}
    return {"args": list(args), "kwargs": kwargs}


def _text(value: Any) -> str:
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, default=repr, ensure_ascii=False)
        except (TypeError, ValueError):  # circular structures
            text = repr(value)
    return text[:MAX_VALUE_CHARS]


def _new_id(size: int) -> str:
    while True:
        raw = os.urandom(size)
        if any(raw):
            return raw.hex()


# -- the process's exporter --------------------------------------------------------------------

_lock = threading.Lock()
_exporter: SpanExporter | None = None
_disabled = False


def configure_tracing(
    *,
    url: str | None = None,
    api_key: str | None = None,
    project: str | None = None,
    client: Client | None = None,
    service_name: str | None = None,
    queue_size: int | None = None,
    batch_size: int | None = None,
    flush_interval: float | None = None,
    max_backoff: float = 10.0,
    enabled: bool = True,
) -> None:
    """(Re)configure where spans go; the previous exporter is flushed and stopped.

    Without a call, the first span configures from the environment: ``PODIUM_URL``,
    ``PODIUM_API_KEY``, ``PODIUM_TRACE_QUEUE_SIZE``, ``PODIUM_TRACE_BATCH_SIZE``,
    ``PODIUM_TRACE_FLUSH_INTERVAL``. ``client`` sends through an existing ``Client``;
    ``project`` names the project the traces go to (else the API key's, or ``default``);
    ``enabled=False`` records nothing.
    """
    global _exporter, _disabled
    with _lock:
        previous, _exporter = _exporter, None
        _disabled = not enabled
        if enabled:
            # Loaded here, not at import: it brings protobuf, and ``import podium`` stays light.
            from podium.client._span_exporter import SpanExporter

            _exporter = SpanExporter(
                _sender_factory(url, api_key, project, client),
                resource={"service.name": service_name or _service_name()},
                queue_size=queue_size or _env_int("PODIUM_TRACE_QUEUE_SIZE", 10_000),
                batch_size=batch_size or _env_int("PODIUM_TRACE_BATCH_SIZE", 512),
                flush_interval=flush_interval or _env_float("PODIUM_TRACE_FLUSH_INTERVAL", 1.0),
                max_backoff=max_backoff,
            )
    if previous is not None:
        previous.shutdown()


def flush(timeout: float | None = 10.0) -> bool:
    """Wait until the spans ended so far are delivered; False when ``timeout`` passed first."""
    exporter = _exporter
    return True if exporter is None else exporter.flush(timeout)


def shutdown_tracing(timeout: float = 5.0) -> bool:
    """Flush and stop the exporter; a later span starts a new one from the environment."""
    global _exporter
    with _lock:
        exporter, _exporter = _exporter, None
    return True if exporter is None else exporter.shutdown(timeout)


def tracing_stats() -> ExporterStats | None:
    """The exporter's counters (queued, sent, dropped, rejected, failures), or None before use."""
    exporter = _exporter
    return None if exporter is None else exporter.stats()


def _export(ended: ActiveSpan, attributes: dict[str, Any]) -> None:
    from podium.client._span_exporter import FinishedSpan

    exporter = _exporter
    if exporter is None:
        if _disabled:
            return
        try:
            configure_tracing()
        except Exception as exc:  # a bad PODIUM_TRACE_* value: record nothing, never raise
            logging.getLogger("podium.tracing").warning("podium: tracing is off: %s", exc)
            configure_tracing(enabled=False)
            return
        exporter = _exporter
        if exporter is None:
            return
    assert ended.end_ns is not None
    finished: FinishedSpan = FinishedSpan(
        trace_id=ended.trace_id,
        span_id=ended.span_id,
        parent_span_id=ended.parent.span_id if ended.parent is not None else None,
        name=ended.name,
        kind=ended.kind,
        start_ns=ended.start_ns,
        end_ns=ended.end_ns,
        status=ended.status,
        status_message=ended.status_message,
        attributes=attributes,
        events=list(ended.events),
    )
    exporter.export(finished)


def _sender_factory(
    url: str | None, api_key: str | None, project: str | None, client: Client | None
) -> Callable[[], Sender]:
    if client is None and not (url or os.environ.get("PODIUM_URL")):
        # Embedded mode builds the app in the sender thread; some of its imports register
        # thread-exit hooks (concurrent.futures.thread), which fails once the interpreter is
        # shutting down. A short script can end while that build runs, so import it now.
        import concurrent.futures.thread  # noqa: F401

    def make() -> Sender:
        return _ClientSender(url, api_key, project, client)

    return make


class _ClientSender:
    """Posts encoded spans through a ``Client`` (made here, and closed, when none is given)."""

    def __init__(
        self, url: str | None, api_key: str | None, project: str | None, client: Client | None
    ) -> None:
        from podium.client.api import Client

        self._owned = client is None
        self._api = client or Client(url, api_key=api_key)
        self._target = str(self._api.http.base_url.copy_with(path="/otlp/v1/traces"))
        self._headers = {"Content-Type": "application/x-protobuf"}
        if project:
            self._headers[PROJECT_HEADER] = project

    def __call__(self, body: bytes) -> None:
        import httpx

        from podium.client._transport import raise_for_problem

        try:
            response = self._api.http.post(
                self._target, content=body, headers=self._headers, timeout=10.0
            )
        except httpx.HTTPError as exc:
            raise errors.ServiceUnavailable(f"cannot send spans to {self._target}: {exc}") from exc
        raise_for_problem(response)

    def close(self) -> None:
        """Close the client if this sender made it."""
        if self._owned:
            self._api.close()


def _service_name() -> str:
    main = sys.argv[0] if sys.argv and sys.argv[0] else "python"
    return Path(main).name or "python"


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise errors.InvalidInput(f"{name} must be a whole number, not {raw!r}") from None


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise errors.InvalidInput(f"{name} must be a number of seconds, not {raw!r}") from None
