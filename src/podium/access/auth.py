"""Who is making a request, for routes that record an actor (alias history, created_by)."""

from __future__ import annotations

from fastapi import Request

from podium.access.models import LOCAL_ACTOR


def current_actor(request: Request) -> str:
    """FastAPI dependency: the authenticated caller's name (``local`` in single-user mode)."""
    principal = getattr(request.state, "principal", None)
    return principal.name if principal is not None else LOCAL_ACTOR
