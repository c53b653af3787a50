"""The authorisation matrix, generated from the route table.

Every route is called with a key of every role in project ``alpha``, a server admin's key, no
credentials, a revoked key, an expired key and a key of project ``beta``. The expected outcome
comes from the route's declared ``Permission`` and ``podium.access.policy``:

- no / revoked / expired credentials: 401 (except public routes);
- another project's key on a project route: 404 "not a member" (no cross-project read or write);
- a role below the action's least role: 403;
- everyone else: neither 401 nor 403 nor the not-a-member 404 (the route itself may still
  answer 404 or 422 for the deliberately minimal requests sent here).

Requests that are refused run first and change nothing; allowed ones run in role order, with
deletions last, so that one fixture serves the whole table.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import update

from podium.access.authz import SESSION_COOKIE, Permission
from podium.access.models import Role
from podium.access.policy import AUTHENTICATED, POLICY, PUBLIC, SERVER_ADMIN
from podium.access.sql import api_keys
from podium.gateway.models import RouteSpec
from podium.server.app import Services, create_app
from podium.tracing.alerts import RuleSpec
from podium.tracking.models import MetricPoint
from tests.access.conftest import PASSWORD, Team, bearer
from tests.support.routes import RouteInfo, api_routes
from tests.tracing.support import new_span_id, new_trace_id, span
from tests.tracing.support import request as otlp_request

NOT_MEMBER = "does not exist or you are not a member"


@dataclass(frozen=True)
class Caller:
    label: str
    headers: dict[str, str]
    role: Role | None  # role in alpha; None for no access there
    superuser: bool = False
    valid: bool = True  # False: no, revoked or expired credentials
    other_project: bool = False


@dataclass(frozen=True)
class Objects:
    run_id: str
    other_run_id: str
    experiment_id: int
    spare_key_id: int
    trace_id: str = ""
    job_id: str = ""
    rule_id: str = ""
    eval_id: str = ""


def _objects(services: Services, team: Team) -> Objects:
    tracking, registry = services.tracking, services.registry
    run = tracking.create_run(
        project="alpha", experiment="exp", params={"lr": "0.1"}, tags={"t": "1"}
    )
    other = tracking.create_run(project="alpha", experiment="exp")
    tracking.log_metrics(run.id, [MetricPoint("loss", 0.5, 0, 1)])
    tracking.log_artifact(run.id, "model.bin", io.BytesIO(b"weights"))
    registry.create_model("alpha", "m")
    registry.create_version("alpha", "m", source_run_id=run.id, artifact_path="model.bin")
    registry.set_alias("alpha", "m", "production", 1, actor="root")
    services.prompts.create_prompt("alpha", "p", template="hi", labels=["production"])
    services.data.import_rows("alpha", "d", io.BytesIO(b'{"input": "x"}\n'))
    spare, _ = services.access.create_key(username="owner-user", project="alpha", role=Role.VIEWER)
    experiment_id = tracking.get_run(run.id).experiment_id
    trace = new_trace_id()
    services.tracing.ingest("alpha", otlp_request(span(trace, new_span_id())))
    services.gateway.service.put_route(
        "alpha",
        "chat",
        RouteSpec.model_validate(
            {"deployments": [{"name": "a", "model": "m", "base_url": "http://127.0.0.1:9/v1"}]}
        ),
        actor="root",
    )
    job = services.data.start_clean("alpha", "d", [{"name": "normalise"}])
    rule = services.alerts.create_rule(
        "alpha", RuleSpec("r", "request_count", 300, ">", 1.0), actor="root"
    )
    return Objects(
        run.id,
        other.id,
        experiment_id,
        spare.id,
        trace_id=trace.hex(),
        job_id=job.id,
        rule_id=str(rule.id),
        eval_id=_eval_experiment(services),
    )


def _eval_experiment(services: Services) -> str:
    """An eval experiment in alpha (its id is a run id)."""
    found, _ = services.evals.start_experiment(
        "alpha",
        suite="s",
        target="t",
        target_hash="a" * 64,
        dataset="d",
        dataset_version=1,
        scorers={"exact_match": True},
    )
    return found.id


def _callers(services: Services, team: Team) -> list[Caller]:
    access = services.access
    revoked, revoked_secret = access.create_key(
        username="owner-user", project="alpha", role=Role.OWNER
    )
    access.revoke_key(revoked.id)
    expired, expired_secret = access.create_key(
        username="owner-user", project="alpha", role=Role.OWNER
    )
    with services.db.write() as conn:
        conn.execute(update(api_keys).where(api_keys.c.id == expired.id).values(expires_at=1))
    callers = [
        Caller("no key", {}, None, valid=False),
        Caller("revoked key", bearer(revoked_secret), None, valid=False),
        Caller("expired key", bearer(expired_secret), None, valid=False),
        Caller("beta owner", bearer(team.beta_owner_key), None, other_project=True),
    ]
    callers += [Caller(role.value, bearer(team.keys[role]), role) for role in Role]
    # API keys are always scoped to one project, even a server admin's: the admin's own powers
    # come with a UI session (or embedded mode), so the admin caller logs in.
    session = access.login("root", PASSWORD, "127.0.0.1")
    admin_headers = {
        "Cookie": f"{SESSION_COOKIE}={session.token}",
        "X-CSRF-Token": session.csrf_token,
    }
    callers.append(Caller("server admin", admin_headers, Role.OWNER, superuser=True))
    callers.append(Caller("admin's key", bearer(team.admin_key), Role.OWNER))
    return callers


def _path(info: RouteInfo, objects: Objects) -> str:
    values = {
        "run_id": objects.run_id,
        "experiment_id": str(objects.experiment_id),
        "username": "viewer-user",
        "key_id": str(objects.spare_key_id),
        "version": "1",
        "alias": "production",
        "label": "production",
        "trace_id": objects.trace_id,
        "job_id": objects.job_id,
        "rule_id": objects.rule_id,
        "eval_id": objects.eval_id,
        "request_hash": "a" * 64,
    }
    path = info.path
    if path.startswith("/api/v1/projects/"):
        values["name"] = "alpha"
    elif "/models/" in path:
        values["name"] = "m"
    elif "/prompts/" in path:
        values["name"] = "p"
    elif "/datasets/" in path:
        values["name"] = "d"
    elif "/gateway/" in path:
        values["name"] = "chat"
        values["scope"] = "project"
    values["key"] = "loss" if "/metrics/" in path else "t"
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values[m.group(1)], path)


def _expected(permission: Permission, caller: Caller) -> str:
    """'allowed', or the exact status the gate must answer."""
    if permission.part == PUBLIC:
        return "allowed"
    if not caller.valid:
        return "401"
    if permission.part == AUTHENTICATED:
        return "allowed"
    if permission.part == SERVER_ADMIN:
        return "allowed" if caller.superuser else "403"
    if caller.other_project:
        return "404"
    assert caller.role is not None
    least = POLICY[permission.part][permission.action]
    return "allowed" if caller.superuser or caller.role.at_least(least) else "403"


def _order(item: tuple[RouteInfo, str]) -> tuple[int, str]:
    info, method = item
    if info.path == "/logout":
        return (3, info.path)  # ends the admin's session
    return (2 if method == "DELETE" else 1, info.path)


def test_every_route_for_every_caller(services: Services, team: Team) -> None:
    app = create_app(services)
    objects = _objects(services, team)
    callers = _callers(services, team)
    endpoints = sorted(
        ((info, method) for info in api_routes(app) for method in info.methods if method != "HEAD"),
        key=_order,
    )
    transport = httpx.ASGITransport(app=app)
    failures: list[str] = []
    checked = 0

    import asyncio

    async def run() -> None:
        nonlocal checked
        async with httpx.AsyncClient(transport=transport, base_url="http://podium.test") as client:
            for info, method in endpoints:
                (permission,) = info.permissions
                path = _path(info, objects)
                params: dict[str, Any] = {"project": "alpha"}
                if info.path.endswith("/runs/compare"):
                    params["run_ids"] = [objects.run_id, objects.other_run_id]
                body: dict[str, Any] | None = (
                    {"project": "alpha"} if method in ("POST", "PUT", "PATCH") else None
                )
                # Refused callers first: they must not change anything.
                ordered = sorted(callers, key=lambda c: _expected(permission, c) == "allowed")
                for caller in ordered:
                    expected = _expected(permission, caller)
                    response = await client.request(
                        method, path, params=params, json=body, headers=caller.headers
                    )
                    checked += 1
                    got = response.status_code
                    detail = response.text[:160]
                    if expected == "allowed":
                        refused = got in (401, 403) or (got == 404 and NOT_MEMBER in response.text)
                        if refused or got >= 500:
                            failures.append(
                                f"{method} {info.path} as {caller.label}: {got} {detail}"
                            )
                    elif str(got) != expected or (
                        expected == "404" and NOT_MEMBER not in response.text
                    ):
                        where = f"{method} {info.path} as {caller.label}"
                        failures.append(f"{where}: expected {expected}, got {got} {detail}")

    asyncio.run(run())
    assert checked > 500
    assert failures == [], "\n".join(failures)
