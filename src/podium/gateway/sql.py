"""Tables and queries of the gateway: routes, route history, limits and usage windows.

``gateway_routes`` holds one row per public model name in a project, its spec (deployments,
reliability, cache, canary) as JSON and a revision number bumped on each change.
``gateway_route_events`` is the append-only history of those changes. ``gateway_limits`` holds the
per-project and per-key limits; ``gateway_usage`` one counter row per limiter and time window,
updated with a single conditional ``UPDATE … WHERE used + n <= limit`` so that several server
processes sharing PostgreSQL never admit more than the limit.

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
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from podium.access.sql import projects
from podium.gateway.models import Limits, Route, RouteEvent, RouteSpec
from podium.store.clock import stored_time
from podium.store.columns import BigId, EpochMillis, Json
from podium.store.metadata import metadata

gateway_routes = Table(
    "gateway_routes",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("spec", Json, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("created_at", EpochMillis, nullable=False),
    Column("updated_at", EpochMillis, nullable=False),
    Column("updated_by", String(200), nullable=False),
    UniqueConstraint("project_id", "name"),
)

gateway_route_events = Table(
    "gateway_route_events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("route", String(200), nullable=False),
    Column("at", EpochMillis, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(50), nullable=False),
    Column("details", Json, nullable=False),
    Index(None, "project_id", "route", "at"),
)

gateway_limits = Table(
    "gateway_limits",
    metadata,
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("scope", String(100), nullable=False),  # "project" or "key:<prefix>"
    Column("requests_per_minute", Integer, nullable=True),
    Column("tokens_per_minute", Integer, nullable=True),
    Column("cost_per_day", Float, nullable=True),
    Column("cost_per_month", Float, nullable=True),
    PrimaryKeyConstraint("project_id", "scope"),
)

gateway_usage = Table(
    "gateway_usage",
    metadata,
    # "<project id>/<scope>/<kind>", kind one of rpm, tpm, day, month
    Column("limiter", String(200), nullable=False),
    Column("window_start", EpochMillis, nullable=False),
    Column("used", Float, nullable=False),
    PrimaryKeyConstraint("limiter", "window_start"),
)


def _insert(conn: Connection, table: Table) -> Any:
    return (sqlite if conn.dialect.name == "sqlite" else postgresql).insert(table)


def _route(row: Any, project: str) -> Route:
    return Route(
        project=project,
        name=row.name,
        spec=RouteSpec.model_validate(row.spec),
        revision=row.revision,
        created_at=stored_time(row.created_at),
        updated_at=stored_time(row.updated_at),
        updated_by=row.updated_by,
    )


def list_routes(conn: Connection, project_id: int, project: str) -> list[Route]:
    """The project's routes by name."""
    rows = conn.execute(
        select(gateway_routes)
        .where(gateway_routes.c.project_id == project_id)
        .order_by(gateway_routes.c.name)
    )
    return [_route(row, project) for row in rows]


def find_route(conn: Connection, project_id: int, project: str, name: str) -> Route | None:
    """The route ``name`` of the project, or None."""
    row = conn.execute(
        select(gateway_routes).where(
            gateway_routes.c.project_id == project_id, gateway_routes.c.name == name
        )
    ).first()
    return _route(row, project) if row is not None else None


def save_route(
    conn: Connection,
    project_id: int,
    name: str,
    spec: dict[str, Any],
    *,
    previous: Route | None,
    actor: str,
    now: int,
) -> None:
    """Insert the route, or update it when ``previous`` is given (revision + 1)."""
    if previous is None:
        conn.execute(
            insert(gateway_routes).values(
                project_id=project_id,
                name=name,
                spec=spec,
                revision=1,
                created_at=now,
                updated_at=now,
                updated_by=actor,
            )
        )
        return
    conn.execute(
        update(gateway_routes)
        .where(gateway_routes.c.project_id == project_id, gateway_routes.c.name == name)
        .values(spec=spec, revision=previous.revision + 1, updated_at=now, updated_by=actor)
    )


def delete_route(conn: Connection, project_id: int, name: str) -> bool:
    """Delete the route; whether it existed."""
    result = conn.execute(
        delete(gateway_routes).where(
            gateway_routes.c.project_id == project_id, gateway_routes.c.name == name
        )
    )
    return bool(result.rowcount)


def add_event(
    conn: Connection,
    project_id: int,
    route: str,
    *,
    actor: str,
    action: str,
    details: dict[str, Any],
    now: int,
) -> None:
    """Append one change to the route history."""
    conn.execute(
        insert(gateway_route_events).values(
            project_id=project_id, route=route, at=now, actor=actor, action=action, details=details
        )
    )


def route_events(
    conn: Connection, project_id: int, project: str, route: str | None, limit: int
) -> list[RouteEvent]:
    """The newest changes (to one route when ``route`` is given), newest first."""
    query = select(gateway_route_events).where(gateway_route_events.c.project_id == project_id)
    if route is not None:
        query = query.where(gateway_route_events.c.route == route)
    rows = conn.execute(
        query.order_by(gateway_route_events.c.at.desc(), gateway_route_events.c.id.desc()).limit(
            limit
        )
    )
    return [
        RouteEvent(
            id=row.id,
            project=project,
            route=row.route,
            at=stored_time(row.at),
            actor=row.actor,
            action=row.action,
            details=dict(row.details),
        )
        for row in rows
    ]


def project_names(conn: Connection) -> dict[int, str]:
    """Project id -> name, for every project that has routes."""
    rows = conn.execute(
        select(projects.c.id, projects.c.name).where(
            projects.c.id.in_(select(gateway_routes.c.project_id))
        )
    )
    return {row.id: row.name for row in rows}


# -- limits ------------------------------------------------------------------------------------


def _limits(row: Any, project: str) -> Limits:
    return Limits(
        scope=row.scope,
        project=project,
        requests_per_minute=row.requests_per_minute,
        tokens_per_minute=row.tokens_per_minute,
        cost_per_day=row.cost_per_day,
        cost_per_month=row.cost_per_month,
    )


def list_limits(conn: Connection, project_id: int, project: str) -> list[Limits]:
    """The project's limits (project-wide and per key)."""
    rows = conn.execute(
        select(gateway_limits)
        .where(gateway_limits.c.project_id == project_id)
        .order_by(gateway_limits.c.scope)
    )
    return [_limits(row, project) for row in rows]


def save_limits(conn: Connection, project_id: int, limits: Limits) -> None:
    """Insert or replace the limits of one scope."""
    values = {
        "requests_per_minute": limits.requests_per_minute,
        "tokens_per_minute": limits.tokens_per_minute,
        "cost_per_day": limits.cost_per_day,
        "cost_per_month": limits.cost_per_month,
    }
    statement = _insert(conn, gateway_limits).values(
        project_id=project_id, scope=limits.scope, **values
    )
    conn.execute(
        statement.on_conflict_do_update(index_elements=["project_id", "scope"], set_=values)
    )


def delete_limits(conn: Connection, project_id: int, scope: str) -> bool:
    """Remove the limits of one scope; whether they existed."""
    result = conn.execute(
        delete(gateway_limits).where(
            gateway_limits.c.project_id == project_id, gateway_limits.c.scope == scope
        )
    )
    return bool(result.rowcount)


def try_consume(
    conn: Connection, limiter: str, window_start: int, amount: float, cap: float
) -> bool:
    """Add ``amount`` to the window's counter if it stays within ``cap``; whether it did.

    The row is created first (a no-op when it exists), then one conditional ``UPDATE`` both
    checks and adds: the database serialises concurrent updates of the row, so two processes can
    never both pass the check with the last unit of the limit.
    """
    conn.execute(
        _insert(conn, gateway_usage)
        .values(limiter=limiter, window_start=window_start, used=0.0)
        .on_conflict_do_nothing(index_elements=["limiter", "window_start"])
    )
    result = conn.execute(
        update(gateway_usage)
        .where(
            gateway_usage.c.limiter == limiter,
            gateway_usage.c.window_start == window_start,
            gateway_usage.c.used + amount <= cap,
        )
        .values(used=gateway_usage.c.used + amount)
    )
    return bool(result.rowcount)


def add_usage(conn: Connection, limiter: str, window_start: int, amount: float) -> None:
    """Add ``amount`` to the window's counter unconditionally (tokens and cost, after a call)."""
    statement = _insert(conn, gateway_usage).values(
        limiter=limiter, window_start=window_start, used=amount
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=["limiter", "window_start"],
            set_={"used": gateway_usage.c.used + amount},
        )
    )


def usage(conn: Connection, limiter: str, window_start: int) -> float:
    """The window's counter (0 when nothing was used yet)."""
    value = conn.execute(
        select(gateway_usage.c.used).where(
            gateway_usage.c.limiter == limiter, gateway_usage.c.window_start == window_start
        )
    ).scalar()
    return float(value or 0.0)


def all_limits(conn: Connection) -> dict[str, list[Limits]]:
    """Every project's limits, keyed by project name."""
    rows = conn.execute(
        select(gateway_limits, projects.c.name.label("project_name"))
        .join(projects, projects.c.id == gateway_limits.c.project_id)
        .order_by(projects.c.name, gateway_limits.c.scope)
    )
    out: dict[str, list[Limits]] = {}
    for row in rows:
        out.setdefault(row.project_name, []).append(_limits(row, row.project_name))
    return out
