"""Use cases of alerting: manage rules, evaluate them, record events and post webhooks; and the
background evaluator the server runs.

Raises ``podium.errors``; knows nothing of HTTP. An evaluation reads each rule's metric through
``MonitoringService``, moves the rule's state in one short write transaction, and posts the
resulting event's webhook after that transaction has committed (a slow receiver never holds a
database lock); the delivery outcome is then recorded on the event.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import Any

from podium.access.service import ProjectService
from podium.errors import Conflict, NotFound, PodiumError
from podium.store.clock import now_ms
from podium.store.engine import Database
from podium.tracing import alerts_sql as sql
from podium.tracing.alerts import (
    DRIFT_REFERENCE_WINDOWS,
    AlertEvent,
    AlertRule,
    RuleSpec,
    check_spec,
    next_state,
)
from podium.tracing.drift import Window
from podium.tracing.monitoring_service import MonitoringService
from podium.tracing.webhooks import WebhookSender

log = logging.getLogger(__name__)


class AlertService:
    """Alert rules, their evaluation and their events, over one database."""

    def __init__(
        self,
        db: Database,
        projects: ProjectService,
        monitoring: MonitoringService,
        webhooks: WebhookSender,
    ) -> None:
        self._db = db
        self._projects = projects
        self._monitoring = monitoring
        self.webhooks = webhooks

    def create_rule(self, project: str, spec: RuleSpec, actor: str) -> AlertRule:
        """Store a rule in ``project`` (created if missing); ``Conflict`` if the name is taken."""
        check_spec(spec)
        owner = self._projects.ensure(project)
        with self._db.write() as conn:
            rule_id = sql.insert_rule(conn, owner.id, spec, now_ms(), actor)
            if rule_id is None:
                raise Conflict(
                    f"project {project!r} already has an alert rule named {spec.name!r}; pick "
                    "another name or delete it with `podium alerts delete`",
                    field="name",
                )
            found = sql.find_rule(conn, owner.id, rule_id)
        assert found is not None
        return found

    def list_rules(self, project: str) -> list[AlertRule]:
        """The project's rules, by name (none for a project that does not exist yet)."""
        try:
            owner = self._projects.by_name(project)
        except NotFound:
            return []
        with self._db.read() as conn:
            return sql.list_rules(conn, owner.id)

    def get_rule(self, project: str, rule_id: int) -> AlertRule:
        """One rule of the project; ``NotFound`` if it has none with that id."""
        owner = self._projects.by_name(project)
        with self._db.read() as conn:
            found = sql.find_rule(conn, owner.id, rule_id)
        if found is None:
            raise _missing(project, rule_id)
        return found

    def delete_rule(self, project: str, rule_id: int) -> None:
        """Delete a rule and its events; ``NotFound`` if the project has no such rule."""
        owner = self._projects.by_name(project)
        with self._db.write() as conn:
            if not sql.delete_rule(conn, owner.id, rule_id):
                raise _missing(project, rule_id)

    def events(
        self, project: str, rule_id: int | None, offset: int, limit: int
    ) -> list[AlertEvent]:
        """The project's alert events, newest first (of one rule if given)."""
        try:
            owner = self._projects.by_name(project)
        except NotFound:
            return []
        with self._db.read() as conn:
            return sql.list_events(conn, owner.id, rule_id, offset, limit)

    def all_rules(self) -> list[AlertRule]:
        """Every rule of every project (the evaluator's and the metrics' view)."""
        with self._db.read() as conn:
            return sql.list_rules(conn)

    def evaluate(self, project: str | None = None, at_ms: int | None = None) -> list[AlertEvent]:
        """Evaluate the rules (of one project, or all) once; the events this produced."""
        at = now_ms() if at_ms is None else at_ms
        rules = self.list_rules(project) if project is not None else self.all_rules()
        produced: list[int] = []
        touched: dict[int, str] = {}
        for rule in rules:
            event_id = self._evaluate_rule(rule, at)
            if event_id is not None:
                produced.append(event_id)
                touched[event_id] = rule.project
        found: list[AlertEvent] = []
        for project_name in sorted(set(touched.values())):
            found += [e for e in self.events(project_name, None, 0, 1000) if e.id in touched]
        return sorted(found, key=lambda e: e.id)

    def measure(self, rule: AlertRule, at_ms: int) -> float | None:
        """The rule's metric over its window ending at ``at_ms`` (None: no value)."""
        spec = rule.spec
        if spec.metric == "drift_p_value":
            width = spec.window_s * 1000
            current = Window(at_ms - width, at_ms)
            reference = Window(at_ms - width * (1 + DRIFT_REFERENCE_WINDOWS), at_ms - width)
            report = self._monitoring.drift(rule.project, reference, current, 0.01)
            values = [s.p_value for s in report.statistics if s.p_value is not None]
            return min(values) if values else None
        figures = self._monitoring.figures(rule.project, spec.window_s, at_ms)
        by_metric: dict[str, float | None] = {
            "request_count": float(figures.requests),
            "error_count": float(figures.errors),
            "error_rate": figures.error_rate,
            "cost": figures.cost_usd,
            "input_tokens": float(figures.input_tokens),
            "output_tokens": float(figures.output_tokens),
            "p50_latency_ms": figures.latency_p50_ms,
            "p95_latency_ms": figures.latency_p95_ms,
            "p99_latency_ms": figures.latency_p99_ms,
        }
        return by_metric[spec.metric]

    def _evaluate_rule(self, rule: AlertRule, at_ms: int) -> int | None:
        error: str | None = None
        try:
            value = self.measure(rule, at_ms)
        except PodiumError as exc:
            value, error = None, exc.message
        transition = next_state(rule, value)
        event_id: int | None = None
        owner = self._projects.by_name(rule.project)
        with self._db.write() as conn:
            moved = sql.record_evaluation(
                conn,
                rule,
                state=transition.state,
                breaches=transition.breaches,
                value=value,
                error=error,
                at_ms=at_ms,
            )
            if moved and transition.event is not None:
                event_id = sql.insert_event(conn, rule, owner.id, transition.event, value, at_ms)
        if event_id is not None and rule.spec.webhook_url:
            payload = _payload(rule, transition.event or "", value, at_ms, event_id)
            delivery = self.webhooks.send(rule.spec.webhook_url, payload)
            with self._db.write() as conn:
                sql.record_delivery(
                    conn, event_id, delivery.status, delivery.attempts, delivery.error
                )
        return event_id


def _payload(
    rule: AlertRule, kind: str, value: float | None, at_ms: int, event_id: int
) -> dict[str, Any]:
    spec = rule.spec
    verb = "firing" if kind == "fired" else "resolved"
    return {
        "event_id": event_id,
        "event": kind,
        "project": rule.project,
        "rule": spec.name,
        "rule_id": rule.id,
        "metric": spec.metric,
        "comparator": spec.comparator,
        "threshold": spec.threshold,
        "window_s": spec.window_s,
        "value": value,
        "at": datetime.fromtimestamp(at_ms / 1000, tz=UTC).isoformat(),
        "summary": f"[{rule.project}] {spec.name} {verb}: {spec.metric} = {value} "
        f"({spec.comparator} {spec.threshold} over {spec.window_s}s)",
    }


def _missing(project: str, rule_id: int) -> NotFound:
    return NotFound(
        f"alert rule {rule_id} not found in project {project!r}; list rules with "
        "`podium alerts list`",
        field="rule_id",
    )


class AlertEvaluator:
    """A daemon thread evaluating every rule each ``interval_s`` seconds (the server runs one).

    ``start`` and ``stop`` are idempotent; an evaluation that fails is logged and the next one
    runs as planned.
    """

    def __init__(self, alerts: AlertService, interval_s: float) -> None:
        self._alerts = alerts
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.runs = 0

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start evaluating in the background (no-op when already running)."""
        with self._lock:
            if self.running:
                return
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._loop, name="podium-alert-evaluator", daemon=True
            )
            self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the thread and wait for a running evaluation to finish."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None:
            thread.join(timeout_s)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._alerts.evaluate()
            except Exception:  # keep evaluating: one bad pass must not end alerting
                log.exception("alert evaluation failed")
            self.runs += 1
