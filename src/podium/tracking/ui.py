"""Web pages of tracking (placeholder until implemented)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter


def build_router(service: Any, templates: Any) -> APIRouter:
    """The pages router."""
    return APIRouter()
