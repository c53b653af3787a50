"""The run-search language: a hand-written tokenizer and parser for filters and ``order_by``.

A filter is clauses joined by ``and``::

    metrics.loss < 0.5 and params.optimizer IN ('adam', 'sgd') and status = 'FINISHED'
    tags.`data set` LIKE 'wiki%' and start_time >= '2024-05-01' and parent_run_id IS NULL

``order_by`` entries are ``<field> [ASC|DESC]`` with the same field syntax. Parsing produces
plain values (``Condition``, ``OrderTerm``) that ``podium.tracking.sql`` turns into SQL; this
module does no I/O. A mistake raises ``InvalidFilter`` whose message quotes the text with a caret
under the position and says what was expected there.

Decisions worth knowing:

- params and tags are text: they compare with ``=``, ``!=``, ``LIKE``, ``ILIKE`` and ``IN``
  (an unquoted number is compared as the text it was written as); ordering comparisons
  (``<``, ``>``…) are refused with a message pointing at metrics, because casting arbitrary
  text to numbers cannot be done identically on SQLite and PostgreSQL.
- ``LIKE`` is case-sensitive on both databases; ``ILIKE`` ignores case. ``%`` matches any run of
  characters, ``_`` one character, and a backslash makes the next character literal.
- ``start_time`` / ``end_time`` take epoch milliseconds or a quoted ISO 8601 date/time (UTC
  when no offset is given).
- ``IS NULL`` / ``IS NOT NULL`` work on attributes, and on metrics, params and tags, where they
  mean "the run has no such key" / "the run has it".
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from podium.errors import InvalidFilter
from podium.tracking.schemas import RunStatus

__all__ = [
    "ATTRIBUTES",
    "Condition",
    "Field",
    "FieldKind",
    "OrderTerm",
    "parse_filter",
    "parse_order_by",
]


class FieldKind(StrEnum):
    """What a field names: a latest metric, a param, a tag, or a column of the run itself."""

    METRIC = "metric"
    PARAM = "param"
    TAG = "tag"
    ATTRIBUTE = "attribute"


# Attribute name -> its type: "text" attributes behave like params, "time" ones like metrics.
ATTRIBUTES: dict[str, str] = {
    "id": "text",
    "name": "text",
    "status": "text",
    "user": "text",
    "git_commit": "text",
    "parent_run_id": "text",
    "start_time": "time",
    "end_time": "time",
}
_ATTRIBUTE_ALIASES = {"run_id": "id", "run_name": "name"}
_PREFIXES: dict[str, FieldKind] = {
    "metrics": FieldKind.METRIC,
    "metric": FieldKind.METRIC,
    "params": FieldKind.PARAM,
    "param": FieldKind.PARAM,
    "tags": FieldKind.TAG,
    "tag": FieldKind.TAG,
    "attributes": FieldKind.ATTRIBUTE,
    "attribute": FieldKind.ATTRIBUTE,
    "attr": FieldKind.ATTRIBUTE,
    "run": FieldKind.ATTRIBUTE,
}
_KEYWORDS = frozenset({"AND", "OR", "IN", "NOT", "LIKE", "ILIKE", "IS", "NULL", "ASC", "DESC"})
_COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")
_TEXT_OPS = ("=", "!=", "LIKE", "NOT LIKE", "ILIKE", "NOT ILIKE", "IN", "NOT IN")
_OP_HINT = "an operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, IS NULL, IS NOT NULL)"

Value = float | int | str | tuple[str, ...] | None


@dataclass(frozen=True)
class Field:
    """A searchable/sortable field: ``kind`` and the metric/param/tag key or attribute name."""

    kind: FieldKind
    key: str

    def __str__(self) -> str:
        if self.kind is FieldKind.ATTRIBUTE:
            return self.key
        plain = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-/:]*", self.key)
        key = self.key if plain else "`" + self.key.replace("`", "``") + "`"
        return f"{self.kind.value}s.{key}"


@dataclass(frozen=True)
class Condition:
    """One clause: ``field op value``.

    ``op`` is one of ``= != < <= > >= LIKE ILIKE IN`` (``NOT`` forms too), ``IS NULL`` or
    ``IS NOT NULL``. ``value`` is a float for metrics, epoch ms for times, a str for text, a
    tuple of str for ``IN``, and None for the ``IS`` forms.
    """

    field: Field
    op: str
    value: Value


@dataclass(frozen=True)
class OrderTerm:
    """One ``order_by`` entry."""

    field: Field
    descending: bool = False


# -- tokens ----------------------------------------------------------------------------------


class _Kind(StrEnum):
    NAME = "name"
    QUOTED_NAME = "backticked name"
    STRING = "string"
    NUMBER = "number"
    OP = "operator"
    LPAREN = "'('"
    RPAREN = "')'"
    COMMA = "','"
    DOT = "'.'"
    END = "end of input"


@dataclass(frozen=True)
class _Token:
    kind: _Kind
    text: str  # the decoded value (strings unquoted, operators normalised)
    pos: int  # 0-based offset of the token's first character
    raw: str  # as written

    @property
    def keyword(self) -> str | None:
        upper = self.text.upper()
        return upper if self.kind is _Kind.NAME and upper in _KEYWORDS else None

    def describe(self) -> str:
        if self.kind is _Kind.END:
            return "the end of the text"
        if self.keyword:
            return f"keyword {self.keyword}"
        if self.kind is _Kind.NAME:
            return f"'{self.raw}'"
        if self.kind in (_Kind.STRING, _Kind.QUOTED_NAME, _Kind.NUMBER, _Kind.OP):
            return self.raw
        return self.kind.value


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_NAME_START = re.compile(r"[A-Za-z_]")
_NAME_AFTER_DOT = re.compile(r"[A-Za-z0-9_\-/:]+")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_\-/:]*")
_OPERATORS = {
    "==": "=",
    "<>": "!=",
    "!=": "!=",
    "<=": "<=",
    ">=": ">=",
    "=": "=",
    "<": "<",
    ">": ">",
}


class _Error(Exception):
    """Raised inside the parser; turned into ``InvalidFilter`` with the text and a caret."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        previous = tokens[-1] if tokens else None
        if (
            ch == "."
            and previous is not None
            and previous.kind in (_Kind.NAME, _Kind.QUOTED_NAME)
            and previous.pos + len(previous.raw) == i
        ):
            tokens.append(_Token(_Kind.DOT, ".", i, "."))
            i += 1
            continue
        if previous is not None and previous.kind is _Kind.DOT:
            # A key right after "prefix.": letters, digits and _ - / : (quote anything else).
            m = _NAME_AFTER_DOT.match(text, i)
            if m:
                tokens.append(_Token(_Kind.NAME, m.group(), i, m.group()))
                i = m.end()
                continue
        if ch in "'\"`":
            end, value = _read_quoted(text, i)
            kind = _Kind.QUOTED_NAME if ch == "`" else _Kind.STRING
            tokens.append(_Token(kind, value, i, text[i:end]))
            i = end
            continue
        if ch in "(),":
            kind = {"(": _Kind.LPAREN, ")": _Kind.RPAREN, ",": _Kind.COMMA}[ch]
            tokens.append(_Token(kind, ch, i, ch))
            i += 1
            continue
        two = text[i : i + 2]
        if two in _OPERATORS or ch in "=<>":
            op = two if two in _OPERATORS else ch
            tokens.append(_Token(_Kind.OP, _OPERATORS[op], i, op))
            i += len(op)
            continue
        m = _NUMBER.match(text, i)
        if m and (ch not in "+-" or _expects_value(previous)):
            end = m.end()
            if end < n and (text[end].isalnum() or text[end] in "_."):
                raise _Error(
                    "expected a number, but it runs into other characters; quote text values",
                    i,
                )
            tokens.append(_Token(_Kind.NUMBER, m.group(), i, m.group()))
            i = end
            continue
        if _NAME_START.match(ch):
            m = _NAME.match(text, i)
            assert m is not None
            tokens.append(_Token(_Kind.NAME, m.group(), i, m.group()))
            i = m.end()
            continue
        if ch == "!":
            raise _Error("expected '!=' ('!' alone is not an operator)", i)
        raise _Error(f"unexpected character {ch!r}", i)
    tokens.append(_Token(_Kind.END, "", n, ""))
    return tokens


def _expects_value(previous: _Token | None) -> bool:
    # "+"/"-" start a number only where a value may come (after an operator, '(' or ',').
    return previous is not None and previous.kind in (_Kind.OP, _Kind.LPAREN, _Kind.COMMA)


def _read_quoted(text: str, start: int) -> tuple[int, str]:
    """Read a quoted string/name at ``start``; return (end offset, decoded value).

    The quote character is escaped by doubling it or by a backslash before it; every other
    backslash is kept (LIKE patterns use it).
    """
    quote = text[start]
    out: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] == quote:
            out.append(quote)
            i += 2
            continue
        if ch == quote:
            if i + 1 < n and text[i + 1] == quote:
                out.append(quote)
                i += 2
                continue
            return i + 1, "".join(out)
        out.append(ch)
        i += 1
    what = "name" if quote == "`" else "string"
    raise _Error(f"unterminated {what}: close it with {quote}", start)


# -- parser ----------------------------------------------------------------------------------


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.i = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def at(self, kind: _Kind) -> bool:
        return self.tokens[self.i].kind is kind

    def advance(self) -> _Token:
        token = self.tokens[self.i]
        if token.kind is not _Kind.END:
            self.i += 1
        return token

    def fail(self, expected: str, token: _Token | None = None) -> _Error:
        token = token or self.tok
        return _Error(f"expected {expected}, found {token.describe()}", token.pos)

    def at_keyword(self, *words: str) -> bool:
        return self.tok.keyword in words

    def expect_keyword(self, word: str) -> None:
        if not self.at_keyword(word):
            raise self.fail(word)
        self.advance()

    # filter := clause (AND clause)*
    def filter(self) -> list[Condition]:
        if self.at(_Kind.END):
            return []
        conditions = [self.clause()]
        while not self.at(_Kind.END):
            if self.at_keyword("OR"):
                raise _Error(
                    "OR is not supported: clauses can only be joined with AND "
                    "(run one search per alternative, or use IN (...))",
                    self.tok.pos,
                )
            if not self.at_keyword("AND"):
                raise self.fail("AND or the end of the filter")
            self.advance()
            conditions.append(self.clause())
        return conditions

    def field(self) -> Field:
        token = self.tok
        if token.kind is _Kind.LPAREN:
            raise _Error("expected a field; parentheses are only used around IN lists", token.pos)
        if token.kind is not _Kind.NAME or token.keyword:
            raise self.fail(
                "a field such as metrics.<key>, params.<key>, tags.<key> or an attribute "
                f"({', '.join(ATTRIBUTES)})"
            )
        self.advance()
        name = token.text
        if not self.at(_Kind.DOT):
            return Field(FieldKind.ATTRIBUTE, _attribute(name, token))
        kind = _PREFIXES.get(name.lower())
        if kind is None:
            raise _Error(
                f"unknown field prefix {name!r}: use metrics., params., tags. or attributes.",
                token.pos,
            )
        self.advance()  # the dot
        key_token = self.tok
        if key_token.kind not in (_Kind.NAME, _Kind.QUOTED_NAME, _Kind.STRING):
            raise self.fail(f"a key after '{name}.' (quote keys with spaces in backticks)")
        self.advance()
        if self.at(_Kind.DOT):
            dot = self.tok.pos
            parts = [key_token.text]
            while self.at(_Kind.DOT):
                self.advance()
                if self.at(_Kind.NAME):
                    parts.append(self.advance().text)
            dotted = ".".join(parts).replace("`", "``")
            raise _Error(
                f"keys containing dots must be quoted in backticks: {name}.`{dotted}`", dot
            )
        key = key_token.text
        if not key:
            raise _Error("empty key: name the metric, param or tag", key_token.pos)
        if kind is FieldKind.ATTRIBUTE:
            return Field(kind, _attribute(key, key_token))
        return Field(kind, key)

    def clause(self) -> Condition:
        field = self.field()
        op_token = self.tok
        op = self.operator()
        if op in ("IS NULL", "IS NOT NULL"):
            return Condition(field, op, None)
        if op in ("IN", "NOT IN"):
            values = self.value_list()
            return Condition(field, op, self.check_list(field, op, values, op_token))
        value = self.advance()
        if value.kind not in (_Kind.STRING, _Kind.NUMBER):
            raise self.fail("a value (a number, or text in quotes)", value)
        return Condition(field, op, self.check_value(field, op, value, op_token))

    def operator(self) -> str:
        token = self.tok
        if token.kind is _Kind.OP:
            self.advance()
            return token.text
        word = token.keyword
        if word in ("LIKE", "ILIKE", "IN"):
            self.advance()
            return word
        if word == "NOT":
            self.advance()
            nxt = self.tok.keyword
            if nxt not in ("LIKE", "ILIKE", "IN"):
                raise self.fail("LIKE, ILIKE or IN after NOT")
            self.advance()
            return f"NOT {nxt}"
        if word == "IS":
            self.advance()
            negated = self.at_keyword("NOT")
            if negated:
                self.advance()
            if not self.at_keyword("NULL"):
                raise self.fail("NULL after IS" if not negated else "NULL after IS NOT")
            self.advance()
            return "IS NOT NULL" if negated else "IS NULL"
        raise self.fail(_OP_HINT)

    def value_list(self) -> list[_Token]:
        if not self.at(_Kind.LPAREN):
            raise self.fail("'(' to open the IN list, as in IN ('a', 'b')")
        self.advance()
        values: list[_Token] = []
        while True:
            token = self.tok
            if token.kind is _Kind.RPAREN and values:
                self.advance()
                return values
            if token.kind not in (_Kind.STRING, _Kind.NUMBER):
                raise self.fail("a value in the IN list (text in quotes, or a number)")
            values.append(self.advance())
            if self.at(_Kind.COMMA):
                self.advance()
            elif not self.at(_Kind.RPAREN):
                raise self.fail("',' or ')' in the IN list")

    def check_value(self, field: Field, op: str, token: _Token, op_token: _Token) -> Value:
        kind = _value_kind(field)
        if kind in ("number", "time"):
            if op not in _COMPARISONS:
                raise _Error(
                    f"{field} is a number: compare it with =, !=, <, <=, > or >=", op_token.pos
                )
            if kind == "time":
                return _time_value(token)
            if token.kind is not _Kind.NUMBER:
                raise _Error(
                    f"expected a number to compare {field} with, found {token.describe()}",
                    token.pos,
                )
            return float(token.text)
        if op not in _TEXT_OPS:
            raise _Error(
                f"{field} is text: compare it with =, !=, LIKE, ILIKE or IN; ordering "
                "comparisons work on metrics (log numbers you want to compare as metrics)",
                op_token.pos,
            )
        return _text_value(field, op, token)

    def check_list(
        self, field: Field, op: str, tokens: list[_Token], op_token: _Token
    ) -> tuple[str, ...]:
        if _value_kind(field) != "text":
            raise _Error(f"{field} is a number: IN works on text fields", op_token.pos)
        return tuple(_text_value(field, op, t) for t in tokens)

    # order_by := field [ASC|DESC]
    def order_term(self) -> OrderTerm:
        if self.at(_Kind.END):
            raise self.fail("a field to order by, such as metrics.loss or start_time")
        field = self.field()
        descending = False
        if self.at_keyword("ASC", "DESC"):
            descending = self.advance().text.upper() == "DESC"
        if not self.at(_Kind.END):
            raise self.fail("ASC, DESC or the end of the order_by entry")
        return OrderTerm(field, descending)


def _attribute(name: str, token: _Token) -> str:
    lowered = name.lower()
    lowered = _ATTRIBUTE_ALIASES.get(lowered, lowered)
    if lowered not in ATTRIBUTES:
        raise _Error(
            f"unknown attribute {name!r}: use one of {', '.join(ATTRIBUTES)}, or prefix a key "
            f"(metrics.{name}, params.{name}, tags.{name})",
            token.pos,
        )
    return lowered


def _value_kind(field: Field) -> str:
    if field.kind is FieldKind.METRIC:
        return "number"
    if field.kind is FieldKind.ATTRIBUTE:
        return ATTRIBUTES[field.key]
    return "text"


def _text_value(field: Field, op: str, token: _Token) -> str:
    if field.kind is FieldKind.ATTRIBUTE and field.key == "status" and "LIKE" not in op:
        status = token.text.upper()
        if status not in RunStatus.__members__:
            raise _Error(
                f"unknown status {token.raw}: use one of {', '.join(RunStatus)}", token.pos
            )
        return status
    return token.text


def _time_value(token: _Token) -> int:
    if token.kind is _Kind.NUMBER:
        value = float(token.text)
        if not math.isfinite(value) or value != int(value):
            raise _Error("expected whole epoch milliseconds", token.pos)
        return int(value)
    text = token.text.strip()
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise _Error(
            f"expected epoch milliseconds or an ISO 8601 date such as '2024-05-01T12:00:00Z', "
            f"found {token.raw}",
            token.pos,
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def _invalid(what: str, text: str, error: _Error, field: str) -> InvalidFilter:
    position = error.pos + 1
    caret = " " * error.pos + "^"
    message = f"invalid {what} at position {position}: {error.message}\n  {text}\n  {caret}"
    return InvalidFilter(message, field=field, position=position)


def parse_filter(text: str) -> list[Condition]:
    """Parse a filter into its AND-ed conditions (empty text: no conditions).

    Raises ``InvalidFilter`` whose message shows the position with a caret and what was
    expected there.
    """
    try:
        return _Parser(text).filter()
    except _Error as error:
        raise _invalid("filter", text, error, "filter") from None


def parse_order_by(entries: Sequence[str]) -> list[OrderTerm]:
    """Parse ``order_by`` entries such as ``metrics.loss ASC`` or ``start_time DESC``.

    Raises ``InvalidFilter`` (field ``order_by``) on a malformed entry.
    """
    terms: list[OrderTerm] = []
    for entry in entries:
        try:
            terms.append(_Parser(entry).order_term())
        except _Error as error:
            raise _invalid("order_by entry", entry, error, "order_by") from None
    return terms
