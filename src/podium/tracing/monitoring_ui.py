"""Web pages of monitoring: the traffic dashboard, the drift check and the alerts page.

``/traces/dashboard`` is a shell: its script reads ``/api/v1/traces/timeseries`` with the chosen
range, bucket and grouping and draws the charts with uPlot, so the page and the REST API show
the same numbers. ``/traces/drift`` runs a check when its form is submitted and renders the
statistics, p-values and overlaid length histograms. ``/alerts`` lists the rules with their
state and the recent events (rules are managed with the CLI or the REST API). Pages need
``tracing:read``.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from podium.access.authz import Permission, from_query
from podium.access.models import DEFAULT_PROJECT
from podium.errors import InvalidInput, PodiumError
from podium.pages import part_error_page
from podium.store.clock import now_ms
from podium.tracing.alerts_service import AlertService
from podium.tracing.drift import DEFAULT_ALPHA, parse_window
from podium.tracing.monitoring_schemas import DriftReportPublic
from podium.tracing.monitoring_service import MonitoringService

EVENTS_SHOWN = 50
SECTION = "/traces/dashboard"  # the "Monitoring" entry of the navigation marks all three pages
# (label, value of `since`, default bucket in seconds): about 60-300 points per chart.
RANGES: tuple[tuple[str, str, int], ...] = (
    ("last hour", "1h", 60),
    ("last 6 hours", "6h", 300),
    ("last 24 hours", "24h", 900),
    ("last 7 days", "7d", 3600),
    ("last 30 days", "30d", 21600),
)
BUCKETS: tuple[tuple[str, int], ...] = (
    ("1 minute", 60),
    ("5 minutes", 300),
    ("15 minutes", 900),
    ("1 hour", 3600),
    ("6 hours", 21600),
    ("1 day", 86400),
)
GROUPS: tuple[tuple[str, str], ...] = (
    ("everything", "none"),
    ("model", "model"),
    ("prompt version", "prompt"),
)
# The dashboard's charts: (figure key in the REST series, title, unit).
FIGURES: tuple[tuple[str, str, str], ...] = (
    ("requests", "Requests", "requests"),
    ("error_rate", "Error rate", "share"),
    ("latency_p50_ms", "Latency p50", "ms"),
    ("latency_p95_ms", "Latency p95", "ms"),
    ("latency_p99_ms", "Latency p99", "ms"),
    ("input_tokens", "Input tokens", "tokens"),
    ("output_tokens", "Output tokens", "tokens"),
    ("cost_usd", "Cost", "USD"),
)


def build_router(
    monitoring: MonitoringService, alerts: AlertService, templates: Jinja2Templates
) -> APIRouter:
    """The monitoring pages, bound to the services and the shared ``templates``."""
    read = Permission("tracing", "read", project=from_query())
    router = APIRouter(include_in_schema=False, dependencies=[Depends(read)])

    dashboard_error = part_error_page(templates, "/traces/dashboard", "Back")
    drift_error = part_error_page(templates, "/traces/drift", "Back")

    @router.get("/traces/dashboard", response_class=HTMLResponse)
    def dashboard_page(request: Request) -> HTMLResponse:
        query = request.query_params
        project = query.get("project") or DEFAULT_PROJECT
        since = query.get("since") or "24h"
        if since not in {r[1] for r in RANGES}:
            return dashboard_error(
                request,
                InvalidInput(
                    f"since must be one of {', '.join(r[1] for r in RANGES)}, not {since!r}",
                    field="since",
                ),
                project,
            )
        default_bucket = next(r[2] for r in RANGES if r[1] == since)
        bucket = query.get("bucket") or str(default_bucket)
        group_by = query.get("group_by") or "none"
        if bucket not in {str(b[1]) for b in BUCKETS} or group_by not in {g[1] for g in GROUPS}:
            return dashboard_error(
                request,
                InvalidInput("pick a bucket and a grouping from the lists", field="bucket"),
                project,
            )
        params = {
            "project": project,
            "since": since,
            "bucket": bucket,
            "group_by": group_by,
        }
        context = {
            "project": project,
            "section": SECTION,
            "since": since,
            "bucket": int(bucket),
            "group_by": group_by,
            "ranges": RANGES,
            "buckets": BUCKETS,
            "groups": GROUPS,
            "figures": FIGURES,
            "data_url": "/api/v1/traces/timeseries?" + urlencode(params),
        }
        return templates.TemplateResponse(request, "tracing/dashboard.html", context)

    @router.get("/traces/drift", response_class=HTMLResponse)
    def drift_page(request: Request) -> HTMLResponse:
        query = request.query_params
        project = query.get("project") or DEFAULT_PROJECT
        form = {
            "reference": query.get("reference") or "7d..1d",
            "current": query.get("current") or "1d",
            "alpha": query.get("alpha") or str(DEFAULT_ALPHA),
        }
        report: DriftReportPublic | None = None
        if query.get("check"):
            try:
                alpha = _alpha(form["alpha"])
                now = now_ms()
                reference = parse_window(form["reference"], now, "reference")
                current = parse_window(form["current"], now, "current")
                found = monitoring.drift(project, reference, current, alpha)
            except PodiumError as exc:
                return drift_error(request, exc, project)
            report = DriftReportPublic.of(project, found, reference, current)
        context: dict[str, Any] = {
            "project": project,
            "section": SECTION,
            "form": form,
            "report": report,
            "histograms": _histograms(report),
            "bars": {
                s.name: bar_width(s.p_value)
                for s in (report.statistics if report else [])
                if s.p_value is not None
            },
            "alpha_bar": bar_width(report.alpha) if report else 0.0,
        }
        return templates.TemplateResponse(request, "tracing/drift.html", context)

    @router.get("/alerts", response_class=HTMLResponse)
    def alerts_page(request: Request) -> HTMLResponse:
        project = request.query_params.get("project") or DEFAULT_PROJECT
        context = {
            "project": project,
            "section": SECTION,
            "rules": alerts.list_rules(project),
            "events": alerts.events(project, None, 0, EVENTS_SHOWN),
        }
        return templates.TemplateResponse(request, "tracing/alerts.html", context)

    return router


def bar_width(p_value: float) -> float:
    """Width (%) of a p-value's bar: -log10(p) on a scale where p = 1e-6 fills the cell."""
    return round(min(100.0, -math.log10(max(p_value, 1e-6)) / 6 * 100), 1)


def _alpha(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput(
            f"alpha must be a number such as 0.01, not {raw!r}", field="alpha"
        ) from None
    if not 0 < value < 1:
        raise InvalidInput("alpha must be between 0 and 1, e.g. 0.01", field="alpha")
    return value


def _histograms(report: DriftReportPublic | None) -> dict[str, Any]:
    """The length histograms of a report, keyed by statistic, as the page's charts read them."""
    if report is None:
        return {}
    return {s.name: s.detail["histogram"] for s in report.statistics if "histogram" in s.detail}
