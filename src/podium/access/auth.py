"""Who is making a request. Until access control lands, every caller is the local user."""

from __future__ import annotations

from podium.access.models import LOCAL_ACTOR


def current_actor() -> str:
    """FastAPI dependency: the name of the caller, recorded in histories and the audit log."""
    return LOCAL_ACTOR
