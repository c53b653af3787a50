"""Web pages of the prompt registry: the list, one prompt's history, a side-by-side diff and a
playground that renders a version with the variables typed into a form.

The playground is a GET form (variables arrive as ``var.<name>`` query parameters), so it needs
only the read permission and no CSRF token. Values are parsed by the variable's declared type;
every error (a bad value, a missing variable, a sandbox refusal) is shown on the page.
"""

from __future__ import annotations

import difflib
import json
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from podium.access.authz import Permission, from_query
from podium.access.models import DEFAULT_PROJECT
from podium.errors import InvalidInput, NotFound, PodiumError
from podium.pages import error_page
from podium.prompts.models import DIFF_SECTIONS, PromptVersion, section_texts
from podium.prompts.service import PromptService, render_version

PAGE_SIZE = 100
MAX_VERSIONS = 200


def build_router(service: PromptService, templates: Jinja2Templates) -> APIRouter:
    """The prompt pages, bound to ``service`` and the shared ``templates``."""
    read = Permission("prompts", "read", project=from_query())
    router = APIRouter(include_in_schema=False, dependencies=[Depends(read)])

    def error(request: Request, exc: PodiumError, project: str) -> HTMLResponse:
        if exc.status >= 500:
            raise exc
        back = "/prompts?" + urlencode({"project": project})
        return error_page(
            templates,
            request,
            exc,
            project=project,
            back_url=back,
            back_label="Back to the prompts",
        )

    @router.get("/prompts", response_class=HTMLResponse)
    def prompts_page(request: Request) -> HTMLResponse:
        project = request.query_params.get("project") or DEFAULT_PROJECT
        offset = _int(request.query_params.get("offset"), 0)
        try:
            found = service.list_prompts(project, offset=offset, limit=PAGE_SIZE + 1)
        except NotFound:
            found = []
        except PodiumError as exc:
            return error(request, exc, project)
        context = {
            "project": project,
            "prompts": found[:PAGE_SIZE],
            "offset": offset,
            "has_next": len(found) > PAGE_SIZE,
            "next_url": "/prompts?" + urlencode({"project": project, "offset": offset + PAGE_SIZE}),
        }
        return templates.TemplateResponse(request, "prompts/prompts.html", context)

    @router.get("/prompts/{name}", response_class=HTMLResponse)
    def prompt_page(request: Request, name: str) -> HTMLResponse:
        project = request.query_params.get("project") or DEFAULT_PROJECT
        try:
            prompt = service.get_prompt(project, name)
            versions = service.list_versions(project, name, limit=MAX_VERSIONS)
            history = service.label_history(project, name)
        except PodiumError as exc:
            return error(request, exc, project)
        context = {
            "project": project,
            "prompt": prompt,
            "versions": versions,
            "latest": versions[0] if versions else None,
            "history": history,
        }
        return templates.TemplateResponse(request, "prompts/prompt.html", context)

    @router.get("/prompts/{name}/diff", response_class=HTMLResponse)
    def diff_page(request: Request, name: str) -> HTMLResponse:
        project = request.query_params.get("project") or DEFAULT_PROJECT
        try:
            prompt = service.get_prompt(project, name)
            to_v = _int(request.query_params.get("to"), prompt.latest_version)
            from_v = _int(request.query_params.get("from"), max(1, to_v - 1))
            old = service.get_version(project, name, from_v)
            new = service.get_version(project, name, to_v)
        except PodiumError as exc:
            return error(request, exc, project)
        context = {
            "project": project,
            "prompt": prompt,
            "old": old,
            "new": new,
            "sections": _side_by_side(old, new),
        }
        return templates.TemplateResponse(request, "prompts/diff.html", context)

    @router.get("/prompts/{name}/playground", response_class=HTMLResponse)
    def playground_page(request: Request, name: str) -> HTMLResponse:
        project = request.query_params.get("project") or DEFAULT_PROJECT
        raw_version = request.query_params.get("version")
        try:
            prompt = service.get_prompt(project, name)
            version = service.get_version(project, name, _int(raw_version, prompt.latest_version))
        except PodiumError as exc:
            return error(request, exc, project)
        given = {
            key[4:]: value for key, value in request.query_params.items() if key.startswith("var.")
        }
        output: Any = None
        problem: str | None = None
        if "run" in request.query_params:
            try:
                output = render_version(version, _parse_values(version, given))
            except InvalidInput as exc:
                problem = exc.message
        context = {
            "project": project,
            "prompt": prompt,
            "version": version,
            "given": given,
            "output": output,
            "problem": problem,
        }
        return templates.TemplateResponse(request, "prompts/playground.html", context)

    return router


def _int(raw: str | None, default: int) -> int:
    try:
        return max(1, int(raw)) if raw else default
    except ValueError:
        return default


def _parse_values(version: PromptVersion, given: dict[str, str]) -> dict[str, Any]:
    """Form strings to typed values; an empty field means 'not given' (default applies)."""
    types = {v["name"]: v["type"] for v in version.variables}
    values: dict[str, Any] = {}
    for name, text in given.items():
        if text == "" or name not in types:
            continue
        kind = types[name]
        if kind == "string":
            values[name] = text
            continue
        try:
            values[name] = json.loads(text)
        except json.JSONDecodeError:
            raise InvalidInput(
                f"variable {name!r} is of type {kind}: write it as JSON (e.g. "
                + {"boolean": "true", "integer": "3", "number": "0.5", "object": '{"k": 1}'}.get(
                    kind, '["a", "b"]'
                )
                + ")",
                field=name,
            ) from None
    return values


def _side_by_side(old: PromptVersion, new: PromptVersion) -> list[dict[str, Any]]:
    """Per section, rows of (left line, right line, tag) for a two-column diff."""
    before, after = section_texts(old), section_texts(new)
    out = []
    for section in DIFF_SECTIONS:
        left, right = before[section].splitlines(), after[section].splitlines()
        rows: list[tuple[str | None, str | None, str]] = []
        matcher = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":
                rows += [
                    (left[i], right[j], "equal")
                    for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
                ]
                continue
            span = max(i2 - i1, j2 - j1)
            for k in range(span):
                a = left[i1 + k] if i1 + k < i2 else None
                b = right[j1 + k] if j1 + k < j2 else None
                rows.append((a, b, tag))
        out.append({"name": section, "changed": left != right, "rows": rows})
    return out


__all__ = ["build_router"]
