"""``pii``: find personal data in ``input`` and ``expected`` and redact it.

Detected kinds: ``email``; ``phone`` (``phonenumbers``, numbers valid for ``region`` or written
with a +country code); ``credit_card`` (13-19 digits passing the Luhn check); ``iban``
(checksum-validated by ``python-stdnum``); ``ip`` (IPv4 and IPv6, parsed); ``url_credentials``
(``scheme://user:password@host``); ``national_id`` (US SSN, German IdNr, French NIR, Spanish
DNI/NIE, Italian codice fiscale, Dutch BSN, Indian Aadhaar, UK NHS number, Brazilian CPF: each
found by pattern and confirmed by its ``python-stdnum`` checksum, see
``podium.data.steps.national_ids``; ``national_ids`` picks the types). Overlapping findings keep
the earliest, longest one.

Modes: ``replace`` writes ``<EMAIL>``; ``mask`` writes ``*`` for every character; ``hash``
writes ``<EMAIL:1a2b3c4d5e>`` (sha256 of the value, so equal values stay joinable). The report
counts findings per kind (and national ids per type) and lists where they were (row, column,
kind, start, end, and ``type`` for national ids).
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import phonenumbers
import pyarrow as pa  # type: ignore[import-untyped]
from stdnum import iban, luhn

from podium.data.steps.base import (
    Params,
    RowProgress,
    StepOutcome,
    column_share,
    counted,
    report,
)
from podium.data.steps.national_ids import ID_TYPE_NAMES, find_national_ids

KINDS = ("url_credentials", "email", "credit_card", "iban", "national_id", "ip", "phone")
MAX_FINDINGS = 1000

Span = tuple[int, int, str]

_URL_CREDENTIALS = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/:@]+:[^\s/@]+@[^\s/?#]+")
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])")


def _matches(pattern: re.Pattern[str], kind: str, check: Callable[[str], bool]) -> Any:
    def find(text: str) -> Iterator[Span]:
        for match in pattern.finditer(text):
            if check(match.group()):
                yield match.start(), match.end(), kind

    return find


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _digits(value: str) -> str:
    return re.sub(r"[ -]", "", value)


_FINDERS: dict[str, Callable[[str], Iterator[Span]]] = {
    "url_credentials": _matches(_URL_CREDENTIALS, "url_credentials", lambda v: True),
    "email": _matches(_EMAIL, "email", lambda v: True),
    "credit_card": _matches(_CARD, "credit_card", lambda v: luhn.is_valid(_digits(v))),
    "iban": _matches(_IBAN, "iban", lambda v: bool(iban.is_valid(v))),
    "ip": lambda text: (
        span for pattern in (_IPV4, _IPV6) for span in _matches(pattern, "ip", _is_ip)(text)
    ),
}


def find_pii(
    text: str,
    kinds: list[str],
    region: str | None = "US",
    national_ids: list[str] | None = None,
) -> list[Span]:
    """Non-overlapping (start, end, kind) findings of ``kinds`` in ``text``, in order.

    A national id's kind is ``national_id:<type>``, e.g. ``national_id:de_idnr``.
    """
    spans: list[Span] = []
    for kind in kinds:
        if kind == "national_id":
            types = list(ID_TYPE_NAMES) if national_ids is None else national_ids
            spans += [(a, b, f"national_id:{t}") for a, b, t in find_national_ids(text, types)]
        elif kind == "phone":
            spans += [
                (m.start, m.end, "phone")
                for m in phonenumbers.PhoneNumberMatcher(text, region or "ZZ")
            ]
        else:
            spans += list(_FINDERS[kind](text))
    spans.sort(key=lambda s: (s[0], -(s[1] - s[0])))
    kept: list[Span] = []
    for span in spans:
        if not kept or span[0] >= kept[-1][1]:
            kept.append(span)
    return kept


def redact(text: str, spans: list[Span], mode: str) -> str:
    """``text`` with each span replaced as ``mode`` says."""
    out = []
    last = 0
    for start, end, found in spans:
        kind = found.partition(":")[0]
        value = text[start:end]
        if mode == "mask":
            replacement = "*" * len(value)
        elif mode == "hash":
            digest = hashlib.sha256(value.encode()).hexdigest()[:10]
            replacement = f"<{kind.upper()}:{digest}>"
        else:
            replacement = f"<{kind.upper()}>"
        out += [text[last:start], replacement]
        last = end
    out.append(text[last:])
    return "".join(out)


class Pii:
    """The ``pii`` step."""

    name = "pii"

    def __init__(self, given: Mapping[str, Any]) -> None:
        params = Params(self.name, given)
        self.kinds = params.strings("kinds", KINDS, KINDS)
        self.mode = params.choice("mode", "replace", ("replace", "mask", "hash"))
        self.region = params.text("region", "US")
        # Recorded in the lineage only when given, so older pii steps keep their exact params.
        self.national_ids = (
            params.strings("national_ids", ID_TYPE_NAMES, ID_TYPE_NAMES)
            if "national_ids" in given
            else list(ID_TYPE_NAMES)
        )
        self.params = params.done()

    def apply(self, table: pa.Table, rows: RowProgress | None = None) -> StepOutcome:
        """Redact every finding in input and expected."""
        counts = dict.fromkeys(self.kinds, 0)
        id_counts: dict[str, int] = {}
        findings: list[dict[str, Any]] = []
        examples: list[dict[str, Any]] = []
        changed_rows: set[int] = set()
        columns = {}
        for position, column in enumerate(("input", "expected")):
            out: list[str | None] = []
            # Both columns are scanned: a row is half done after its input.
            half = column_share(rows, position, 2, table.num_rows)
            for index, text in counted(table[column].to_pylist(), half):
                spans = find_pii(text, self.kinds, self.region, self.national_ids) if text else []
                if not spans:
                    out.append(text)
                    continue
                clean = redact(text, spans, self.mode)
                out.append(clean)
                changed_rows.add(index)
                for start, end, found in spans:
                    kind, _, id_type = found.partition(":")
                    counts[kind] += 1
                    if id_type:
                        id_counts[id_type] = id_counts.get(id_type, 0) + 1
                    if len(findings) < MAX_FINDINGS:
                        where = {"row": index, "column": column, "kind": kind}
                        if id_type:
                            where["type"] = id_type
                        findings.append({**where, "start": start, "end": end})
                if len(examples) < 5:
                    examples.append({"row": index, "column": column, "input": clean[:200]})
            columns[column] = pa.array(out, pa.string())
        result = table.set_column(0, "input", columns["input"]).set_column(
            1, "expected", columns["expected"]
        )
        details = {
            "found": counts,
            "national_ids": dict(sorted(id_counts.items())),
            "findings": findings,
        }
        return StepOutcome(
            result,
            report(
                self.name,
                self.params,
                table,
                result,
                changed=len(changed_rows),
                examples=examples,
                details=details,
            ),
        )
