"""National ids in the ``pii`` step: pattern + ``python-stdnum`` checksum (+ context words)."""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pytest

from podium.data.pipeline import parse_pipeline, run_pipeline
from podium.data.steps.national_ids import ID_TYPE_NAMES, find_national_ids
from podium.errors import InvalidInput

# Valid example numbers (published test values); each line is one id type in context.
VALID = {
    "us_ssn": "SSN 078-05-1121",
    "de_idnr": "Steuer-ID 36 574 261 809",
    "fr_nir": "NIR 2 95 10 99 126 111 93",
    "es_dni": "DNI 54362315K",
    "es_nie": "NIE X2482300W",
    "it_codice_fiscale": "codice fiscale RCCMNL83S18D969H",
    "nl_bsn": "BSN 111222333",
    "in_aadhaar": "Aadhaar 2341 2341 2346",
    "gb_nhs": "NHS number 943 476 5919",
    "br_cpf": "CPF 390.533.447-05",
}


def _table(inputs: list[str]) -> pa.Table:
    return pa.table(
        {
            "input": pa.array(inputs, pa.string()),
            "expected": pa.array([None] * len(inputs), pa.string()),
            "metadata": pa.array([json.dumps({})] * len(inputs), pa.string()),
        }
    )


@pytest.mark.parametrize("id_type", ID_TYPE_NAMES)
def test_each_type_is_found_only_in_its_valid_form(id_type: str) -> None:
    text = VALID[id_type]
    found = list(find_national_ids(text, [id_type]))
    assert len(found) == 1, found
    _, end, kind = found[0]
    assert kind == id_type
    assert text[end:] == ""
    # Change the last digit or letter (SSN: the area, as it has no check digit): nothing found.
    last = text[-1]
    changed = str((int(last) + 1) % 10) if last.isdigit() else chr((ord(last) - 64) % 26 + 65)
    broken = "SSN 000-05-1121" if id_type == "us_ssn" else text[:-1] + changed
    assert list(find_national_ids(broken, [id_type])) == []


def test_weak_checksums_need_a_context_word() -> None:
    # The same numbers without their context words are not flagged.
    for text in ("order 111222333", "ref 2341 2341 2346", "call 943 476 5919", "n 39053344705"):
        assert list(find_national_ids(text, list(ID_TYPE_NAMES))) == [], text
    # Formatted CPF and spaced IdNr need no context; their bare digits do.
    assert [t for *_, t in find_national_ids("id 390.533.447-05", ["br_cpf"])] == ["br_cpf"]
    assert list(find_national_ids("id 36574261809", ["de_idnr"])) == []
    assert [t for *_, t in find_national_ids("IdNr 36574261809", ["de_idnr"])] == ["de_idnr"]


def test_random_numbers_are_rarely_flagged() -> None:
    rng = random.Random(7)
    texts = [
        "ref " + "".join(rng.choice("0123456789") for _ in range(rng.choice([9, 10, 11, 12, 15])))
        for _ in range(3000)
    ]
    flagged = sum(1 for text in texts if list(find_national_ids(text, list(ID_TYPE_NAMES))))
    # Only the strong checksums (IdNr 11 digits ~0.3%, NIR 15 digits ~1%) can fire bare.
    assert flagged / len(texts) < 0.01


def test_pii_step_redacts_national_ids_and_counts_each_type() -> None:
    rows = [f"{text}." for text in VALID.values()] + ["BSN 111222334 fails the check."]
    table, (report,) = run_pipeline(
        _table(rows), parse_pipeline([{"name": "pii", "params": {"kinds": ["national_id"]}}])
    )
    assert table["input"].to_pylist()[:2] == ["SSN <NATIONAL_ID>.", "Steuer-ID <NATIONAL_ID>."]
    assert table["input"].to_pylist()[-1] == "BSN 111222334 fails the check."
    assert all(text.endswith("<NATIONAL_ID>.") for text in table["input"].to_pylist()[:-1])
    assert report.details["found"] == {"national_id": 10}
    assert report.details["national_ids"] == dict.fromkeys(sorted(ID_TYPE_NAMES), 1)
    assert report.details["findings"][1] == {
        "row": 1,
        "column": "input",
        "kind": "national_id",
        "type": "de_idnr",
        "start": 10,
        "end": 24,
    }
    assert report.changed == 10


def test_pii_step_national_id_types_selection() -> None:
    spec = [{"name": "pii", "params": {"kinds": ["national_id"], "national_ids": ["es_dni"]}}]
    table, (report,) = run_pipeline(
        _table([VALID["es_dni"], VALID["es_nie"]]), parse_pipeline(spec)
    )
    assert table["input"].to_pylist() == ["DNI <NATIONAL_ID>", VALID["es_nie"]]
    assert report.details["national_ids"] == {"es_dni": 1}
    assert report.params["national_ids"] == ["es_dni"]
    with pytest.raises(InvalidInput, match="parameter 'national_ids' must be a list drawn from"):
        parse_pipeline([{"name": "pii", "params": {"national_ids": ["uk_nino"]}}])
