"""Every route declares exactly one permission; nothing is reachable without one."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.routing import Mount, Route

from podium.server.app import Services, create_app
from tests.support.routes import api_routes

# Routes served by the framework itself: the OpenAPI document and its viewer are public.
FRAMEWORK_ROUTES = {"/api/v1/openapi.json", "/api/docs", "/docs/oauth2-redirect"}
PUBLIC_MOUNTS = {"/static"}


def test_every_route_declares_exactly_one_permission(services: Services) -> None:
    app = create_app(services)
    routes = api_routes(app)
    assert len(routes) > 50  # the walk really reached the nested routers
    missing = [f"{sorted(r.methods)} {r.path}" for r in routes if len(r.permissions) != 1]
    assert missing == [], "routes without exactly one Permission: " + ", ".join(missing)


def test_nothing_else_is_mounted(services: Services) -> None:
    app: FastAPI = create_app(services)
    others = []
    for route in app.routes:
        unexpected_mount = isinstance(route, Mount) and route.path not in PUBLIC_MOUNTS
        unexpected_route = type(route) is Route and route.path not in FRAMEWORK_ROUTES
        if unexpected_mount or unexpected_route:
            others.append(route.path)
    assert others == []
