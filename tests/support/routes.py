"""Walks an app's route table, including routers nested with ``include_router``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from podium.access.authz import Permission


@dataclass(frozen=True)
class RouteInfo:
    """One HTTP endpoint: full path, methods, and the permissions its dependencies declare."""

    path: str
    methods: frozenset[str]
    route: APIRoute
    permissions: tuple[Permission, ...]


def _permissions(dependant: Any) -> list[Permission]:
    found = []
    for dep in dependant.dependencies:
        if isinstance(dep.call, Permission):
            found.append(dep.call)
        found.extend(_permissions(dep))
    return found


def _walk(routes: list[Any], prefix: str) -> Iterator[RouteInfo]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield RouteInfo(
                prefix + route.path,
                frozenset(route.methods or ()),
                route,
                tuple(_permissions(route.dependant)),
            )
        elif hasattr(route, "original_router"):  # a router added with include_router
            yield from _walk(route.original_router.routes, prefix + route.include_context.prefix)


def api_routes(app: FastAPI) -> list[RouteInfo]:
    """Every FastAPI endpoint of ``app`` (not mounts or the docs pages)."""
    return list(_walk(app.routes, ""))
