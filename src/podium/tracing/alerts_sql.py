"""Tables and queries of alerting: ``alert_rules`` (with each rule's evaluation state) and
``alert_events`` (fired / resolved, with the webhook delivery outcome).

A rule's state moves with a compare-and-set update (``WHERE breaches = … AND state = …``), so
when several server replicas evaluate the same rule at once only one records the transition.

Every function takes a ``Connection`` and returns models; rows never leave this module.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from podium.access.sql import projects
from podium.store.clock import from_ms, stored_time
from podium.store.columns import BigId, EpochMillis
from podium.store.metadata import metadata
from podium.tracing.alerts import AlertEvent, AlertRule, RuleSpec

alert_rules = Table(
    "alert_rules",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("metric", String(32), nullable=False),
    Column("window_s", Integer, nullable=False),
    Column("comparator", String(2), nullable=False),
    Column("threshold", Float, nullable=False),
    Column("for_count", Integer, nullable=False),
    Column("webhook_url", String(2000), nullable=True),
    Column("state", String(8), nullable=False),  # "ok" or "firing"
    Column("breaches", Integer, nullable=False),  # consecutive breaching evaluations
    Column("last_value", Float, nullable=True),
    Column("last_evaluated_at", EpochMillis, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", EpochMillis, nullable=False),
    Column("created_by", String(200), nullable=False),
    UniqueConstraint("project_id", "name"),
)

alert_events = Table(
    "alert_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("rule_id", BigId, ForeignKey("alert_rules.id", ondelete="CASCADE"), nullable=False),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(8), nullable=False),  # "fired" or "resolved"
    Column("value", Float, nullable=True),
    Column("threshold", Float, nullable=False),
    Column("at", EpochMillis, nullable=False),
    Column("delivery", String(16), nullable=False),  # none, pending, delivered, failed
    Column("attempts", Integer, nullable=False),
    Column("delivery_error", Text, nullable=True),
    Index(None, "project_id", "at"),
    Index(None, "rule_id", "at"),
)


def _rule_query() -> Any:
    return select(alert_rules, projects.c.name.label("project")).join(
        projects, projects.c.id == alert_rules.c.project_id
    )


def _rule(row: Any) -> AlertRule:
    return AlertRule(
        id=row.id,
        project=row.project,
        spec=RuleSpec(
            name=row.name,
            metric=row.metric,
            window_s=row.window_s,
            comparator=row.comparator,
            threshold=row.threshold,
            for_count=row.for_count,
            webhook_url=row.webhook_url,
        ),
        state=row.state,
        breaches=row.breaches,
        last_value=row.last_value,
        last_evaluated_at=from_ms(row.last_evaluated_at),
        last_error=row.last_error,
        created_at=stored_time(row.created_at),
        created_by=row.created_by,
    )


def insert_rule(
    conn: Connection, project_id: int, spec: RuleSpec, at_ms: int, actor: str
) -> int | None:
    """Store a new rule; its id, or None when the project already has a rule of that name."""
    values = {
        "project_id": project_id,
        "name": spec.name,
        "metric": spec.metric,
        "window_s": spec.window_s,
        "comparator": spec.comparator,
        "threshold": spec.threshold,
        "for_count": spec.for_count,
        "webhook_url": spec.webhook_url,
        "state": "ok",
        "breaches": 0,
        "created_at": at_ms,
        "created_by": actor,
    }
    try:
        with conn.begin_nested():
            inserted = conn.execute(alert_rules.insert().values(**values))
    except IntegrityError:
        return None
    key = inserted.inserted_primary_key
    return int(key[0]) if key is not None else None


def list_rules(conn: Connection, project_id: int | None = None) -> list[AlertRule]:
    """The rules of one project (or of every project), by name."""
    query = _rule_query()
    if project_id is not None:
        query = query.where(alert_rules.c.project_id == project_id)
    rows = conn.execute(query.order_by(projects.c.name, alert_rules.c.name))
    return [_rule(r) for r in rows]


def find_rule(conn: Connection, project_id: int, rule_id: int) -> AlertRule | None:
    """One rule of the project, or None."""
    row = conn.execute(
        _rule_query().where(alert_rules.c.project_id == project_id, alert_rules.c.id == rule_id)
    ).first()
    return _rule(row) if row is not None else None


def delete_rule(conn: Connection, project_id: int, rule_id: int) -> bool:
    """Delete a rule and its events; whether it existed."""
    conn.execute(delete(alert_events).where(alert_events.c.rule_id == rule_id))
    done = conn.execute(
        delete(alert_rules).where(
            alert_rules.c.project_id == project_id, alert_rules.c.id == rule_id
        )
    )
    return done.rowcount > 0


def record_evaluation(
    conn: Connection,
    rule: AlertRule,
    *,
    state: str,
    breaches: int,
    value: float | None,
    error: str | None,
    at_ms: int,
) -> bool:
    """Move the rule to its new state if nobody else moved it since ``rule`` was read."""
    done = conn.execute(
        update(alert_rules)
        .where(
            alert_rules.c.id == rule.id,
            alert_rules.c.state == rule.state,
            alert_rules.c.breaches == rule.breaches,
        )
        .values(
            state=state,
            breaches=breaches,
            last_value=value,
            last_error=error,
            last_evaluated_at=at_ms,
        )
    )
    return done.rowcount > 0


def insert_event(
    conn: Connection,
    rule: AlertRule,
    project_id: int,
    kind: str,
    value: float | None,
    at_ms: int,
) -> int:
    """Record a fired or resolved event; its id. Delivery starts as pending (none without a
    webhook)."""
    inserted = conn.execute(
        alert_events.insert().values(
            rule_id=rule.id,
            project_id=project_id,
            kind=kind,
            value=value,
            threshold=rule.spec.threshold,
            at=at_ms,
            delivery="pending" if rule.spec.webhook_url else "none",
            attempts=0,
        )
    )
    key = inserted.inserted_primary_key
    assert key is not None
    return int(key[0])


def record_delivery(
    conn: Connection, event_id: int, status: str, attempts: int, error: str | None
) -> None:
    """Store how the event's webhook delivery ended."""
    conn.execute(
        update(alert_events)
        .where(alert_events.c.id == event_id)
        .values(delivery=status, attempts=attempts, delivery_error=error)
    )


def list_events(
    conn: Connection, project_id: int, rule_id: int | None, offset: int, limit: int
) -> list[AlertEvent]:
    """The project's events (of one rule if given), newest first."""
    e = alert_events.c
    query = (
        select(alert_events, alert_rules.c.name.label("rule_name"), alert_rules.c.metric)
        .join(alert_rules, alert_rules.c.id == e.rule_id)
        .where(e.project_id == project_id)
    )
    if rule_id is not None:
        query = query.where(e.rule_id == rule_id)
    rows = conn.execute(query.order_by(e.at.desc(), e.id.desc()).offset(offset).limit(limit))
    return [
        AlertEvent(
            id=r.id,
            rule_id=r.rule_id,
            rule_name=r.rule_name,
            metric=r.metric,
            kind=r.kind,
            value=r.value,
            threshold=r.threshold,
            at=stored_time(r.at),
            delivery=r.delivery,
            attempts=r.attempts,
            delivery_error=r.delivery_error,
        )
        for r in rows
    ]
