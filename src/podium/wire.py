"""Wire shapes shared by every part's REST API: the page envelope and the problem body."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a listing; pass ``next_offset`` back as ``offset`` for the next one."""

    items: list[T]
    next_offset: int | None = Field(
        default=None, description="Offset of the next page; null on the last page."
    )


class Problem(BaseModel):
    """An RFC 9457 problem body, the shape of every error the REST API returns."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(examples=["https://podium.dev/problems/not-found"])
    title: str
    status: int
    detail: str
    field: str | None = Field(default=None, description="The request field at fault, if any.")


def page_of(items: list[T], offset: int, limit: int) -> Page[T]:
    """Build a page from ``limit + 1`` fetched items: the extra one proves a next page exists."""
    has_more = len(items) > limit
    return Page[T](items=items[:limit], next_offset=offset + limit if has_more else None)


def _problem(description: str) -> dict[str, Any]:
    return {
        "model": Problem,
        "description": description,
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }


# Documented on every REST route: the errors any of them can answer, all as problem+json.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    # Podium itself answers malformed bodies with 422; a 400 comes from the HTTP server in
    # front of it, for requests it cannot parse at all (a URL past its size limit, say).
    400: {
        "description": "The HTTP server could not parse the request.",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    },
    401: _problem("No, malformed, unknown, revoked or expired credentials."),
    403: _problem("The caller's role does not allow this."),
    404: _problem("An unknown id or name, or a project the caller is not a member of."),
    409: _problem("A duplicate name, or a change to something immutable."),
    413: _problem("The request body is larger than the server accepts."),
    422: _problem("A field is missing, mistyped or out of range; `field` names it."),
    429: _problem("Too many requests; retry later."),
    503: _problem("A backend (database, blob store) is unavailable."),
}
