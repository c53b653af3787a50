"""Experiment tracking: experiments, runs, params, tags, metric series and artifacts.

``TrackingService`` holds the use cases; ``parse_filter`` / ``parse_order_by`` read the run-search
language; the models are frozen dataclasses with no I/O. The REST routes (``routes``), the
``podium runs`` commands (``cli``) and the web pages (``ui``) are wired by ``podium.server``.
"""

from podium.tracking.filters import parse_filter, parse_order_by
from podium.tracking.models import (
    Artifact,
    Experiment,
    LatestMetric,
    MetricPoint,
    Run,
    RunComparison,
    RunDetail,
)
from podium.tracking.schemas import RunStatus
from podium.tracking.service import TrackingService

__all__ = [
    "Artifact",
    "Experiment",
    "LatestMetric",
    "MetricPoint",
    "Run",
    "RunComparison",
    "RunDetail",
    "RunStatus",
    "TrackingService",
    "parse_filter",
    "parse_order_by",
]
