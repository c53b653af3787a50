"""Checking and rendering prompt templates in a Jinja2 sandbox, shared by the server and the SDK.

This module imports only ``jinja2`` and ``podium.errors`` so the SDK can render client-side with
exactly the server's rules (``podium.client.prompts`` imports it lazily, inside ``render``).

Rules:

- Templates run in ``ImmutableSandboxedEnvironment`` with ``StrictUndefined`` and autoescape off
  (prompts are not HTML). Access to attributes or items whose name starts with ``_`` is refused
  when the template is pushed, and anything else the sandbox refuses at render time becomes an
  ``InvalidInput`` too, so ``{{ ''.__class__.__mro__ }}`` never reaches Python internals.
- Every name a template uses must be a declared variable (or a Jinja2 global such as ``range``);
  an undeclared one is refused at push time, naming it.
- Rendering validates the values: a missing required variable, a value of the wrong type, or an
  unknown variable is an ``InvalidInput`` naming it. Optional variables without a default are left
  undefined, so ``{% if tone is defined %}`` works.
- Sizes are bounded: ``MAX_TEMPLATE_CHARS`` for a prompt's templates, ``MAX_OUTPUT_CHARS`` for
  what one render produces (checked while it streams, so a runaway loop stops early).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, TemplateError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from podium.errors import InvalidInput

TEXT = "text"
CHAT = "chat"
KINDS = (TEXT, CHAT)
VARIABLE_TYPES = ("string", "integer", "number", "boolean", "list", "object", "messages")
MAX_TEMPLATE_CHARS = 200_000
MAX_OUTPUT_CHARS = 1_000_000
MAX_VARIABLES = 200
_VARIABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
_ROLE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,49}$")

_ENV = ImmutableSandboxedEnvironment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True
)


@dataclass(frozen=True)
class Variable:
    """A declared template variable: its type, default and whether a value is required."""

    name: str
    type: str = "string"
    default: Any = None
    required: bool = True
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form stored and sent over the wire."""
        return {
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "required": self.required,
            "description": self.description,
        }


def parse_variables(raw: Sequence[Mapping[str, Any]] | None) -> list[Variable]:
    """Declared variables from their JSON form; ``InvalidInput`` naming the bad entry.

    ``required`` defaults to true unless a ``default`` is given.
    """
    found: list[Variable] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw or []):
        where = f"variables[{index}]"
        if not isinstance(entry, Mapping):
            raise InvalidInput(f"{where} must be an object with a name", field="variables")
        unknown = set(entry) - {"name", "type", "default", "required", "description"}
        if unknown:
            raise InvalidInput(
                f"{where} has unknown keys {sorted(unknown)}; allowed: name, type, default, "
                "required, description",
                field="variables",
            )
        name = entry.get("name")
        if not isinstance(name, str) or not _VARIABLE_NAME.match(name):
            raise InvalidInput(
                f"{where}.name {name!r} is not valid: use a letter, then letters, digits or '_'",
                field="variables",
            )
        if name in seen:
            raise InvalidInput(f"variable {name!r} is declared twice", field="variables")
        seen.add(name)
        kind = entry.get("type", "string")
        if kind not in VARIABLE_TYPES:
            raise InvalidInput(
                f"variable {name!r} has type {kind!r}; use one of {', '.join(VARIABLE_TYPES)}",
                field="variables",
            )
        default = entry.get("default")
        if default is not None:
            _check_type(name, kind, default, what="default of variable")
        required = entry.get("required", default is None)
        if not isinstance(required, bool):
            raise InvalidInput(f"{where}.required must be true or false", field="variables")
        description = entry.get("description", "")
        if not isinstance(description, str):
            raise InvalidInput(f"{where}.description must be a string", field="variables")
        found.append(Variable(name, kind, default, required, description))
    if len(found) > MAX_VARIABLES:
        raise InvalidInput(f"at most {MAX_VARIABLES} variables may be declared", field="variables")
    return found


def check_prompt(
    kind: str,
    template: str | None,
    messages: Sequence[Mapping[str, Any]] | None,
    variables: Sequence[Variable],
) -> None:
    """Refuse a prompt that could not render safely: ``InvalidInput`` naming what is wrong.

    Checks the kind matches the content (``template`` for text, ``messages`` for chat), the size,
    the syntax, ``_``-prefixed attribute access, and that every name used is declared.
    """
    declared = {v.name: v for v in variables}
    sources = _sources(kind, template, messages, declared)
    total = sum(len(s) for _, s in sources)
    if total > MAX_TEMPLATE_CHARS:
        raise InvalidInput(
            f"the prompt's templates are {total} characters; the limit is {MAX_TEMPLATE_CHARS}",
            field="template" if kind == TEXT else "messages",
        )
    used: set[str] = set()
    for field, source in sources:
        tree = _parse(field, source)
        _refuse_private_access(field, tree)
        used |= meta.find_undeclared_variables(tree)
    undeclared = sorted(used - set(declared) - set(_ENV.globals))
    if undeclared:
        raise InvalidInput(
            f"the template uses undeclared variables {', '.join(undeclared)}; declare them in "
            'variables (e.g. {"name": "' + undeclared[0] + '", "type": "string"})',
            field="variables",
        )


def resolve_values(variables: Sequence[Variable], values: Mapping[str, Any]) -> dict[str, Any]:
    """The values to render with: defaults filled in, types checked; ``InvalidInput`` naming one.

    A missing required variable, a wrong type or an unknown name is refused.
    """
    declared = {v.name: v for v in variables}
    unknown = sorted(set(values) - set(declared))
    if unknown:
        listed = ", ".join(sorted(declared)) or "none"
        raise InvalidInput(
            f"unknown variables {', '.join(unknown)}; this prompt declares: {listed}",
            field="variables",
        )
    resolved: dict[str, Any] = {}
    for variable in variables:
        if variable.name in values:
            value = values[variable.name]
            _check_type(variable.name, variable.type, value, what="variable")
            resolved[variable.name] = value
        elif variable.default is not None:
            resolved[variable.name] = variable.default
        elif variable.required:
            raise InvalidInput(
                f"variable {variable.name!r} is required ({variable.type}); pass a value for it",
                field=variable.name,
            )
    return resolved


def render_text(
    template: str,
    variables: Sequence[Variable],
    values: Mapping[str, Any],
    *,
    check: bool = True,
) -> str:
    """Render a text prompt with ``values``; ``InvalidInput`` for bad values or sandbox refusals.

    ``check=False`` skips the variable checks (the SDK's fallback prompts declare none).
    """
    resolved = resolve_values(variables, values) if check else dict(values)
    return _render("template", template, resolved)


def render_chat(
    messages: Sequence[Mapping[str, Any]],
    variables: Sequence[Variable],
    values: Mapping[str, Any],
    *,
    check: bool = True,
) -> list[dict[str, Any]]:
    """Render a chat prompt: each message's content rendered, placeholders expanded."""
    resolved = resolve_values(variables, values) if check else dict(values)
    out: list[dict[str, Any]] = []
    budget = MAX_OUTPUT_CHARS
    for index, message in enumerate(messages):
        if message.get("type") == "placeholder":
            inserted = resolved.get(str(message["name"]), [])
            out.extend({"role": m["role"], "content": m["content"]} for m in inserted)
            budget -= sum(len(str(m["content"])) for m in inserted)
            continue
        content = _render(f"messages[{index}].content", str(message["content"]), resolved, budget)
        budget -= len(content)
        out.append({"role": message["role"], "content": content})
    if budget < 0:
        raise _too_large()
    return out


def chat_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """A stable text form of chat messages, for diffs and display."""
    blocks = []
    for message in messages:
        if message.get("type") == "placeholder":
            blocks.append(f"[placeholder: {message['name']}]")
        else:
            blocks.append(f"[{message['role']}]\n{message['content']}")
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the form content hashes are taken over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# -- internals ----------------------------------------------------------------------------------


def _sources(
    kind: str,
    template: str | None,
    messages: Sequence[Mapping[str, Any]] | None,
    declared: Mapping[str, Variable],
) -> list[tuple[str, str]]:
    if kind not in KINDS:
        raise InvalidInput(f"kind {kind!r} is not valid; use 'text' or 'chat'", field="kind")
    if kind == TEXT:
        if template is None or messages is not None:
            raise InvalidInput(
                "a text prompt has a template and no messages; send 'template' (or use "
                "kind 'chat' for a list of messages)",
                field="template",
            )
        return [("template", template)]
    if messages is None or template is not None:
        raise InvalidInput(
            "a chat prompt has messages and no template; send 'messages' as a list of "
            "{role, content} (or use kind 'text' for a single template)",
            field="messages",
        )
    if not messages:
        raise InvalidInput("a chat prompt needs at least one message", field="messages")
    sources: list[tuple[str, str]] = []
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, Mapping):
            raise InvalidInput(f"{where} must be an object", field="messages")
        if message.get("type") == "placeholder":
            name = message.get("name")
            if set(message) != {"type", "name"} or not isinstance(name, str):
                raise InvalidInput(
                    f'{where} is a placeholder: write it as {{"type": "placeholder", "name": '
                    '"history"}',
                    field="messages",
                )
            variable = declared.get(name)
            if variable is None or variable.type != "messages":
                raise InvalidInput(
                    f"placeholder {name!r} in {where} needs a declared variable of type "
                    f'"messages": add {{"name": "{name}", "type": "messages"}} to variables',
                    field="messages",
                )
            continue
        role, content = message.get("role"), message.get("content")
        if set(message) != {"role", "content"} or not isinstance(role, str):
            raise InvalidInput(
                f"{where} must have exactly 'role' and 'content' (or be a placeholder)",
                field="messages",
            )
        if not _ROLE.match(role):
            raise InvalidInput(
                f"{where}.role {role!r} is not valid (e.g. system, user, assistant)",
                field="messages",
            )
        if not isinstance(content, str):
            raise InvalidInput(f"{where}.content must be a string template", field="messages")
        sources.append((f"{where}.content", content))
    return sources


def _parse(field: str, source: str) -> nodes.Template:
    try:
        return _ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise InvalidInput(
            f"{field} has a template syntax error on line {exc.lineno}: {exc.message}",
            field=field.split("[")[0],
        ) from None


def _refuse_private_access(field: str, tree: nodes.Template) -> None:
    # The sandbox would refuse these at render time too; refusing at push time gives the
    # author the error instead of the caller.
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        name = node.attr if isinstance(node, nodes.Getattr) else None
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value if isinstance(node.arg.value, str) else None
        if name is not None and name.startswith("_"):
            raise InvalidInput(
                f"{field} (line {node.lineno}) reads {name!r}: names starting with '_' are not "
                "accessible in prompt templates (the template runs in a sandbox)",
                field=field.split("[")[0],
            )


@functools.lru_cache(maxsize=512)
def _compile(source: str) -> Template:
    return _ENV.from_string(source)


def _render(field: str, source: str, values: dict[str, Any], budget: int = MAX_OUTPUT_CHARS) -> str:
    try:
        template = _compile(source)
        parts: list[str] = []
        size = 0
        for chunk in template.generate(values):
            size += len(chunk)
            if size > budget:
                raise _too_large()
            parts.append(chunk)
        return "".join(parts)
    except SecurityError as exc:
        raise InvalidInput(
            f"{field} tried something the prompt sandbox refuses: {exc}", field="template"
        ) from None
    except TemplateSyntaxError as exc:
        raise InvalidInput(
            f"{field} has a template syntax error on line {exc.lineno}: {exc.message}",
            field="template",
        ) from None
    except UndefinedError as exc:
        raise InvalidInput(f"{field} could not render: {exc.message}", field="variables") from None
    except TemplateError as exc:
        raise InvalidInput(f"{field} could not render: {exc}", field="template") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        # A filter or operator given a value it cannot handle, e.g. {{ name + 1 }}.
        raise InvalidInput(f"{field} could not render: {exc}", field="variables") from None


def _too_large() -> InvalidInput:
    return InvalidInput(
        f"the rendered prompt is over {MAX_OUTPUT_CHARS} characters; check the template's "
        "loops and the size of the values",
        field="variables",
    )


def _check_type(name: str, kind: str, value: Any, *, what: str) -> None:
    ok: bool
    if kind == "string":
        ok = isinstance(value, str)
    elif kind == "integer":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif kind == "boolean":
        ok = isinstance(value, bool)
    elif kind == "list":
        ok = isinstance(value, list)
    elif kind == "object":
        ok = isinstance(value, dict)
    else:  # messages
        ok = isinstance(value, list) and all(
            isinstance(m, dict)
            and isinstance(m.get("role"), str)
            and isinstance(m.get("content"), str)
            for m in value
        )
    if not ok:
        expected = "a list of {role, content} messages" if kind == "messages" else kind
        raise InvalidInput(
            f"{what} {name!r} must be {expected}, got {type(value).__name__}",
            field=name if what == "variable" else "variables",
        )
