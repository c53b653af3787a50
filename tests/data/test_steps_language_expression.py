"""The ``language`` step and the ``filter`` step's sandboxed ``expression`` (no database)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pytest

from podium.data.pipeline import STEPS, parse_pipeline, run_pipeline
from podium.data.steps.base import StepOutcome, report
from podium.data.steps.language import detect
from podium.errors import InvalidInput

ENGLISH = "The committee will publish its annual report on the state of the rivers next week."
FRENCH = "Le comité publiera la semaine prochaine son rapport annuel sur l'état des rivières."
GERMAN = "Der Ausschuss veröffentlicht nächste Woche seinen Jahresbericht über die Flüsse."
SPANISH = "El comité publicará la próxima semana su informe anual sobre el estado de los ríos."


def _table(inputs: list[str], metadata: list[dict[str, object]] | None = None) -> pa.Table:
    metadata = metadata or [{} for _ in inputs]
    return pa.table(
        {
            "input": pa.array(inputs, pa.string()),
            "expected": pa.array([None] * len(inputs), pa.string()),
            "metadata": pa.array([json.dumps(m) for m in metadata], pa.string()),
        }
    )


def _run(table: pa.Table, *spec: dict[str, object]) -> tuple[pa.Table, list]:
    return run_pipeline(table, parse_pipeline(list(spec)))


def test_detect_names_the_language_and_is_unknown_for_digits() -> None:
    assert detect(ENGLISH)[0] == "en"
    assert detect(FRENCH)[0] == "fr"
    assert detect(GERMAN)[0] == "de"
    assert detect(SPANISH)[0] == "es"
    assert detect("12345 678")[0] == "unknown"
    _, confidence = detect(ENGLISH)
    assert confidence > 0.9


def test_language_step_keeps_listed_languages_and_counts_all() -> None:
    rows = [ENGLISH, FRENCH, GERMAN, SPANISH, "12345 678", ENGLISH + " Again."]
    table, (report,) = _run(
        _table(rows), {"name": "language", "params": {"keep": ["en", "fr"], "field": "lang"}}
    )
    assert table["input"].to_pylist() == [ENGLISH, FRENCH, ENGLISH + " Again."]
    assert [json.loads(m)["lang"] for m in table["metadata"].to_pylist()] == ["en", "fr", "en"]
    assert (report.rows_in, report.rows_out, report.removed, report.changed) == (6, 3, 3, 3)
    assert report.details == {
        "languages": {"en": 2, "de": 1, "es": 1, "fr": 1, "unknown": 1},
        "dropped": {"de": 1, "es": 1, "unknown": 1},
    }
    assert [e["language"] for e in report.examples] == ["de", "es", "unknown"]
    assert report.params == {
        "keep": ["en", "fr"],
        "drop": [],
        "keep_unknown": False,
        "min_confidence": 0.5,
        "field": "lang",
    }


def test_language_step_drop_keep_unknown_and_report_only() -> None:
    rows = [ENGLISH, GERMAN, "12345 678"]
    dropped, (report,) = _run(_table(rows), {"name": "language", "params": {"drop": ["de"]}})
    assert dropped["input"].to_pylist() == [ENGLISH, "12345 678"]
    assert report.details["dropped"] == {"de": 1}
    kept, _ = _run(
        _table(rows), {"name": "language", "params": {"keep": ["en"], "keep_unknown": True}}
    )
    assert kept["input"].to_pylist() == [ENGLISH, "12345 678"]
    everything, (report,) = _run(_table(rows), {"name": "language"})
    assert everything.num_rows == 3
    assert report.details["languages"] == {"de": 1, "en": 1, "unknown": 1}
    # Below the confidence bar a row is unknown (Spanish here scores about 0.96).
    sure, (report,) = _run(
        _table([ENGLISH, SPANISH]),
        {"name": "language", "params": {"keep": ["en", "es"], "min_confidence": 0.99}},
    )
    assert sure["input"].to_pylist() == [ENGLISH]
    assert report.details["dropped"] == {"unknown": 1}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"keep": ["english"]}, "parameter 'keep' must be a list drawn from"),
        ({"keep": "en"}, "parameter 'keep' must be a list drawn from"),
        ({"keep": ["en"], "drop": ["fr"]}, "cannot be combined with 'keep'"),
        ({"min_confidence": 2}, "parameter 'min_confidence' must be between 0 and 1"),
        ({"keep_unknown": "yes"}, "parameter 'keep_unknown' must be true or false"),
        ({"languages": ["en"]}, "has no parameter 'languages'"),
    ],
)
def test_language_step_rejects_bad_parameters(params: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_pipeline([{"name": "language", "params": params}])
    assert message in caught.value.message


def test_filter_expression_over_input_expected_and_metadata() -> None:
    table = _table(
        ["a long enough question here", "short", "another long question here", "long spam here!"],
        [{"source": "web"}, {"source": "web"}, {}, {"source": "spam"}],
    )
    expression = "len(input) > 10 and metadata.source != 'spam'"
    kept, (report,) = _run(table, {"name": "filter", "params": {"expression": expression}})
    # A missing metadata key is undefined: unequal to 'spam', so row 2 stays.
    assert kept["input"].to_pylist() == [
        "a long enough question here",
        "another long question here",
    ]
    assert report.details == {"expression": 2}
    assert [e["reason"] for e in report.examples] == ["expression false", "expression false"]
    assert report.params["expression"] == expression

    defined, _ = _run(
        table,
        {
            "name": "filter",
            "params": {"expression": "metadata.source is defined and 'question' in input|lower"},
        },
    )
    assert defined["input"].to_pylist() == ["a long enough question here"]
    # Without an expression the recorded parameters are unchanged.
    _, (plain,) = _run(table, {"name": "filter", "params": {"min_chars": 1}})
    assert "expression" not in plain.params


def test_filter_expression_syntax_error_is_a_422_naming_it() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_pipeline([{"name": "filter", "params": {"expression": "len(input) >"}}])
    assert caught.value.message.startswith("step 'filter': expression 'len(input) >' is not valid")
    assert caught.value.field == "steps.expression"
    with pytest.raises(InvalidInput, match="'expression' is empty"):
        parse_pipeline([{"name": "filter", "params": {"expression": "  "}}])
    with pytest.raises(InvalidInput, match="No filter named 'center'"):
        parse_pipeline([{"name": "filter", "params": {"expression": "input|center(10**8)"}}])


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("input.__class__.__mro__[1].__subclasses__()", "attribute '__class__'"),
        ("expected.__init__.__globals__", "attribute '__init__' of 'NoneType' object is unsafe"),
        ("metadata.update({'a': 1})", "attribute 'update' of 'dict' object is unsafe"),
        ("input.center(1000000000)", "attribute 'center' of 'str' object is unsafe"),
        ("'x' * 10**9", "a repeated sequence above 1,000,000 items"),
        ("(10**999)**999", "a power above a million bits"),
        ("range(10**9)", "'range' is undefined"),
        ("lipsum()", "'lipsum' is undefined"),
        ("len(5)", "has no len()"),
    ],
)
def test_filter_expression_escape_attempts_are_refused(expression: str, why: str) -> None:
    step = parse_pipeline([{"name": "filter", "params": {"expression": expression}}])
    with pytest.raises(InvalidInput) as caught:
        run_pipeline(_table(["hello"]), step)
    assert caught.value.message.startswith(f"step 'filter': expression {expression!r} failed")
    assert why in caught.value.message


class _Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, int, int]] = []

    def started(self, index: int, rows_in: int) -> None:
        self.events.append(("started", index, rows_in))

    def rows(self, index: int, done: int) -> None:
        self.events.append(("rows", index, done))

    def finished(self, index: int, report: object) -> None:
        self.events.append(("finished", index, getattr(report, "rows_out", -1)))


def test_row_by_row_steps_report_rows_done_every_thousand_rows() -> None:
    table = _table([f"row {i}" for i in range(2500)])
    recorder = _Recorder()
    steps = parse_pipeline(
        [{"name": "filter", "params": {"min_chars": 6}}, {"name": "normalise"}, {"name": "split"}]
    )
    run_pipeline(table, steps, recorder)
    assert recorder.events == [
        ("started", 0, 2500),
        ("rows", 0, 1000),
        ("rows", 0, 2000),
        ("finished", 0, 2490),  # "row 0" … "row 9" are shorter than 6 characters
        ("started", 1, 2490),
        # normalise scans input then expected: a row is done once both are.
        ("rows", 1, 500),
        ("rows", 1, 1000),
        ("rows", 1, 1745),
        ("rows", 1, 2245),
        ("finished", 1, 2490),
        ("started", 2, 2490),
        ("finished", 2, 2490),
    ]


class _TableOnly:
    """A third-party step written before row progress: ``apply`` takes only the table."""

    name = "table_only"

    def __init__(self, given: Mapping[str, Any]) -> None:
        self.params: dict[str, Any] = {}

    def apply(self, table: pa.Table) -> StepOutcome:
        return StepOutcome(table, report(self.name, self.params, table, table))


def test_steps_without_row_progress_still_run_with_progress(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(STEPS, "table_only", _TableOnly)
    recorder = _Recorder()
    result, _ = run_pipeline(_table(["a", "b"]), parse_pipeline([{"name": "table_only"}]), recorder)
    assert result.num_rows == 2
    assert recorder.events == [("started", 0, 2), ("finished", 0, 2)]
