"""Wire models of monitoring: ``/api/v1/traces/timeseries``, ``/api/v1/traces/drift`` and
``/api/v1/alerts``."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from podium.access.models import DEFAULT_PROJECT
from podium.store.clock import stored_time
from podium.tracing.alerts import MAX_WINDOW_S, MIN_WINDOW_S, AlertEvent, AlertRule, RuleSpec
from podium.tracing.drift import DEFAULT_ALPHA, DriftReport, Statistic, Window
from podium.tracing.monitoring_service import Series, TimeSeries

__all__ = [
    "AlertEventPublic",
    "AlertRuleCreate",
    "AlertRulePublic",
    "DriftReportPublic",
    "DriftRequest",
    "SeriesPublic",
    "StatisticPublic",
    "TimeSeriesPublic",
    "WindowPublic",
]


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


WINDOW_EXAMPLES = ["7d..1d", "1d", "2026-01-01T00:00:00Z..2026-01-02T00:00:00Z"]


class SeriesPublic(BaseModel):
    """One group's figures, one value per bucket of ``buckets_ms`` (null where no traffic)."""

    key: str = Field(description="The model, 'prompt:vN', or 'all' without grouping.")
    requests: list[int]
    errors: list[int]
    error_rate: list[float | None]
    latency_p50_ms: list[float | None]
    latency_p95_ms: list[float | None]
    latency_p99_ms: list[float | None]
    input_tokens: list[int]
    output_tokens: list[int]
    cost_usd: list[float]

    @classmethod
    def of(cls, series: Series) -> SeriesPublic:
        """The wire shape of a series."""
        return cls.model_validate(series, from_attributes=True)


class TimeSeriesPublic(BaseModel):
    """Dashboard data: a shared time axis and one series per group."""

    since: datetime
    until: datetime
    bucket_s: int
    group_by: str
    buckets_ms: list[int] = Field(description="Start of each bucket, epoch milliseconds (UTC).")
    series: list[SeriesPublic]

    @classmethod
    def of(cls, found: TimeSeries) -> TimeSeriesPublic:
        """The wire shape of a time series."""
        return cls(
            since=stored_time(found.since_ms),
            until=stored_time(found.until_ms),
            bucket_s=found.bucket_s,
            group_by=found.group_by,
            buckets_ms=found.buckets_ms,
            series=[SeriesPublic.of(s) for s in found.series],
        )


class DriftRequest(BaseModel):
    """Compare the spans of a current window with those of a reference window."""

    project: str = Field(default=DEFAULT_PROJECT, min_length=1, max_length=200)
    reference: str = Field(
        default="7d..1d",
        min_length=1,
        max_length=120,
        description="Reference window: 'FROM..TO' as durations ago (7d..1d) or ISO 8601 times.",
        examples=WINDOW_EXAMPLES,
    )
    current: str = Field(
        default="1d",
        min_length=1,
        max_length=120,
        description="Current window, same syntax; a single duration means 'from then to now'.",
        examples=WINDOW_EXAMPLES,
    )
    alpha: float = Field(
        default=DEFAULT_ALPHA, gt=0, lt=1, description="Significance level of each test."
    )


class WindowPublic(BaseModel):
    """A time window and how many spans of it were compared."""

    since: datetime
    until: datetime
    spans: int

    @classmethod
    def of(cls, window: Window, spans: int) -> WindowPublic:
        """The wire shape of a window."""
        return cls(
            since=stored_time(window.since_ms), until=stored_time(window.until_ms), spans=spans
        )


class StatisticPublic(BaseModel):
    """One drift statistic: its test, p-value, effect size and each side's summary."""

    name: str
    test: str
    statistic: float | None
    p_value: float | None
    effect_size: float | None
    reference: float | None = Field(description="The reference side's summary (mean, rate).")
    current: float | None = Field(description="The current side's summary (mean, rate, MMD²).")
    reference_n: int
    current_n: int
    flagged: bool = Field(description="p_value < alpha.")
    note: str
    detail: dict[str, Any]

    @classmethod
    def of(cls, stat: Statistic) -> StatisticPublic:
        """The wire shape of a statistic (a non-finite number becomes null: JSON has none)."""
        data = {k: _finite(v) for k, v in stat.__dict__.items()}
        return cls.model_validate(data)


class DriftReportPublic(BaseModel):
    """The outcome of a drift check."""

    project: str
    verdict: Literal["drift", "no drift"]
    alpha: float
    reference: WindowPublic
    current: WindowPublic
    statistics: list[StatisticPublic]

    @classmethod
    def of(
        cls, project: str, report: DriftReport, reference: Window, current: Window
    ) -> DriftReportPublic:
        """The wire shape of a drift report."""
        return cls(
            project=project,
            verdict="drift" if report.drifted else "no drift",
            alpha=report.alpha,
            reference=WindowPublic.of(reference, report.reference_n),
            current=WindowPublic.of(current, report.current_n),
            statistics=[StatisticPublic.of(s) for s in report.statistics],
        )


class AlertRuleCreate(BaseModel):
    """A new alert rule: fire when ``metric`` over ``window_s`` compares true with
    ``threshold`` for ``for_count`` consecutive evaluations."""

    project: str = Field(default=DEFAULT_PROJECT, min_length=1, max_length=200)
    name: str = Field(min_length=1, max_length=200, examples=["p95 latency"])
    metric: Literal[
        "request_count",
        "error_count",
        "error_rate",
        "cost",
        "input_tokens",
        "output_tokens",
        "p50_latency_ms",
        "p95_latency_ms",
        "p99_latency_ms",
        "drift_p_value",
    ]
    window_s: int = Field(
        default=300, ge=MIN_WINDOW_S, le=MAX_WINDOW_S, description="Aggregation window (s)."
    )
    comparator: Literal[">", ">=", "<", "<="] = ">"
    threshold: float = Field(allow_inf_nan=False)
    for_count: int = Field(
        default=1, ge=1, le=1000, description="Consecutive breaching evaluations before firing."
    )
    webhook_url: str | None = Field(
        default=None, max_length=2000, description="POSTed a JSON event on fire and resolve."
    )

    def spec(self) -> RuleSpec:
        """The rule as the service takes it."""
        return RuleSpec(
            name=self.name,
            metric=self.metric,
            window_s=self.window_s,
            comparator=self.comparator,
            threshold=self.threshold,
            for_count=self.for_count,
            webhook_url=self.webhook_url,
        )


class AlertRulePublic(BaseModel):
    """A stored alert rule with its evaluation state."""

    id: int
    project: str
    name: str
    metric: str
    window_s: int
    comparator: str
    threshold: float
    for_count: int
    webhook_url: str | None
    state: Literal["ok", "firing"]
    breaches: int = Field(description="Consecutive breaching evaluations so far.")
    last_value: float | None
    last_evaluated_at: datetime | None
    last_error: str | None
    created_at: datetime
    created_by: str

    @classmethod
    def of(cls, rule: AlertRule) -> AlertRulePublic:
        """The wire shape of a rule."""
        return cls(
            id=rule.id,
            project=rule.project,
            **rule.spec.__dict__,
            state=rule.state,
            breaches=rule.breaches,
            last_value=_finite(rule.last_value),
            last_evaluated_at=rule.last_evaluated_at,
            last_error=rule.last_error,
            created_at=rule.created_at,
            created_by=rule.created_by,
        )


class AlertEventPublic(BaseModel):
    """A rule fired or resolved, with its webhook delivery outcome."""

    id: int
    rule_id: int
    rule_name: str
    metric: str
    kind: Literal["fired", "resolved"]
    value: float | None
    threshold: float
    at: datetime
    delivery: Literal["none", "pending", "delivered", "failed"]
    attempts: int
    delivery_error: str | None

    @classmethod
    def of(cls, event: AlertEvent) -> AlertEventPublic:
        """The wire shape of an event."""
        data = {k: _finite(v) for k, v in event.__dict__.items()}
        return cls.model_validate(data)
