"""Web pages of the gateway: the routes of a project with their live traffic split and canary
state, one route's deployments (breakers, recent requests, errors, latency) and history, and
the forms that configure them.

Reading needs ``gateway:invoke``; the forms (new route, edit, delete, canary promote and roll
back) need ``gateway:manage`` and are only shown to callers who have it. A route's spec is
edited as YAML, the same text as one entry of ``gateway.yaml`` (``podium gateway routes
apply``) minus ``name`` and ``project``. A form the service refuses is shown again with the
user's text and the reason (422, or 409 when the route changed meanwhile); a change that is
accepted answers 303 to the route's page (post/redirect/get), so reloading never repeats it.

The audit middleware records only 2xx replies, so these handlers append their audit row
themselves, with the same actor, action and object as the REST routes' rows.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote, urlencode

import yaml
from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from podium.access.audit import AuditLog
from podium.access.auth import current_actor
from podium.access.authz import EMBEDDED_SCOPE_KEY, AuditContext, Permission, from_query
from podium.access.models import DEFAULT_PROJECT
from podium.access.policy import allows
from podium.errors import Conflict, InvalidInput, PodiumError, ServiceUnavailable
from podium.gateway.dispatch import Gateway
from podium.gateway.models import Route, RouteSpec
from podium.gateway.service import parse_spec
from podium.gateway.views import route_public, route_status
from podium.pages import part_error_page
from podium.yamlio import parse_yaml

log = logging.getLogger("podium.gateway.ui")

MAX_SPEC_CHARS = 64_000
MAX_REASON_CHARS = 1000

# What the "New route" form starts with: valid as it stands (the in-process model), with the
# other knobs shown as comments.
EXAMPLE_SPEC = """\
# The route's spec: one entry of gateway.yaml without name and project (docs/gateway.md).
# This one serves the small in-process model (needs podium[local]).
deployments:
  - name: local
    provider: local
    model: smollm2-135m-instruct
    weight: 1
# An OpenAI-compatible upstream (vLLM, TGI, Ollama, OpenAI...), here as a canary:
#  - name: vllm
#    base_url: http://127.0.0.1:8000/v1
#    model: meta-llama/Llama-3.1-8B-Instruct
#    api_key_env: VLLM_API_KEY     # the variable's name; the key is never stored
#    role: canary
retries: 2
# fallbacks: [chat-backup]
# cache_ttl_s: 300
# guardrails: [pii_redaction]
# canary:                          # with one canary deployment
#   steps: [5, 25, 50, 100]        # percent of traffic to the canary
#   promote_every_s: 3600
"""

_NOTICES = {
    "created": "Route created.",
    "updated": "Saved as a new revision.",
    "unchanged": "No change: the spec is the same as the current revision.",
    "promoted": "Canary promoted.",
    "rolled_back": "Canary rolled back: all traffic goes to the stable deployments.",
}


def spec_yaml(spec: RouteSpec) -> str:
    """A spec as the YAML the edit form shows: fields at their defaults left out."""
    dumped = spec.model_dump(mode="json", exclude_defaults=True)
    return yaml.safe_dump(dumped, sort_keys=False, allow_unicode=True, default_flow_style=False)


def spec_from_yaml(text: str) -> RouteSpec:
    """Parse a form's YAML into a spec; ``InvalidInput`` naming the line or the bad field."""
    if len(text) > MAX_SPEC_CHARS:
        raise InvalidInput(f"the spec is longer than {MAX_SPEC_CHARS} characters", field="spec")
    raw = parse_yaml(text, source="the spec", field="spec")
    if raw is None:
        raise InvalidInput(
            "the spec is empty: give at least a 'deployments' list (see the example)",
            field="deployments",
        )
    if not isinstance(raw, dict):
        raise InvalidInput(
            "the spec must be a YAML mapping with a 'deployments' list, as in the example",
            field="spec",
        )
    for key, instead in (("name", "the route name field"), ("project", "the project selector")):
        if key in raw:
            raise InvalidInput(f"{key}: leave it out of the spec; {instead} sets it", field=key)
    return parse_spec(raw)


def _can_manage(request: Request, project: str) -> bool:
    principal = getattr(request.state, "principal", None)
    return principal is not None and allows(principal.role_in(project), "gateway", "manage")


def _project(request: Request) -> str:
    # The same query parameter the Permission resolved the project from.
    return request.query_params.get("project") or DEFAULT_PROJECT


def _route_url(project: str, name: str, done: str) -> str:
    # The fragment replaces the form's own (#edit ...), which the browser would otherwise keep
    # across the redirect.
    query = urlencode({"project": project, "done": done})
    return f"/gateway/routes/{quote(name, safe='')}?{query}#notice"


def _revision(raw: str) -> int | None:
    try:
        return int(raw) if raw.strip() else None
    except ValueError:
        return None


def _audit(audit_log: AuditLog, request: Request, name: str, details: dict[str, Any]) -> None:
    """Append the audit row the middleware would write for a 2xx REST call."""
    context: AuditContext = request.state.audit
    template = getattr(request.scope.get("route"), "path", request.url.path)
    client = ("in-process", 0) if request.scope.get(EMBEDDED_SCOPE_KEY) else request.client
    recorded: dict[str, Any] = {
        "route": f"{request.method} {template}",
        "params": {k: str(v) for k, v in request.path_params.items()},
        "query": request.url.query[:500],
        "via": "ui",
        **details,
    }
    try:
        audit_log.append(
            actor=context.principal.name,
            action=f"{context.part}.{context.action}",
            object_type=context.part,
            object_id=f"name={name}",
            project=context.project,
            remote_addr=client[0] if client else None,
            details=recorded,
        )
    except Exception as exc:
        log.exception("audit append failed for %s %s", request.method, template)
        raise ServiceUnavailable(
            "the change was applied but could not be recorded in the audit log; "
            "check the database and the server log"
        ) from exc


def build_router(gateway: Gateway, templates: Jinja2Templates, audit_log: AuditLog) -> APIRouter:
    """The gateway pages, bound to the serving path (for live state), the templates and the
    audit log (form posts answer 303, which the audit middleware does not record)."""
    read = [Depends(Permission("gateway", "invoke", project=from_query()))]
    manage = [Depends(Permission("gateway", "manage", project=from_query()))]
    router = APIRouter(include_in_schema=False)
    service = gateway.service

    error = part_error_page(templates, "/gateway", "Back to the gateway")

    def routes_page(
        request: Request,
        project: str,
        *,
        name: str = "",
        text: str = EXAMPLE_SPEC,
        problem: PodiumError | None = None,
    ) -> HTMLResponse:
        deleted = request.query_params.get("deleted")
        context = {
            "project": project,
            "routes": [route_public(r) for r in service.list_routes(project)],
            "can_manage": _can_manage(request, project),
            "form": {"name": name, "spec": text, "problem": problem},
            "notice": f"Route {deleted!r} deleted; its history stays." if deleted else None,
        }
        status = problem.status if problem is not None else 200
        return templates.TemplateResponse(
            request, "gateway/routes.html", context, status_code=status
        )

    def route_page(
        request: Request,
        project: str,
        route: Route,
        *,
        problem: PodiumError | None = None,
        form: str = "",
        text: str | None = None,
        reason: str = "",
    ) -> HTMLResponse:
        done = request.query_params.get("done", "")
        context = {
            "project": project,
            "route": route_public(route),
            "status": route_status(gateway, route),
            "history": service.history(project, route.name)[:100],
            "can_manage": _can_manage(request, project),
            "notice": _NOTICES.get(done) if problem is None else None,
            "problem": problem,
            "form": form,  # which form the problem belongs to: edit, delete or canary
            "spec_text": spec_yaml(route.spec) if text is None else text,
            "reason": reason,
        }
        status = problem.status if problem is not None else 200
        return templates.TemplateResponse(
            request, "gateway/route.html", context, status_code=status
        )

    @router.get("/gateway", response_class=HTMLResponse, dependencies=read)
    def list_page(request: Request) -> HTMLResponse:
        return routes_page(request, _project(request))

    @router.post("/gateway", response_class=HTMLResponse, dependencies=manage)
    def create_route(
        request: Request,
        actor: str = Depends(current_actor),
        name: str = Form(""),
        spec: str = Form(""),
    ) -> Response:
        project = _project(request)
        name = name.strip()
        try:
            if not name:
                raise InvalidInput(
                    "name: give the route a name, the model name clients send (e.g. chat)",
                    field="name",
                )
            parsed = spec_from_yaml(spec)
            try:
                route = service.put_route(project, name, parsed, actor=actor, expected_revision=0)
            except Conflict as exc:
                raise Conflict(
                    f"route {name!r} already exists in project {project!r}; edit it on its page",
                    field="name",
                ) from exc
        except PodiumError as exc:
            if exc.status >= 500:
                raise
            return routes_page(request, project, name=name, text=spec, problem=exc)
        _audit(audit_log, request, name, {"change": "created", "revision": route.revision})
        return RedirectResponse(_route_url(project, name, "created"), status_code=303)

    @router.get("/gateway/routes/{name}", response_class=HTMLResponse, dependencies=read)
    def show_route(request: Request, name: str) -> HTMLResponse:
        project = _project(request)
        try:
            route = service.get_route(project, name)
        except PodiumError as exc:
            return error(request, exc, project)
        return route_page(request, project, route)

    @router.post("/gateway/routes/{name}", response_class=HTMLResponse, dependencies=manage)
    def save_route(
        request: Request,
        name: str,
        actor: str = Depends(current_actor),
        spec: str = Form(""),
        revision: str = Form(""),
    ) -> Response:
        project = _project(request)
        try:
            current = service.get_route(project, name)
        except PodiumError as exc:
            return error(request, exc, project)
        try:
            seen = _revision(revision)
            if seen is not None and seen != current.revision:
                raise Conflict(
                    f"the route changed since you opened it (now revision {current.revision}, "
                    f"by {current.updated_by}); your text is kept: check it against the "
                    "deployments above and save again to replace the route",
                    field="revision",
                )
            # The revision check again, inside the write: nobody saved in between.
            saved = service.put_route(
                project,
                name,
                spec_from_yaml(spec),
                actor=actor,
                expected_revision=current.revision,
            )
        except PodiumError as exc:
            if exc.status >= 500:
                raise
            return route_page(request, project, current, problem=exc, form="edit", text=spec)
        change = "unchanged" if saved.revision == current.revision else "updated"
        _audit(audit_log, request, name, {"change": change, "revision": saved.revision})
        return RedirectResponse(_route_url(project, name, change), status_code=303)

    @router.post("/gateway/routes/{name}/delete", response_class=HTMLResponse, dependencies=manage)
    def delete_route(
        request: Request,
        name: str,
        actor: str = Depends(current_actor),
        confirm: str = Form(""),
    ) -> Response:
        project = _project(request)
        try:
            current = service.get_route(project, name)
        except PodiumError as exc:
            return error(request, exc, project)
        if confirm.strip() != name:
            problem = InvalidInput(
                f"confirm: type the route's name, {name}, to delete it", field="confirm"
            )
            return route_page(request, project, current, problem=problem, form="delete")
        try:
            service.delete_route(project, name, actor=actor)
        except PodiumError as exc:
            return error(request, exc, project)
        _audit(audit_log, request, name, {"change": "deleted", "revision": current.revision})
        target = "/gateway?" + urlencode({"project": project, "deleted": name}) + "#notice"
        return RedirectResponse(target, status_code=303)

    def canary_action(
        request: Request, name: str, actor: str, reason: str, revision: str, action: str
    ) -> Response:
        project = _project(request)
        try:
            current = service.get_route(project, name)
        except PodiumError as exc:
            return error(request, exc, project)
        try:
            if len(reason) > MAX_REASON_CHARS:
                raise InvalidInput(
                    f"reason: keep it under {MAX_REASON_CHARS} characters", field="reason"
                )
            seen = _revision(revision)
            if seen is not None and seen != current.revision:
                raise Conflict(
                    f"the route changed since you opened it (now revision {current.revision}); "
                    "check the canary's state above and press the button again",
                    field="revision",
                )
            move = service.promote_canary if action == "promoted" else service.rollback_canary
            saved = move(project, name, actor=actor, reason=reason.strip())
        except PodiumError as exc:
            if exc.status >= 500:
                raise
            return route_page(request, project, current, problem=exc, form="canary", reason=reason)
        canary = saved.spec.canary
        details: dict[str, Any] = {"change": f"canary_{action}", "revision": saved.revision}
        if canary is not None:
            details |= {"state": canary.state, "percent": canary.percent}
        _audit(audit_log, request, name, details | {"reason": reason.strip()})
        return RedirectResponse(_route_url(project, name, action), status_code=303)

    @router.post(
        "/gateway/routes/{name}/canary/promote",
        response_class=HTMLResponse,
        dependencies=manage,
    )
    def promote(
        request: Request,
        name: str,
        actor: str = Depends(current_actor),
        reason: str = Form(""),
        revision: str = Form(""),
    ) -> Response:
        return canary_action(request, name, actor, reason, revision, "promoted")

    @router.post(
        "/gateway/routes/{name}/canary/rollback",
        response_class=HTMLResponse,
        dependencies=manage,
    )
    def rollback(
        request: Request,
        name: str,
        actor: str = Depends(current_actor),
        reason: str = Form(""),
        revision: str = Form(""),
    ) -> Response:
        return canary_action(request, name, actor, reason, revision, "rolled_back")

    return router
