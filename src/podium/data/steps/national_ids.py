"""National identity numbers for the ``pii`` step: found by pattern, confirmed by checksum.

Each id type has a pattern for its usual written forms and a ``python-stdnum`` validator that
checks its check digits, so a random number of the right length rarely passes. Where a checksum
is weak (about one random number in eleven passes the Dutch BSN, Indian Aadhaar and UK NHS
checks) or the form is bare digits that many other numbers share, the match also needs a
context word (``BSN``, ``Aadhaar``, ``NHS``, ``CPF`` …) in the 60 characters before it, as
Presidio does, to keep precision high.

| type | written as | validator |
|---|---|---|
| ``us_ssn`` | ``078-05-1120`` | ``stdnum.us.ssn`` |
| ``de_idnr`` | ``36 574 261 809`` or 11 digits (Steuer-IdNr) | ``stdnum.de.idnr`` |
| ``fr_nir`` | ``2 95 10 99 126 111 93`` or 15 characters | ``stdnum.fr.nir`` |
| ``es_dni`` / ``es_nie`` | ``54362315K`` / ``X2482300W`` | ``stdnum.es.dni`` / ``nie`` |
| ``it_codice_fiscale`` | ``RCCMNL83S18D969H`` | ``stdnum.it.codicefiscale`` |
| ``nl_bsn`` | 9 digits after a context word | ``stdnum.nl.bsn`` |
| ``in_aadhaar`` | ``2341 2341 2346`` after a context word | ``stdnum.in_.aadhaar`` |
| ``gb_nhs`` | ``943 476 5919`` after a context word | ``stdnum.gb.nhs`` |
| ``br_cpf`` | ``390.533.447-05``, or 11 digits after a context word | ``stdnum.br.cpf`` |

(The UK National Insurance number has no check digit, so it is not offered: without one a
pattern alone would flag too many reference codes.)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from stdnum.br import cpf
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.gb import nhs
from stdnum.in_ import aadhaar
from stdnum.it import codicefiscale
from stdnum.nl import bsn
from stdnum.us import ssn

CONTEXT_CHARS = 60


@dataclass(frozen=True)
class IdType:
    """One national id: its pattern, its checksum, and the context words it may need."""

    pattern: re.Pattern[str]
    is_valid: Callable[[str], bool]
    # Context needed for every match (``always``), for bare-digit matches only, or never.
    context: re.Pattern[str] | None = None
    context_for_bare_digits_only: bool = False


def _words(*words: str) -> re.Pattern[str]:
    return re.compile(r"\b(?:" + "|".join(words) + r")\b", re.IGNORECASE)


def _valid(module: object) -> Callable[[str], bool]:
    check: Callable[[str], object] = module.is_valid  # type: ignore[attr-defined]
    return lambda value: bool(check(value))


ID_TYPES: dict[str, IdType] = {
    "us_ssn": IdType(re.compile(r"(?<!\d)\d{3}-\d{2}-\d{4}(?!\d)"), _valid(ssn)),
    "de_idnr": IdType(
        re.compile(r"(?<!\d)(?<!\d )\d{2} ?\d{3} ?\d{3} ?\d{3}(?!\d)(?! \d)"),
        _valid(idnr),
        _words("idnr", "id-nr", "steuer-?id", "steuerliche", "identifikationsnummer", "tin"),
        context_for_bare_digits_only=True,
    ),
    "fr_nir": IdType(
        re.compile(
            r"(?<![\dA-Za-z])[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}(?!\d)"
        ),
        _valid(nir),
    ),
    "es_dni": IdType(re.compile(r"(?<![\w-])\d{8}-?[A-Za-z](?!\w)"), _valid(dni)),
    "es_nie": IdType(re.compile(r"(?<![\w-])[XYZxyz]-?\d{7}-?[A-Za-z](?!\w)"), _valid(nie)),
    "it_codice_fiscale": IdType(
        re.compile(
            r"(?<!\w)[A-Za-z]{6}[\dA-Za-z]{2}[A-Za-z][\dA-Za-z]{2}[A-Za-z][\dA-Za-z]{3}[A-Za-z](?!\w)"
        ),
        _valid(codicefiscale),
    ),
    "nl_bsn": IdType(
        re.compile(
            r"(?<!\d)(?<!\d\.)\d{4}\.?\d{2}\.?\d{3}(?!\d)(?!\.\d)|(?<!\d)(?<!\d\.)\d{9}(?!\d)(?!\.\d)"
        ),
        _valid(bsn),
        _words("bsn", "burgerservicenummer", "sofinummer", "sofi-nummer"),
    ),
    "in_aadhaar": IdType(
        re.compile(r"(?<!\d)(?<!\d )\d{4} ?\d{4} ?\d{4}(?!\d)(?! \d)"),
        _valid(aadhaar),
        _words("aadhaar", "aadhar", "uidai", "uid"),
    ),
    "gb_nhs": IdType(
        re.compile(r"(?<!\d)(?<!\d )\d{3} ?\d{3} ?\d{4}(?!\d)(?! \d)"),
        _valid(nhs),
        _words("nhs"),
    ),
    "br_cpf": IdType(
        re.compile(r"(?<!\d)(?<!\d\.)\d{3}\.?\d{3}\.?\d{3}-?\d{2}(?!\d)(?!\.\d)"),
        _valid(cpf),
        _words("cpf"),
        context_for_bare_digits_only=True,
    ),
}
ID_TYPE_NAMES = tuple(ID_TYPES)


def find_national_ids(text: str, types: list[str]) -> Iterator[tuple[int, int, str]]:
    """(start, end, id type) of every checksum-valid national id of ``types`` in ``text``."""
    for name in types:
        id_type = ID_TYPES[name]
        for match in id_type.pattern.finditer(text):
            value = match.group()
            if not id_type.is_valid(value):
                continue
            if id_type.context is not None:
                bare = value.isdigit()
                if bare or not id_type.context_for_bare_digits_only:
                    before = text[max(0, match.start() - CONTEXT_CHARS) : match.start()]
                    if not id_type.context.search(before):
                        continue
            yield match.start(), match.end(), name
