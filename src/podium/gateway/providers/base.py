"""The contract between the gateway and a model provider.

Requests and responses travel as OpenAI-shaped JSON objects (``dict``): the gateway speaks the
OpenAI wire format on both sides, so an upstream provider can pass bodies through untouched and
a local provider only has to build the same shapes. A provider raises ``ProviderError`` for any
failure; ``retryable`` tells the router whether a retry or a fallback may help.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

JSONObject = dict[str, Any]


class ProviderError(Exception):
    """A provider failed to answer.

    ``status`` is the HTTP status the client should see (429, 500, 502, 503, 504 …), ``kind`` the
    OpenAI error ``type`` (``rate_limit_error``, ``server_error``, ``timeout`` …) and
    ``retryable`` whether trying again (here or on a fallback deployment) may succeed.
    """

    def __init__(
        self, message: str, *, status: int = 502, kind: str = "server_error", retryable: bool = True
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.kind = kind
        self.retryable = retryable


@dataclass(frozen=True)
class ProviderModel:
    """A model a provider serves, as listed by ``/v1/models``."""

    id: str
    owned_by: str


@runtime_checkable
class Provider(Protocol):
    """Something that answers OpenAI-shaped requests for the models it serves.

    ``request["model"]`` is the provider's own model name (the gateway has already resolved the
    public route name). Streaming methods yield ``chat.completion.chunk`` / ``text_completion``
    objects; the last one carries ``usage`` when ``stream_options.include_usage`` was asked for.
    """

    name: str

    async def chat(self, request: JSONObject) -> JSONObject:
        """A ``chat.completion`` object."""
        ...

    def stream_chat(self, request: JSONObject) -> AsyncIterator[JSONObject]:
        """``chat.completion.chunk`` objects, in order."""
        ...

    async def complete(self, request: JSONObject) -> JSONObject:
        """A ``text_completion`` object."""
        ...

    def stream_complete(self, request: JSONObject) -> AsyncIterator[JSONObject]:
        """``text_completion`` chunks, in order."""
        ...

    async def embed(self, request: JSONObject) -> JSONObject:
        """An embeddings ``list`` object."""
        ...

    async def models(self) -> list[ProviderModel]:
        """The models this provider serves."""
        ...

    async def aclose(self) -> None:
        """Release connections, threads and model memory."""
        ...
