"""Row expressions for the ``filter`` step, evaluated in Jinja2's sandbox, never with ``eval``.

``compile_row_expression("len(input) > 20 and metadata.source != 'spam'")`` returns a function
of one row (``input``, ``expected``, ``metadata``) that says whether to keep it. The language is
Jinja2's expression syntax (``and``/``or``/``not``, ``in``, comparisons, ``x.y`` and ``x['y']``,
filters such as ``input | lower``, and the tests ``is none``/``is defined``), with ``len``,
``min``, ``max``, ``abs``, ``int``, ``float``, ``str`` and ``bool`` available. A metadata key
that a row lacks is undefined: it compares unequal to everything and ``is defined`` is false.

The sandbox refuses private and dunder attributes (``input.__class__`` is undefined and calling
what it finds raises), and this environment also bounds ``*`` and ``**`` so that
``'x' * 10**10`` cannot exhaust memory. A syntax error, or a row the expression cannot be
evaluated on, is ``InvalidInput`` naming the expression.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from typing import Any

from jinja2 import TemplateSyntaxError
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from podium.errors import InvalidInput

MAX_EXPRESSION_CHARS = 2_000
# A repeated sequence or power may not produce more than this many items / digits.
MAX_PRODUCT = 1_000_000
MAX_EXPONENT = 1_000

# Only filters and methods whose output is no bigger than their input (``center``, ``indent``,
# ``replace``, ``zfill`` … could build gigabytes from a short expression).
_FILTERS = (
    "abs",
    "capitalize",
    "count",
    "default",
    "first",
    "float",
    "int",
    "last",
    "length",
    "lower",
    "round",
    "string",
    "title",
    "trim",
    "upper",
    "wordcount",
)
_METHODS = frozenset(
    {
        "lower",
        "upper",
        "casefold",
        "title",
        "strip",
        "lstrip",
        "rstrip",
        "startswith",
        "endswith",
        "count",
        "find",
        "split",
        "isdigit",
        "isalpha",
        "isalnum",
        "isspace",
        "islower",
        "isupper",
        "get",
        "keys",
        "values",
        "items",
    }
)
_FUNCTIONS: dict[str, Any] = {
    "len": len,
    "min": min,
    "max": max,
    "abs": abs,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
}


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with ``*`` and ``**`` checked before they allocate."""

    intercepted_binops = frozenset({"*", "**"})

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if callable(value) and attr not in _METHODS:
            return False
        return bool(super().is_safe_attribute(obj, attr, value))

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"exponent {right!r} is above {MAX_EXPONENT}")
            if isinstance(left, int) and abs(left).bit_length() * abs(right) > MAX_PRODUCT:
                raise SecurityError("a power above a million bits")
            return operator.pow(left, right)
        if operator_ == "*":
            for seq, count in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple | bytes)
                    and isinstance(count, int)
                    and len(seq) * count > MAX_PRODUCT
                ):
                    raise SecurityError(f"a repeated sequence above {MAX_PRODUCT:,} items")
            return operator.mul(left, right)
        return super().call_binop(context, operator_, left, right)


_ENV = _BoundedSandbox(autoescape=False)
_ENV.filters = {name: _ENV.filters[name] for name in _FILTERS}
_ENV.globals.clear()
_ENV.globals.update(_FUNCTIONS)

RowPredicate = Callable[[str, str | None, str], bool]


def compile_row_expression(source: str) -> RowPredicate:
    """A predicate over (input, expected, metadata JSON) for ``source``; ``InvalidInput`` for
    a syntax error."""
    if not source.strip():
        raise InvalidInput("step 'filter': 'expression' is empty", field="steps.expression")
    if len(source) > MAX_EXPRESSION_CHARS:
        raise InvalidInput(
            f"step 'filter': 'expression' is longer than {MAX_EXPRESSION_CHARS} characters",
            field="steps.expression",
        )
    try:
        compiled = _ENV.compile_expression(source, undefined_to_none=False)
    except TemplateSyntaxError as exc:
        raise InvalidInput(
            f"step 'filter': expression {source!r} is not valid: {exc.message}; write e.g. "
            "\"len(input) > 20 and metadata.source != 'spam'\"",
            field="steps.expression",
        ) from None

    def keep(input_text: str, expected: str | None, metadata_json: str) -> bool:
        try:
            return bool(
                compiled(input=input_text, expected=expected, metadata=json.loads(metadata_json))
            )
        except (TemplateError, SecurityError, TypeError, ValueError, ArithmeticError) as exc:
            raise InvalidInput(
                f"step 'filter': expression {source!r} failed on input {input_text[:60]!r}: {exc}",
                field="steps.expression",
            ) from None

    return keep
