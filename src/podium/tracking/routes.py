"""REST routes of tracking (placeholder until implemented)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter


def build_router(service: Any) -> APIRouter:
    """The router, bound to its service."""
    return APIRouter()
