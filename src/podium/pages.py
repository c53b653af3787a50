"""What every part's web pages share: the friendly error page for a user's mistake.

The page shell itself (``base.html``, ``error.html``, the navigation) belongs to
``podium.server.web``; parts render ``error.html`` through this one function.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from podium.errors import PodiumError


def error_page(
    templates: Jinja2Templates,
    request: Request,
    error: PodiumError,
    *,
    project: str,
    back_url: str,
    back_label: str,
) -> HTMLResponse:
    """``error.html`` for ``error``, with its status and a link back to where the user was."""
    context = {
        "project": project,
        "status": error.status,
        "heading": error.title,
        "message": error.message,
        "back_url": back_url,
        "back_label": back_label,
    }
    return templates.TemplateResponse(request, "error.html", context, status_code=error.status)
