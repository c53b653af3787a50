"""Wire shapes shared by every part's REST API: the page envelope and the problem body."""

from __future__ import annotations

from typing import Generic, TypeVar

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
