"""Podium's one exception hierarchy.

Every user-facing failure is a ``PodiumError``. The server maps each class to an HTTP status and
an RFC 9457 problem+json body in one place (``podium.server.problems``); the CLI maps it to exit
code 2 and one readable line (``podium.cli.output``); the SDK raises the same classes back from a
problem body (``podium.client._transport``), so callers catch one tree whichever transport
carried the request::

    PodiumError                      500  (only for bugs and outages, never for user input)
    ├── InvalidInput                 422  a field is missing, mistyped or out of range
    │   └── InvalidFilter            422  a run search filter that does not parse
    ├── Unauthenticated              401  no credentials, or they are wrong/expired/revoked
    ├── Forbidden                    403  authenticated, but the role does not allow it
    ├── NotFound                     404  an id or name that does not exist
    ├── Conflict                     409  a duplicate name, or a change to something immutable
    ├── PayloadTooLarge              413  a body over the configured limit
    ├── RateLimited                  429  too many requests; retry after a while
    ├── MissingExtra                 501  a feature whose optional dependency is not installed
    └── ServiceUnavailable           503  a backend (database, blob store, server) cannot be reached

Messages name the fix: what is wrong, and the value or command that mends it.
"""

from __future__ import annotations

from typing import Any, ClassVar


class PodiumError(Exception):
    """Base of every error Podium raises on purpose."""

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"
    slug: ClassVar[str] = "internal"

    def __init__(self, message: str, *, field: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.extra = extra
        # The status a server answered with, when this error was rebuilt from a reply.
        self.http_status: int | None = None

    def to_problem(self) -> dict[str, Any]:
        """Return the RFC 9457 problem body for this error."""
        body: dict[str, Any] = {
            "type": f"https://podium.dev/problems/{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.message,
        }
        if self.field is not None:
            body["field"] = self.field
        body.update(self.extra)
        return body


class InvalidInput(PodiumError):
    """A request field is missing, has the wrong type or is out of range."""

    status = 422
    title = "Invalid input"
    slug = "invalid-input"


class InvalidFilter(InvalidInput):
    """A search filter that does not parse; the message says where."""

    title = "Invalid filter"
    slug = "invalid-filter"


class Unauthenticated(PodiumError):
    """No credentials, or credentials that are wrong, expired or revoked."""

    status = 401
    title = "Unauthenticated"
    slug = "unauthenticated"


class Forbidden(PodiumError):
    """The caller is known but its role does not allow this action."""

    status = 403
    title = "Forbidden"
    slug = "forbidden"


class NotFound(PodiumError):
    """An id or name that does not exist."""

    status = 404
    title = "Not found"
    slug = "not-found"


class Conflict(PodiumError):
    """A duplicate name, or an attempt to change something immutable."""

    status = 409
    title = "Conflict"
    slug = "conflict"


class PayloadTooLarge(PodiumError):
    """A request body larger than the server accepts."""

    status = 413
    title = "Payload too large"
    slug = "payload-too-large"


class RateLimited(PodiumError):
    """Too many requests (or failed logins); retry later."""

    status = 429
    title = "Too many requests"
    slug = "rate-limited"


class MissingExtra(PodiumError):
    """A feature needs an optional dependency that is not installed."""

    status = 501
    title = "Optional dependency missing"
    slug = "missing-extra"

    @classmethod
    def for_feature(cls, feature: str, extra: str) -> MissingExtra:
        """Return the error for ``feature``, naming the extra that provides it."""
        return cls(
            f"{feature} needs the optional '{extra}' dependencies: pip install 'podium[{extra}]'"
        )


class ServiceUnavailable(PodiumError):
    """A backend (database, blob store, remote server) cannot be reached."""

    status = 503
    title = "Service unavailable"
    slug = "unavailable"


_BY_SLUG: dict[str, type[PodiumError]] = {
    cls.slug: cls
    for cls in (
        PodiumError,
        InvalidInput,
        InvalidFilter,
        Unauthenticated,
        Forbidden,
        NotFound,
        Conflict,
        PayloadTooLarge,
        RateLimited,
        MissingExtra,
        ServiceUnavailable,
    )
}
_BY_STATUS: dict[int, type[PodiumError]] = {
    422: InvalidInput,
    400: InvalidInput,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    405: InvalidInput,
    409: Conflict,
    413: PayloadTooLarge,
    429: RateLimited,
    502: ServiceUnavailable,
    503: ServiceUnavailable,
    504: ServiceUnavailable,
}


def from_problem(status: int, body: dict[str, Any] | None) -> PodiumError:
    """Rebuild the error a server described in a problem+json body (used by the SDK)."""
    body = body or {}
    slug = str(body.get("type", "")).rsplit("/", 1)[-1]
    cls = _BY_SLUG.get(slug) or _BY_STATUS.get(status, PodiumError)
    detail = str(body.get("detail") or body.get("title") or f"HTTP {status}")
    field = body.get("field")
    extra = {
        k: v for k, v in body.items() if k not in ("type", "title", "status", "detail", "field")
    }
    error = cls(detail, field=str(field) if field is not None else None, **extra)
    error.http_status = status
    return error


__all__ = [
    "Conflict",
    "Forbidden",
    "InvalidFilter",
    "InvalidInput",
    "MissingExtra",
    "NotFound",
    "PayloadTooLarge",
    "PodiumError",
    "RateLimited",
    "ServiceUnavailable",
    "Unauthenticated",
    "from_problem",
]
