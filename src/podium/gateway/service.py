"""Use cases of the gateway's control plane: routes, limits, canary steps, the YAML file.

Raises ``podium.errors``; knows nothing of HTTP. Every change to a route (put, delete, canary
promotion or rollback) is appended to the route history in the same transaction; automatic
rollbacks, which no REST call triggers, also append to the audit log themselves. The serving
path (``podium.gateway.dispatch``) reads routes through ``routes_snapshot`` and counts usage
through ``admit`` / ``charge``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from podium.access.audit import AuditLog
from podium.access.models import DEFAULT_PROJECT
from podium.access.service import ProjectService
from podium.errors import Conflict, InvalidInput, NotFound
from podium.gateway import sql
from podium.gateway.models import NAME_PATTERN, Limits, Route, RouteEvent, RouteSpec
from podium.store.clock import now_ms
from podium.store.engine import Database
from podium.yamlio import read_yaml

_NAME = re.compile(NAME_PATTERN)
MINUTE_MS = 60_000
DAY_MS = 86_400_000
MAX_EVENTS = 1000


def parse_spec(raw: Mapping[str, Any], route: str = "") -> RouteSpec:
    """Validate a route spec; ``InvalidInput`` naming the first bad field."""
    try:
        return RouteSpec.model_validate(dict(raw))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "spec"
        prefix = f"route {route!r}: " if route else ""
        # A validator's own message reads better without pydantic's "Value error, " label.
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        raise InvalidInput(f"{prefix}{where}: {message}", field=where) from exc


def _check_revision(name: str, current: Route | None, expected: int | None) -> None:
    if expected is None:
        return
    revision = current.revision if current is not None else 0
    if revision == expected:
        return
    if current is None:
        raise Conflict(f"route {name!r} was deleted meanwhile", field="revision")
    if expected == 0:
        raise Conflict(
            f"route {name!r} already exists (revision {revision}); edit it instead",
            field="name",
        )
    raise Conflict(
        f"route {name!r} changed meanwhile: it is at revision {revision} (by "
        f"{current.updated_by}), not {expected}",
        field="revision",
    )


def _month_start(now: int) -> int:
    moment = datetime.fromtimestamp(now / 1000, tz=UTC)
    start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return int(start.timestamp() * 1000)


class GatewayService:
    """Routes with history, per-project/per-key limits and usage counters."""

    def __init__(self, db: Database, projects: ProjectService, audit: AuditLog) -> None:
        self._db = db
        self._projects = projects
        self._audit = audit
        # Bumped on every local change so the serving path reloads at once (other processes
        # pick changes up within their snapshot TTL).
        self.generation = 0

    # -- routes -------------------------------------------------------------------------------

    def list_routes(self, project: str) -> list[Route]:
        """The project's routes by name (empty for an unknown project)."""
        try:
            owner = self._projects.by_name(project)
        except NotFound:
            return []
        with self._db.read() as conn:
            return sql.list_routes(conn, owner.id, owner.name)

    def get_route(self, project: str, name: str) -> Route:
        """One route; ``NotFound`` naming how to list them."""
        owner = self._projects.by_name(project)
        with self._db.read() as conn:
            found = sql.find_route(conn, owner.id, owner.name, name)
        if found is None:
            raise NotFound(
                f"route {name!r} not found in project {project!r}; list them with "
                "`podium gateway routes list`",
                field="name",
            )
        return found

    def put_route(
        self,
        project: str,
        name: str,
        spec: RouteSpec,
        *,
        actor: str,
        action: str = "put",
        expected_revision: int | None = None,
    ) -> Route:
        """Create or replace a route; an unchanged spec records nothing.

        ``expected_revision`` makes it a compare-and-swap: the route must still be at that
        revision (0: must not exist yet), else ``Conflict`` naming the current one.
        """
        if not _NAME.match(name):
            raise InvalidInput(
                f"route name {name!r} is not valid: use 1-200 letters, digits, '.', '_', ':', "
                "'@' or '-', starting with a letter or digit (e.g. chat-default)",
                field="name",
            )
        if name in spec.fallbacks:
            raise InvalidInput(f"route {name!r} cannot fall back to itself", field="fallbacks")
        owner = self._projects.ensure(project)
        dumped = spec.model_dump(mode="json")
        now = now_ms()
        with self._db.write() as conn:
            previous = sql.find_route(conn, owner.id, owner.name, name)
            _check_revision(name, previous, expected_revision)
            if previous is not None and previous.spec == spec:
                return previous
            sql.save_route(conn, owner.id, name, dumped, previous=previous, actor=actor, now=now)
            details: dict[str, Any] = {"spec": dumped}
            if previous is not None:
                details["previous_revision"] = previous.revision
            sql.add_event(
                conn,
                owner.id,
                name,
                actor=actor,
                action=("created" if previous is None else "updated")
                if action == "put"
                else action,
                details=details,
                now=now,
            )
            saved = sql.find_route(conn, owner.id, owner.name, name)
        self.generation += 1
        assert saved is not None
        return saved

    def delete_route(self, project: str, name: str, *, actor: str) -> None:
        """Delete a route (its history stays); ``NotFound`` when absent."""
        owner = self._projects.by_name(project)
        with self._db.write() as conn:
            if not sql.delete_route(conn, owner.id, name):
                raise NotFound(f"route {name!r} not found in project {project!r}", field="name")
            sql.add_event(
                conn, owner.id, name, actor=actor, action="deleted", details={}, now=now_ms()
            )
        self.generation += 1

    def history(self, project: str, route: str | None = None) -> list[RouteEvent]:
        """Route changes, newest first (of one route when given)."""
        try:
            owner = self._projects.by_name(project)
        except NotFound:
            return []
        with self._db.read() as conn:
            return sql.route_events(conn, owner.id, owner.name, route, MAX_EVENTS)

    def routes_snapshot(self) -> dict[tuple[str, str], Route]:
        """Every route of every project, keyed by (project, route name): the serving table."""
        out: dict[tuple[str, str], Route] = {}
        with self._db.read() as conn:
            for project_id, project in sql.project_names(conn).items():
                for route in sql.list_routes(conn, project_id, project):
                    out[(project, route.name)] = route
        return out

    # -- canary -------------------------------------------------------------------------------

    def promote_canary(self, project: str, name: str, *, actor: str, reason: str = "") -> Route:
        """Move the canary to its next step (100 % marks it promoted); ``Conflict`` if none."""
        route = self.get_route(project, name)
        canary = route.spec.canary
        if canary is None or canary.state != "rolling":
            raise Conflict(
                f"route {name!r} has no canary rolling out; put one with a 'canary' section",
                field="canary",
            )
        step = canary.step + 1
        state = "promoted" if step >= len(canary.steps) else "rolling"
        new = canary.model_copy(
            update={
                "step": min(step, len(canary.steps) - 1),
                "state": state,
                "stepped_at_ms": now_ms(),
            }
        )
        spec = route.spec.model_copy(update={"canary": new})
        return self._canary_change(route, spec, actor, "canary_promoted", reason)

    def rollback_canary(self, project: str, name: str, *, actor: str, reason: str = "") -> Route:
        """Send all traffic back to stable; ``Conflict`` when no canary is rolling out."""
        route = self.get_route(project, name)
        canary = route.spec.canary
        if canary is None or canary.state != "rolling":
            raise Conflict(f"route {name!r} has no canary rolling out", field="canary")
        new = canary.model_copy(update={"state": "rolled_back", "stepped_at_ms": now_ms()})
        spec = route.spec.model_copy(update={"canary": new})
        return self._canary_change(route, spec, actor, "canary_rolled_back", reason)

    def _canary_change(
        self, route: Route, spec: RouteSpec, actor: str, action: str, reason: str
    ) -> Route:
        owner = self._projects.by_name(route.project)
        dumped = spec.model_dump(mode="json")
        assert spec.canary is not None
        details = {"percent": spec.canary.percent, "state": spec.canary.state, "reason": reason}
        now = now_ms()
        with self._db.write() as conn:
            current = sql.find_route(conn, owner.id, owner.name, route.name)
            if current is None or current.revision != route.revision:
                raise Conflict(
                    f"route {route.name!r} changed meanwhile; read it again and retry",
                    field="name",
                )
            sql.save_route(
                conn, owner.id, route.name, dumped, previous=current, actor=actor, now=now
            )
            sql.add_event(
                conn, owner.id, route.name, actor=actor, action=action, details=details, now=now
            )
            if actor == "gateway":
                # No REST request carries this change, so the audit middleware cannot see it.
                self._audit.append_in(
                    conn,
                    actor=actor,
                    action=f"gateway.{action}",
                    object_type="gateway_route",
                    object_id=route.name,
                    project=route.project,
                    details=details,
                )
            saved = sql.find_route(conn, owner.id, owner.name, route.name)
        self.generation += 1
        assert saved is not None
        return saved

    # -- YAML ---------------------------------------------------------------------------------

    def apply_file(self, path: Path, *, actor: str) -> list[Route]:
        """Apply a YAML config file (``routes:`` list, see docs/gateway.md); the routes put."""
        return self.apply_config(read_yaml(path, field="file"), actor=actor)

    def apply_config(self, raw: Any, *, actor: str) -> list[Route]:
        """Apply a parsed config (``{"routes": [{"name", "project"?, ...spec}]}``)."""
        if not isinstance(raw, dict) or not isinstance(raw.get("routes"), list):
            raise InvalidInput(
                "gateway config must be a mapping with a 'routes' list; see docs/gateway.md",
                field="routes",
            )
        parsed: list[tuple[str, str, RouteSpec]] = []
        for index, item in enumerate(raw["routes"]):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                raise InvalidInput(f"routes[{index}] needs a 'name'", field=f"routes.{index}")
            body = dict(item)
            name = body.pop("name")
            project = body.pop("project", DEFAULT_PROJECT)
            parsed.append((str(project), name, parse_spec(body, name)))
        return [self.put_route(p, n, s, actor=actor) for p, n, s in parsed]

    # -- limits -------------------------------------------------------------------------------

    def list_limits(self, project: str) -> list[Limits]:
        """The project's limits."""
        try:
            owner = self._projects.by_name(project)
        except NotFound:
            return []
        with self._db.read() as conn:
            return sql.list_limits(conn, owner.id, owner.name)

    def set_limits(self, limits: Limits) -> Limits:
        """Set the limits of one scope (``project`` or ``key:<prefix>``)."""
        if limits.scope != "project" and not limits.scope.startswith("key:"):
            raise InvalidInput(
                "scope must be 'project' or 'key:<key prefix>' (see `podium keys list`)",
                field="scope",
            )
        owner = self._projects.ensure(limits.project)
        with self._db.write() as conn:
            sql.save_limits(conn, owner.id, limits)
        self.generation += 1
        return limits

    def delete_limits(self, project: str, scope: str) -> None:
        """Remove the limits of one scope; ``NotFound`` when none were set."""
        owner = self._projects.by_name(project)
        with self._db.write() as conn:
            if not sql.delete_limits(conn, owner.id, scope):
                raise NotFound(f"no limits for scope {scope!r} in project {project!r}")
        self.generation += 1

    def limits_snapshot(self) -> dict[str, list[Limits]]:
        """Every project's limits, keyed by project name."""
        with self._db.read() as conn:
            return sql.all_limits(conn)

    def admit(self, limits: list[Limits], key: str | None, now: int) -> tuple[str, int] | None:
        """Count one request against ``limits``: None if admitted, else (reason, retry-after s).

        Requests per minute are counted atomically (no over-admission); tokens per minute and
        cost budgets are checked against what finished requests used (``charge``), so at most
        one request per limiter can overshoot them.
        """
        minute = now - now % MINUTE_MS
        day = now - now % DAY_MS
        month = _month_start(now)
        applicable = _applicable(limits, key)
        try:
            with self._db.write() as conn:
                for lim in applicable:
                    base = f"{lim.project}/{lim.scope}"
                    tpm, daily, monthly = (
                        lim.tokens_per_minute,
                        lim.cost_per_day,
                        lim.cost_per_month,
                    )
                    if tpm is not None and sql.usage(conn, f"{base}/tpm", minute) >= tpm:
                        return f"tokens per minute ({lim.scope}): {tpm}", _secs(
                            minute + MINUTE_MS - now
                        )
                    if daily is not None and sql.usage(conn, f"{base}/day", day) >= daily:
                        return f"daily budget ({lim.scope}): ${daily}", _secs(day + DAY_MS - now)
                    if monthly is not None and sql.usage(conn, f"{base}/month", month) >= monthly:
                        return f"monthly budget ({lim.scope}): ${monthly}", _secs(DAY_MS)
                for lim in applicable:
                    rpm = lim.requests_per_minute
                    if rpm is not None and not sql.try_consume(
                        conn, f"{lim.project}/{lim.scope}/rpm", minute, 1, rpm
                    ):
                        # Raising rolls back what this request took from the other scopes.
                        raise _Refused(
                            f"requests per minute ({lim.scope}): {rpm}",
                            _secs(minute + MINUTE_MS - now),
                        )
        except _Refused as refused:
            return refused.reason, refused.retry_after
        return None

    def charge(
        self, limits: list[Limits], key: str | None, tokens: int, cost: float, now: int
    ) -> None:
        """Add a finished request's tokens and cost to its token and budget counters."""
        minute = now - now % MINUTE_MS
        with self._db.write() as conn:
            for lim in _applicable(limits, key):
                base = f"{lim.project}/{lim.scope}"
                if lim.tokens_per_minute is not None and tokens:
                    sql.add_usage(conn, f"{base}/tpm", minute, tokens)
                if cost:
                    if lim.cost_per_day is not None:
                        sql.add_usage(conn, f"{base}/day", now - now % DAY_MS, cost)
                    if lim.cost_per_month is not None:
                        sql.add_usage(conn, f"{base}/month", _month_start(now), cost)


class _Refused(Exception):
    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def _secs(ms: int) -> int:
    return max(1, -(-ms // 1000))


def _applicable(limits: list[Limits], key: str | None) -> list[Limits]:
    return [lim for lim in limits if lim.scope == "project" or (key and lim.scope == f"key:{key}")]
