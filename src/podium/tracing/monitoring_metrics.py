"""Per-project trace figures and alert states for Prometheus, as a custom collector.

Registered on the app's ``CollectorRegistry`` (``podium.server.observability`` serves it at
``/metrics``). Each scrape computes, for every project, the figures of the traces that started in
the last ``window_s`` seconds (``PODIUM_METRICS_WINDOW_S``) with the same queries as the alert
rules, so a Prometheus alert and a Podium alert on the same figure agree. All are gauges: they
describe a sliding window, not an ever-growing count.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from podium.tracing.alerts_service import AlertService
from podium.tracing.monitoring_service import MonitoringService

QUANTILES = (("0.5", "latency_p50_ms"), ("0.95", "latency_p95_ms"), ("0.99", "latency_p99_ms"))


class TraceFiguresCollector(Collector):
    """Yields the recent-window trace figures of every project and the alert rule states."""

    def __init__(self, monitoring: MonitoringService, alerts: AlertService, window_s: int) -> None:
        self._monitoring = monitoring
        self._alerts = alerts
        self._window_s = window_s

    def describe(self) -> list[Any]:
        """Nothing up front: describing would query the database at registration."""
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The figures, computed now."""
        window = self._window_s
        during = f" that started in the last {window} s"
        requests = GaugeMetricFamily(
            "podium_trace_requests", "Traces" + during + ".", labels=["project"]
        )
        errors = GaugeMetricFamily(
            "podium_trace_errors", "Failed traces" + during + ".", labels=["project"]
        )
        error_rate = GaugeMetricFamily(
            "podium_trace_error_rate", "Share of failed traces" + during + ".", labels=["project"]
        )
        tokens = GaugeMetricFamily(
            "podium_trace_tokens",
            "Tokens of the traces" + during + ", by direction.",
            labels=["project", "direction"],
        )
        cost = GaugeMetricFamily(
            "podium_trace_cost_usd", "Cost (USD) of the traces" + during + ".", labels=["project"]
        )
        latency = GaugeMetricFamily(
            "podium_trace_latency_ms",
            "Latency quantiles (ms) of the traces" + during + ".",
            labels=["project", "quantile"],
        )
        for project in self._monitoring.project_names():
            figures = self._monitoring.figures(project, window)
            requests.add_metric([project], figures.requests)
            errors.add_metric([project], figures.errors)
            error_rate.add_metric([project], figures.error_rate)
            tokens.add_metric([project, "input"], figures.input_tokens)
            tokens.add_metric([project, "output"], figures.output_tokens)
            cost.add_metric([project], figures.cost_usd)
            for quantile, name in QUANTILES:
                value = getattr(figures, name)
                if value is not None:
                    latency.add_metric([project, quantile], value)
        firing = GaugeMetricFamily(
            "podium_alert_firing",
            "1 while the alert rule is firing, else 0.",
            labels=["project", "rule", "metric"],
        )
        for rule in self._alerts.all_rules():
            firing.add_metric(
                [rule.project, rule.spec.name, rule.spec.metric], 1 if rule.state == "firing" else 0
            )
        window_gauge = GaugeMetricFamily(
            "podium_trace_window_seconds", "Width of the window of the podium_trace_* figures."
        )
        window_gauge.add_metric([], window)
        yield from (requests, errors, error_rate, tokens, cost, latency, firing, window_gauge)
