"""The web UI shell: the template environment every part's pages share, the navigation, the home
page and the static files.

Each part keeps its pages in ``<part>/ui.py`` and its templates in ``<part>/templates/<part>/``;
``templates()`` builds one Jinja2 environment that loads from all of those folders, so a page
names its template ``"tracking/runs.html"`` and extends ``"base.html"`` from this part. The top
navigation is the ``NAV`` tuple below: a part with pages adds one ``NavItem`` there.

Everything the UI needs is served from ``/static`` (htmx and uPlot are vendored under
``static/vendor``): the UI works with no network access.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from podium import __version__
from podium.access.authz import Permission
from podium.access.models import DEFAULT_PROJECT
from podium.access.policy import PUBLIC
from podium.units import format_size

STATIC_PATH = "/static"


@dataclass(frozen=True)
class NavItem:
    """One entry of the top navigation: a label and the path of the part's first page."""

    label: str
    path: str


# The top navigation, in order. A part with web pages adds its entry here (the path is also the
# prefix that marks the entry active and where the project selector sends the user).
NAV: tuple[NavItem, ...] = (
    NavItem("Runs", "/runs"),
    NavItem("Models", "/models"),
    NavItem("Prompts", "/prompts"),
    NavItem("Datasets", "/datasets"),
    NavItem("Traces", "/traces"),
    NavItem("Monitoring", "/traces/dashboard"),  # dashboard, drift and alerts
    NavItem("Evals", "/evals"),
    NavItem("Gateway", "/gateway"),
    NavItem("Audit", "/audit"),
)

# Packages whose ``templates/`` folder joins the shared environment, each holding
# ``templates/<part>/*.html``; ``podium.server`` holds ``base.html`` and ``error.html``.
TEMPLATE_PACKAGES: tuple[str, ...] = (
    "podium.server",
    "podium.access",
    "podium.tracking",
    "podium.registry",
    "podium.prompts",
    "podium.data",
    "podium.tracing",
    "podium.evals",
    "podium.gateway",
)


def templates() -> Jinja2Templates:
    """The Jinja2 templates shared by every part's pages (autoescaping on)."""
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader([jinja2.PackageLoader(p) for p in TEMPLATE_PACKAGES]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = format_time
    env.filters["duration"] = format_duration
    env.filters["number"] = format_number
    env.filters["filesize"] = format_size
    env.filters["markdown"] = render_markdown
    env.globals["nav_items"] = NAV
    env.globals["podium_version"] = __version__
    env.globals["static"] = STATIC_PATH
    return Jinja2Templates(env=env, context_processors=[_shell_context])


def _shell_context(request: Request) -> dict[str, Any]:
    """What ``base.html`` needs on every page: the project from the query and the project list.

    Context processors override a page's own context, so these names are reserved for the
    shell; a page that knows its project better (a run's page) passes ``project`` itself.
    """
    names: list[str] = []
    services = getattr(request.app.state, "services", None)
    principal = getattr(request.state, "principal", None)
    if services is not None and principal is not None:
        # Only the projects the caller belongs to: the picker must not reveal other teams'.
        names = [p.name for p in services.projects.list() if principal.role_in(p.name)]
    return {
        "query_project": request.query_params.get("project") or DEFAULT_PROJECT,
        "project_names": names,
        "current_path": request.url.path,
        "principal": principal,
        "csrf_token": getattr(request.state, "csrf", None),
    }


def build_router(templates: Jinja2Templates) -> APIRouter:
    """The shell's own pages: ``/`` sends the user to the runs of the chosen project."""
    router = APIRouter(include_in_schema=False, dependencies=[Depends(Permission(PUBLIC, "home"))])

    @router.get("/")
    def home(request: Request) -> RedirectResponse:
        project = request.query_params.get("project")
        target = NAV[0].path + (f"?project={quote(project, safe='')}" if project else "")
        return RedirectResponse(target, status_code=303)

    return router


def mount_static(app: FastAPI) -> None:
    """Serve this package's ``static/`` folder at ``/static``."""
    app.mount(STATIC_PATH, StaticFiles(packages=[("podium.server", "static")]), name="static")


# -- filters -----------------------------------------------------------------------------------


def format_time(value: datetime | None) -> str:
    """A timestamp as ``2024-05-01 12:30:05`` in UTC; an em dash for none."""
    if value is None:
        return "—"
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S")


def format_duration(start: datetime | None, end: datetime | None) -> str:
    """How long from ``start`` to ``end`` (``1h 02m``, ``3m 05s``, ``4.2s``); a dash if open."""
    if start is None or end is None:
        return "—"
    seconds = (end - start).total_seconds()
    if seconds < 0:
        return "—"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def format_number(value: float | int | None) -> str:
    """A metric value, short but exact enough to compare: 5 significant digits."""
    if value is None:
        return "—"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, int) or (float(value).is_integer() and abs(value) < 1e15):
        return f"{int(value):d}"
    return f"{value:.5g}"


def render_markdown(text: str) -> Markup:
    """Markdown as safe HTML (raw HTML in the source is escaped, unsafe links are dropped).

    Uses markdown-it-py when it is installed (it comes with ``rich``); otherwise the text is
    shown preformatted, so a missing library never hides a model card.
    """
    try:
        from markdown_it import MarkdownIt
    except ImportError:  # pragma: no cover - markdown-it-py ships with rich
        return Markup('<pre class="markdown-source">{}</pre>').format(text)
    parser = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    # Safe: ``html`` is off, so markdown-it escapes every tag in the source.
    return Markup(parser.render(text))  # noqa: S704


__all__ = [
    "NAV",
    "NavItem",
    "build_router",
    "format_duration",
    "format_number",
    "format_size",
    "format_time",
    "mount_static",
    "render_markdown",
    "templates",
]
