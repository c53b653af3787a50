"""Use cases of monitoring: dashboard time series, drift checks and the figures operators scrape.

Raises ``podium.errors``; knows nothing of HTTP. Reads the tracing tables through
``podium.tracing.monitoring_sql``; a project that has no traces yet (ingest creates projects on
first use) gives empty series rather than an error.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from podium.access.models import Project
from podium.access.service import ProjectService
from podium.errors import InvalidInput, NotFound
from podium.store.clock import now_ms
from podium.store.engine import Database
from podium.tracing import monitoring_sql as sql
from podium.tracing.drift import DriftDetector, DriftReport, DriftSample, Window
from podium.tracing.models import percentile

MAX_POINTS = 2000  # buckets per series: enough for a minute resolution over a day
GROUPINGS: tuple[sql.GroupBy, ...] = ("none", "model", "prompt")


@dataclass(frozen=True)
class Series:
    """One group's figures, one value per bucket of the time axis (None where no traffic)."""

    key: str
    requests: list[int]
    errors: list[int]
    error_rate: list[float | None]
    latency_p50_ms: list[float | None]
    latency_p95_ms: list[float | None]
    latency_p99_ms: list[float | None]
    input_tokens: list[int]
    output_tokens: list[int]
    cost_usd: list[float]


@dataclass(frozen=True)
class TimeSeries:
    """Dashboard data: a shared time axis (bucket starts, epoch ms) and one series per group."""

    since_ms: int
    until_ms: int
    bucket_s: int
    group_by: str
    buckets_ms: list[int]
    series: list[Series]


@dataclass(frozen=True)
class ProjectFigures:
    """One project's traffic over the recent window, for ``/metrics`` and alert rules."""

    project: str
    window_s: int
    requests: int
    errors: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    latency_p99_ms: float | None

    @property
    def error_rate(self) -> float:
        """Share of failed requests (0 with no requests)."""
        return self.errors / self.requests if self.requests else 0.0


class MonitoringService:
    """Time series, drift and recent figures over the traces of one database."""

    def __init__(
        self,
        db: Database,
        projects: ProjectService,
        detector: DriftDetector,
        *,
        drift_max_spans: int = 5000,
    ) -> None:
        self._db = db
        self._projects = projects
        self.detector = detector
        self._drift_max_spans = drift_max_spans

    def _project_or_none(self, project: str) -> Project | None:
        try:
            return self._projects.by_name(project)
        except NotFound:
            return None

    def timeseries(
        self, project: str, since_ms: int, until_ms: int, bucket_s: int, group_by: str
    ) -> TimeSeries:
        """Requests, errors, latency percentiles, tokens and cost per bucket and group.

        ``InvalidInput`` for an empty range, an unknown grouping or more than ``MAX_POINTS``
        buckets.
        """
        if group_by not in GROUPINGS:
            raise InvalidInput(
                f"group_by must be one of {', '.join(GROUPINGS)}, not {group_by!r}",
                field="group_by",
            )
        if until_ms <= since_ms:
            raise InvalidInput("until must be after since", field="until")
        if bucket_s < 1:
            raise InvalidInput("bucket must be at least 1 second", field="bucket")
        width = bucket_s * 1000
        first = since_ms - since_ms % width
        count = (until_ms - first + width - 1) // width
        if count > MAX_POINTS:
            raise InvalidInput(
                f"{count} buckets is more than {MAX_POINTS}; use a bucket of at least "
                f"{-(-(until_ms - first) // (MAX_POINTS * 1000))} seconds or a shorter range",
                field="bucket",
            )
        axis = [first + i * width for i in range(count)]
        owner = self._project_or_none(project)
        if owner is None:
            return TimeSeries(since_ms, until_ms, bucket_s, group_by, axis, [])
        grouping: sql.GroupBy = group_by
        latencies: dict[tuple[int, str], list[float]] = defaultdict(list)
        with self._db.read() as conn:
            totals = sql.bucket_totals(conn, owner.id, since_ms, until_ms, width, grouping)
            for bucket, group, latency in sql.bucket_latencies(
                conn, owner.id, since_ms, until_ms, width, grouping
            ):
                latencies[(bucket, group)].append(latency)
        index = {b: i for i, b in enumerate(axis)}
        by_group: dict[str, list[sql.BucketTotals]] = defaultdict(list)
        for cell in totals:
            by_group[cell.group].append(cell)
        series = []
        for key in sorted(by_group, key=lambda k: -sum(c.requests for c in by_group[k])):
            n = len(axis)
            requests, errors = [0] * n, [0] * n
            rate: list[float | None] = [None] * n
            p50: list[float | None] = [None] * n
            p95: list[float | None] = [None] * n
            p99: list[float | None] = [None] * n
            tokens_in, tokens_out, cost = [0] * n, [0] * n, [0.0] * n
            for cell in by_group[key]:
                i = index[cell.bucket_ms]
                requests[i], errors[i] = cell.requests, cell.errors
                rate[i] = cell.errors / cell.requests if cell.requests else None
                tokens_in[i], tokens_out[i] = cell.input_tokens, cell.output_tokens
                cost[i] = cell.cost_usd
                values = sorted(latencies.get((cell.bucket_ms, key), []))
                p50[i] = percentile(values, 0.50)
                p95[i] = percentile(values, 0.95)
                p99[i] = percentile(values, 0.99)
            series.append(
                Series(key, requests, errors, rate, p50, p95, p99, tokens_in, tokens_out, cost)
            )
        return TimeSeries(since_ms, until_ms, bucket_s, group_by, axis, series)

    def sample(self, project: str, window: Window) -> DriftSample:
        """The spans of ``window`` that drift compares (capped at the configured maximum)."""
        owner = self._project_or_none(project)
        if owner is None:
            return DriftSample([], [], 0, 0)
        with self._db.read() as conn:
            spans = sql.span_sample(
                conn, owner.id, window.since_ms, window.until_ms, self._drift_max_spans
            )
        return DriftSample(
            inputs=[s.input_text for s in spans if s.input_text],
            outputs=[s.output_text for s in spans if s.output_text],
            errors=sum(1 for s in spans if s.error),
            total=len(spans),
        )

    def drift(self, project: str, reference: Window, current: Window, alpha: float) -> DriftReport:
        """Compare the current window's spans with the reference window's."""
        return self.detector.compare(
            self.sample(project, reference), self.sample(project, current), alpha
        )

    def figures(self, project: str, window_s: int, at_ms: int | None = None) -> ProjectFigures:
        """The project's figures over the ``window_s`` seconds before ``at_ms`` (now)."""
        until = now_ms() if at_ms is None else at_ms
        since = until - window_s * 1000
        owner = self._project_or_none(project)
        if owner is None:
            return ProjectFigures(project, window_s, 0, 0, 0, 0, 0.0, None, None, None)
        with self._db.read() as conn:
            totals = sql.window_totals(conn, owner.id, since, until)
            latencies = sorted(sql.window_latencies(conn, owner.id, since, until))
        return ProjectFigures(
            project,
            window_s,
            totals.requests,
            totals.errors,
            totals.input_tokens,
            totals.output_tokens,
            totals.cost_usd,
            percentile(latencies, 0.50),
            percentile(latencies, 0.95),
            percentile(latencies, 0.99),
        )

    def project_names(self) -> list[str]:
        """Every project's name (the metrics export covers them all)."""
        return [p.name for p in self._projects.list()]
