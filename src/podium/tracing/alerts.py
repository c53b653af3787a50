"""Alert rules and events, and the rule arithmetic: what a rule watches and when it fires.

No I/O here. A rule watches one ``metric`` of its project's traces over the last ``window_s``
seconds, compares it with ``threshold`` (``comparator``), and fires once the comparison has held
for ``for_count`` consecutive evaluations; it resolves at the first evaluation where it no
longer holds. Each transition is an ``AlertEvent``, posted to the rule's webhook if it has one.

Metrics (all over the rule's window):

- ``request_count``, ``error_count``, ``error_rate`` (0..1), ``cost`` (USD),
  ``input_tokens``, ``output_tokens``;
- ``p50_latency_ms``, ``p95_latency_ms``, ``p99_latency_ms`` (no value without traffic, so
  never breaching);
- ``drift_p_value``: the smallest p-value of a drift check of the window against the seven
  windows before it (``podium.tracing.drift``); e.g. ``drift_p_value < 0.01``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from podium.errors import InvalidInput

METRICS: tuple[str, ...] = (
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
)
COMPARATORS: tuple[str, ...] = (">", ">=", "<", "<=")
MIN_WINDOW_S = 10
MAX_WINDOW_S = 30 * 86400
DRIFT_REFERENCE_WINDOWS = 7
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,199}$")


@dataclass(frozen=True)
class RuleSpec:
    """What a rule watches: the user's part of a rule."""

    name: str
    metric: str
    window_s: int
    comparator: str
    threshold: float
    for_count: int = 1
    webhook_url: str | None = None


@dataclass(frozen=True)
class AlertRule:
    """A stored rule with its evaluation state."""

    id: int
    project: str
    spec: RuleSpec
    state: str  # "ok" or "firing"
    breaches: int  # consecutive evaluations where the comparison held
    last_value: float | None
    last_evaluated_at: datetime | None
    last_error: str | None
    created_at: datetime
    created_by: str


@dataclass(frozen=True)
class AlertEvent:
    """A rule fired or resolved, and how its webhook delivery went."""

    id: int
    rule_id: int
    rule_name: str
    metric: str
    kind: str  # "fired" or "resolved"
    value: float | None
    threshold: float
    at: datetime
    delivery: str  # "none" (no webhook), "pending", "delivered" or "failed"
    attempts: int
    delivery_error: str | None


@dataclass(frozen=True)
class Transition:
    """The outcome of one evaluation of a rule: its new state and the event, if any."""

    state: str
    breaches: int
    event: str | None  # "fired", "resolved" or None


def check_spec(spec: RuleSpec) -> RuleSpec:
    """``spec`` if valid; ``InvalidInput`` naming the field and the fix otherwise."""
    if not _NAME.match(spec.name):
        raise InvalidInput(
            "name must be 1-200 letters, digits, spaces, '.', '_' or '-', starting with a letter "
            "or digit",
            field="name",
        )
    if spec.metric not in METRICS:
        raise InvalidInput(
            f"metric must be one of {', '.join(METRICS)}, not {spec.metric!r}", field="metric"
        )
    if spec.comparator not in COMPARATORS:
        raise InvalidInput(
            f"comparator must be one of {' '.join(COMPARATORS)}, not {spec.comparator!r}",
            field="comparator",
        )
    if not MIN_WINDOW_S <= spec.window_s <= MAX_WINDOW_S:
        raise InvalidInput(
            f"window_s must be between {MIN_WINDOW_S} and {MAX_WINDOW_S} seconds",
            field="window_s",
        )
    if not 1 <= spec.for_count <= 1000:
        raise InvalidInput("for_count must be between 1 and 1000 evaluations", field="for_count")
    url = spec.webhook_url
    if url is not None and not (re.match(r"^https?://[^\s/]+\S*$", url) and url.isprintable()):
        raise InvalidInput(
            "webhook_url must be an http:// or https:// URL, e.g. https://hooks.example.com/x",
            field="webhook_url",
        )
    return spec


def breached(value: float | None, comparator: str, threshold: float) -> bool:
    """Whether ``value`` satisfies the rule's comparison (never without a value)."""
    if value is None:
        return False
    if comparator == ">":
        return value > threshold
    if comparator == ">=":
        return value >= threshold
    if comparator == "<":
        return value < threshold
    return value <= threshold


def next_state(rule: AlertRule, value: float | None) -> Transition:
    """Where one evaluation with ``value`` takes the rule."""
    if breached(value, rule.spec.comparator, rule.spec.threshold):
        breaches = rule.breaches + 1
        if rule.state == "ok" and breaches >= rule.spec.for_count:
            return Transition("firing", breaches, "fired")
        return Transition(rule.state, breaches, None)
    if rule.state == "firing":
        return Transition("ok", 0, "resolved")
    return Transition("ok", 0, None)
