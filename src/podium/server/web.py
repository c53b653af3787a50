"""The web UI shell (placeholder until implemented)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI


def templates() -> Any:
    """The Jinja2 environment."""
    return None


def build_router(templates: Any) -> APIRouter:
    """Home page router."""
    return APIRouter()


def mount_static(app: FastAPI) -> None:
    """Serve static files."""
