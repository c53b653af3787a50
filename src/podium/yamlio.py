"""Reading YAML that people wrote (route files, prompt files, suites, pipelines, UI forms).

PyYAML's own errors are several lines with an excerpt, and some inputs escape them altogether
(``2024-02-30`` raises ``ValueError`` while building a date; thousands of nested brackets raise
``RecursionError``). Both functions turn every such failure into one ``InvalidInput`` line that
names the source, the line and column where known, and the problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from podium.errors import InvalidInput


def parse_yaml(text: str, *, source: str, field: str) -> Any:
    """The document in ``text``; ``InvalidInput`` (for ``field``) saying what is wrong where."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "cannot be parsed"
        raise InvalidInput(f"{source} is not valid YAML{where}: {problem}", field=field) from None
    except RecursionError:
        raise InvalidInput(f"{source} is nested too deeply", field=field) from None
    except ValueError as exc:  # a scalar that cannot be built, e.g. the date 2024-02-30
        raise InvalidInput(f"{source} is not valid YAML: {exc}", field=field) from None


def read_yaml(path: Path, *, field: str) -> Any:
    """The document in the file at ``path``; ``InvalidInput`` when unreadable or not YAML."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(f"{path} is not UTF-8 text", field=field) from None
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}", field=field) from None
    return parse_yaml(text, source=str(path), field=field)


__all__ = ["parse_yaml", "read_yaml"]
