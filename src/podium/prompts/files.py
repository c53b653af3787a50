"""Prompts as YAML files, for git workflows: ``podium prompts pull DIR`` / ``push DIR``.

One file per prompt, named ``<name>.yaml``::

    name: support-reply
    kind: chat                 # or text (then `template:` instead of `messages:`)
    version: 3                 # the version the file was pulled from; ignored on push
    messages:
      - role: system
        content: You answer for {{ company }}.
      - type: placeholder
        name: history
      - role: user
        content: "{{ question }}"
    variables:
      - {name: company, type: string, default: ACME}
      - {name: history, type: messages, required: false}
      - {name: question, type: string}
    model_params: {model: gpt-4o-mini, temperature: 0.2}
    config: {}
    tags: [support]

Reading checks the shape and names the file and the field at fault; the template rules
themselves are checked by the server on push.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from podium.errors import InvalidInput
from podium.yamlio import read_yaml

FIELDS = (
    "name",
    "kind",
    "version",
    "template",
    "messages",
    "variables",
    "model_params",
    "config",
    "tags",
)


def prompt_files(directory: Path) -> list[Path]:
    """The ``*.yaml`` and ``*.yml`` files in ``directory``, sorted; ``InvalidInput`` if none."""
    if not directory.is_dir():
        raise InvalidInput(f"{directory} is not a directory", field="dir")
    found = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if not found:
        raise InvalidInput(
            f"{directory} holds no prompt files (*.yaml); pull some with "
            f"`podium prompts pull {directory}`",
            field="dir",
        )
    return found


def read_prompt_file(path: Path) -> tuple[str, dict[str, Any]]:
    """The prompt's name and the body to push; ``InvalidInput`` naming the file and field."""
    data = read_yaml(path, field="file")
    if not isinstance(data, dict):
        raise InvalidInput(
            f"{path}: the file must be a mapping with name, template …", field="file"
        )
    unknown = sorted(str(k) for k in set(data) - set(FIELDS))
    if unknown:
        raise _bad(path, unknown[0], f"unknown field; allowed: {', '.join(FIELDS)}")
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise _bad(path, "name", "required, a string")
    kind = data.get("kind", "chat" if "messages" in data else "text")
    if kind not in ("text", "chat"):
        raise _bad(path, "kind", "must be text or chat")
    if kind == "text" and not isinstance(data.get("template"), str):
        raise _bad(path, "template", "a text prompt needs a template string")
    if kind == "chat" and not isinstance(data.get("messages"), list):
        raise _bad(path, "messages", "a chat prompt needs a list of messages")
    for key, kind_of in (("variables", list), ("model_params", dict), ("config", dict)):
        value = data.get(key)
        if value is not None and not isinstance(value, kind_of):
            raise _bad(path, key, f"must be a {'list' if kind_of is list else 'mapping'}")
    tags = data.get("tags") or []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise _bad(path, "tags", "must be a list of strings")
    body = {
        "kind": kind,
        "template": data.get("template") if kind == "text" else None,
        "messages": data.get("messages") if kind == "chat" else None,
        "variables": data.get("variables") or [],
        "model_params": data.get("model_params") or {},
        "config": data.get("config") or {},
        "tags": tags,
    }
    return name, body


def write_prompt_file(directory: Path, version: dict[str, Any]) -> Path:
    """Write one version JSON (from the API) as ``<name>.yaml``; the path written."""
    data: dict[str, Any] = {
        "name": version["prompt"],
        "kind": version["kind"],
        "version": version["version"],
    }
    if version["kind"] == "chat":
        data["messages"] = version["messages"]
    else:
        data["template"] = version["template"]
    data["variables"] = version["variables"]
    data["model_params"] = version["model_params"]
    data["config"] = version["config"]
    data["tags"] = version["tags"]
    path = directory / f"{version['prompt']}.yaml"
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    path.write_text(text, encoding="utf-8")
    return path


class _Dumper(yaml.SafeDumper):
    """Writes multi-line strings as literal blocks, so templates read naturally in git diffs."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _bad(path: Path, field: str, problem: str) -> InvalidInput:
    return InvalidInput(f"{path}: field {field!r}: {problem}", field=field)
