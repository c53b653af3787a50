"""What every part's web pages share: the friendly error page for a user's mistake, and the
reading of numeric query parameters.

The page shell itself (``base.html``, ``error.html``, the navigation) belongs to
``podium.server.web``; parts render ``error.html`` through this one function.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlencode

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


def part_error_page(
    templates: Jinja2Templates, back_path: str, back_label: str
) -> Callable[[Request, PodiumError, str], HTMLResponse]:
    """The error page of one part's pages, linking back to ``back_path`` in the same project.

    The user's mistakes (4xx) and a missing extra (501) are shown as a page; other server
    errors are raised again for the server's own handler.
    """

    def render(request: Request, error: PodiumError, project: str) -> HTMLResponse:
        if error.status >= 500 and error.status != 501:
            raise error
        return error_page(
            templates,
            request,
            error,
            project=project,
            back_url=back_path + "?" + urlencode({"project": project}),
            back_label=back_label,
        )

    return render


def int_param(raw: str | None, default: int) -> int:
    """A non-negative integer query parameter; ``default`` when absent or not a number."""
    try:
        return max(0, int(raw)) if raw else default
    except ValueError:
        return default
