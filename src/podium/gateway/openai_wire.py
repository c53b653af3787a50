"""OpenAI's wire format on ``/v1``: the error object, JSON replies and server-sent events.

Every failure on ``/v1`` reaches the client as ``{"error": {"message", "type", "param",
"code"}}`` with OpenAI's status codes, so OpenAI SDKs raise their usual exceptions
(``AuthenticationError``, ``NotFoundError``, ``RateLimitError`` …). ``install`` wraps the app's
problem+json handlers so that errors raised before a gateway route runs (authentication, the
``Permission`` check, unknown paths) get this shape too when the path is under ``/v1/``; every
other path keeps problem+json.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from podium.errors import PodiumError

log = logging.getLogger("podium.gateway")
V1_PREFIX = "/v1/"
JSON_TYPE = "application/json"

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


class OpenAIError(Exception):
    """An error answered in OpenAI's format (``status``, ``kind`` is the error ``type``)."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        kind: str | None = None,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.kind = kind or _TYPES.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The ``{"error": {...}}`` object."""
        return {
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        }


def from_podium(error: PodiumError) -> OpenAIError:
    """The OpenAI-shaped equivalent of a Podium error (422 becomes 400, as OpenAI answers)."""
    status = 400 if error.status == 422 else error.status
    code = {401: "invalid_api_key", 429: "rate_limit_exceeded"}.get(status)
    return OpenAIError(error.message, status=status, param=error.field, code=code)


def json_response(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A compact JSON reply written in one piece."""
    return Response(
        json.dumps(content, separators=(",", ":")).encode(),
        status_code=status,
        media_type=JSON_TYPE,
        headers=headers,
    )


def error_response(error: OpenAIError) -> Response:
    """The reply for ``error``."""
    return json_response(error.body(), error.status, error.headers)


def sse_event(chunk: Any) -> bytes:
    """One server-sent event carrying ``chunk`` as JSON."""
    return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"


SSE_DONE = b"data: [DONE]\n\n"


def install(app: FastAPI) -> None:
    """Answer errors on ``/v1/`` paths in OpenAI's format; call after the problem handlers."""
    previous = dict(app.exception_handlers)

    async def _openai_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, OpenAIError)
        return error_response(exc)

    def wrap(kind: Any, convert: Any) -> None:
        fallback = previous.get(kind)

        async def handler(request: Request, exc: Exception) -> Response:
            if request.url.path.startswith(V1_PREFIX) or fallback is None:
                return error_response(convert(exc))
            response: Response = await fallback(request, exc)
            return response

        app.add_exception_handler(kind, handler)

    def _unexpected(exc: Exception) -> OpenAIError:
        log.error("unhandled error on the gateway", exc_info=exc)
        return OpenAIError(
            "the gateway failed unexpectedly; the server log has the details", status=500
        )

    def _http(exc: Exception) -> OpenAIError:
        assert isinstance(exc, StarletteHTTPException)
        status = exc.status_code
        message = {
            404: "unknown gateway path; the OpenAI-compatible endpoints are /v1/chat/completions, "
            "/v1/completions, /v1/embeddings and /v1/models",
            405: "method not allowed on this path",
        }.get(status, str(exc.detail))
        return OpenAIError(message, status=status if status != 422 else 400)

    def _validation(exc: Exception) -> OpenAIError:
        assert isinstance(exc, RequestValidationError)
        errors = list(exc.errors())
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        return OpenAIError(str(first.get("msg", "invalid request")), status=400, param=where)

    app.add_exception_handler(OpenAIError, _openai_error)
    wrap(PodiumError, lambda exc: from_podium(exc))
    wrap(RequestValidationError, _validation)
    wrap(StarletteHTTPException, _http)
    wrap(Exception, _unexpected)
