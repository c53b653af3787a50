"""The run-search language: tokenizing, parsing, and the errors a person sees."""

from __future__ import annotations

import pytest

from podium.errors import InvalidFilter
from podium.tracking.filters import (
    Condition,
    Field,
    FieldKind,
    OrderTerm,
    parse_filter,
    parse_order_by,
)

M, P, T, A = FieldKind.METRIC, FieldKind.PARAM, FieldKind.TAG, FieldKind.ATTRIBUTE


def one(text: str) -> Condition:
    conditions = parse_filter(text)
    assert len(conditions) == 1
    return conditions[0]


def error(text: str) -> InvalidFilter:
    with pytest.raises(InvalidFilter) as info:
        parse_filter(text)
    return info.value


# -- what parses --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\t\n"])
def test_empty_filter_has_no_conditions(text):
    assert parse_filter(text) == []


@pytest.mark.parametrize(
    ("text", "op", "value"),
    [
        ("metrics.loss < 0.5", "<", 0.5),
        ("metrics.loss <= 0.5", "<=", 0.5),
        ("metrics.loss > 0.5", ">", 0.5),
        ("metrics.loss >= 0.5", ">=", 0.5),
        ("metrics.loss = 0.5", "=", 0.5),
        ("metrics.loss == 0.5", "=", 0.5),
        ("metrics.loss != 0.5", "!=", 0.5),
        ("metrics.loss <> 0.5", "!=", 0.5),
        ("metrics.loss<0.5", "<", 0.5),
        ("metrics.loss>=-1e-3", ">=", -0.001),
        ("metrics.loss > +2", ">", 2.0),
        ("metrics.loss < .25", "<", 0.25),
        ("metrics.loss < 3.", "<", 3.0),
        ("metrics.loss < 1E3", "<", 1000.0),
    ],
)
def test_metric_comparisons(text, op, value):
    assert one(text) == Condition(Field(M, "loss"), op, value)


def test_two_character_operators_win_over_one_character_ones():
    # "<=" must not lex as "<" followed by "=".
    assert one("metrics.a<=1").op == "<="
    assert one("metrics.a>=1").op == ">="
    assert one("metrics.a!=1").op == "!="


def test_clauses_join_with_and_in_any_case():
    conditions = parse_filter(
        "metrics.loss < 1 and params.lr = '0.1' AND tags.team = 'nlp' aNd status = 'RUNNING'"
    )
    assert conditions == [
        Condition(Field(M, "loss"), "<", 1.0),
        Condition(Field(P, "lr"), "=", "0.1"),
        Condition(Field(T, "team"), "=", "nlp"),
        Condition(Field(A, "status"), "=", "RUNNING"),
    ]


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("metrics.`val loss` < 1", "val loss"),
        ("metrics.`a.b.c` < 1", "a.b.c"),
        ("metrics.`with ``tick``` < 1", "with `tick`"),
        ('metrics."quoted key" < 1', "quoted key"),
        ("metrics.train/loss < 1", "train/loss"),
        ("metrics.eval-acc:top1 < 1", "eval-acc:top1"),
        ("metrics.1st < 1", "1st"),
        ("metric.loss < 1", "loss"),
        ("METRICS.loss < 1", "loss"),
    ],
)
def test_metric_keys(text, key):
    assert one(text).field == Field(M, key)


def test_prefixes_and_attribute_spellings():
    assert one("params.lr = 'x'").field == Field(P, "lr")
    assert one("param.lr = 'x'").field == Field(P, "lr")
    assert one("tags.t = 'x'").field == Field(T, "t")
    assert one("tag.t = 'x'").field == Field(T, "t")
    for spelling in ("status", "attributes.status", "attribute.status", "run.status", "STATUS"):
        assert one(f"{spelling} = 'FINISHED'").field == Field(A, "status"), spelling
    assert one("run_id = 'abc'").field == Field(A, "id")
    assert one("run_name = 'abc'").field == Field(A, "name")


def test_strings_in_single_and_double_quotes_with_escapes():
    assert one("params.a = 'x'").value == "x"
    assert one('params.a = "x"').value == "x"
    assert one("params.a = 'it''s'").value == "it's"
    assert one(r"params.a = 'it\'s'").value == "it's"
    assert one('params.a = "say ""hi"""').value == 'say "hi"'
    assert one("params.a = 'and or = < ('").value == "and or = < ("
    assert one("params.a = ''").value == ""
    # Backslashes other than before the quote are kept (LIKE patterns use them).
    assert one(r"params.a LIKE 'a\_b%'").value == r"a\_b%"


def test_text_operators():
    assert one("params.a LIKE 'x%'") == Condition(Field(P, "a"), "LIKE", "x%")
    assert one("params.a like 'x%'").op == "LIKE"
    assert one("params.a ILIKE 'x%'").op == "ILIKE"
    assert one("params.a NOT LIKE 'x%'").op == "NOT LIKE"
    assert one("params.a not ilike 'x%'").op == "NOT ILIKE"
    assert one("params.a != 'x'").op == "!="


def test_unquoted_numbers_compare_with_params_as_the_text_written():
    assert one("params.batch = 32").value == "32"
    assert one("params.lr = 0.010").value == "0.010"


def test_in_lists():
    assert one("params.opt IN ('adam', \"sgd\", 3)") == Condition(
        Field(P, "opt"), "IN", ("adam", "sgd", "3")
    )
    assert one("params.opt in ('adam')").value == ("adam",)
    assert one("params.opt IN ('a', 'b',)").value == ("a", "b")
    assert one("tags.t NOT IN ('a','b')") == Condition(Field(T, "t"), "NOT IN", ("a", "b"))


def test_is_null_and_is_not_null():
    assert one("parent_run_id IS NULL") == Condition(Field(A, "parent_run_id"), "IS NULL", None)
    assert one("end_time is not null") == Condition(Field(A, "end_time"), "IS NOT NULL", None)
    assert one("metrics.loss IS NULL").op == "IS NULL"
    assert one("params.lr IS NOT NULL").op == "IS NOT NULL"


def test_status_values_are_normalised_and_checked():
    assert one("status = 'finished'").value == "FINISHED"
    assert one("status IN ('failed', 'KILLED')").value == ("FAILED", "KILLED")
    # LIKE patterns are not status names.
    assert one("status LIKE 'FIN%'").value == "FIN%"


def test_times_take_epoch_ms_or_iso_dates():
    assert one("start_time > 1700000000000").value == 1_700_000_000_000
    assert one("start_time >= '2024-01-01'").value == 1_704_067_200_000
    assert one("end_time < '2024-01-01T00:00:01Z'").value == 1_704_067_201_000
    assert one("end_time < '2024-01-01T02:00:00+02:00'").value == 1_704_067_200_000


def test_keywords_are_keys_after_a_prefix():
    assert one("params.in = 'x'").field == Field(P, "in")
    assert one("tags.and = 'x'").field == Field(T, "and")


# -- what does not, and how it says so ------------------------------------------------------


def test_error_shows_position_caret_and_expectation():
    err = error("metrics.loss 0.5")
    assert err.message == (
        "invalid filter at position 14: expected an operator (=, !=, <, <=, >, >=, LIKE, ILIKE, "
        "IN, NOT IN, IS NULL, IS NOT NULL), found 0.5\n"
        "  metrics.loss 0.5\n"
        "               ^"
    )
    assert err.field == "filter"
    assert err.extra == {"position": 14}
    assert err.status == 422


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("metrics.loss <", 15, "expected a value (a number, or text in quotes)"),
        ("metrics.loss < 1 and", 21, "expected a field"),
        ("metrics.loss < 1 metrics.x < 2", 18, "expected AND or the end of the filter"),
        ("metrics.loss < 1 or metrics.x < 2", 18, "OR is not supported"),
        ("(metrics.loss < 1)", 1, "parentheses are only used around IN lists"),
        ("metrics.a.b < 1", 10, "keys containing dots must be quoted in backticks: metrics.`a.b`"),
        ("foo.x = 1", 1, "unknown field prefix 'foo'"),
        ("loss < 1", 1, "unknown attribute 'loss'"),
        ("metrics. < 1", 10, "expected a key after 'metrics.'"),
        ("metrics.`` < 1", 9, "empty key"),
        ("params.a = 'open", 12, "unterminated string: close it with '"),
        ("metrics.`open < 1", 9, "unterminated name: close it with `"),
        ("metrics.loss < 'a'", 16, "expected a number to compare metrics.loss with"),
        ("metrics.loss LIKE 'a'", 14, "metrics.loss is a number"),
        ("metrics.loss IN (1, 2)", 14, "IN works on text fields"),
        ("params.lr < 0.1", 11, "params.lr is text"),
        ("params.a IN ()", 14, "expected a value in the IN list"),
        ("params.a IN 'x'", 13, "expected '(' to open the IN list"),
        ("params.a IN ('x' 'y')", 18, "expected ',' or ')' in the IN list"),
        ("params.a IN ('x'", 17, "expected ',' or ')' in the IN list"),
        ("params.a IS 'x'", 13, "expected NULL after IS"),
        ("params.a IS NOT 1", 17, "expected NULL after IS NOT"),
        ("params.a NOT = 'x'", 14, "expected LIKE, ILIKE or IN after NOT"),
        ("params.a = x", 12, "expected a value"),
        ("status = 'done'", 10, "unknown status 'done'"),
        ("start_time > 'yesterday'", 14, "expected epoch milliseconds or an ISO 8601 date"),
        ("start_time > 1.5", 14, "expected whole epoch milliseconds"),
        ("metrics.x < 5abc", 13, "runs into other characters"),
        ("name ! 'x'", 6, "expected '!='"),
        ("name = 'x' ;", 12, "unexpected character ';'"),
        ("AND name = 'x'", 1, "expected a field"),
    ],
)
def test_errors(text, position, fragment):
    err = error(text)
    assert err.extra["position"] == position
    assert fragment in err.message
    lines = err.message.split("\n")
    assert lines[1] == "  " + text
    assert lines[2] == "  " + " " * (position - 1) + "^"


def test_field_renders_back_in_the_language():
    assert str(Field(M, "loss")) == "metrics.loss"
    assert str(Field(P, "train/lr")) == "params.train/lr"
    assert str(Field(T, "a b")) == "tags.`a b`"
    assert str(Field(M, "a.b")) == "metrics.`a.b`"
    assert str(Field(M, "x`y")) == "metrics.`x``y`"
    assert str(Field(A, "status")) == "status"
    for field in (Field(M, "a b"), Field(P, "x.y"), Field(T, "q`r"), Field(M, "eval/loss")):
        assert one(f"{field} IS NULL").field == field


# -- order_by -----------------------------------------------------------------------------------


def test_order_by_terms():
    assert parse_order_by(
        ["metrics.loss", "start_time DESC", "params.`a b` asc", "tags.t desc", "attributes.name"]
    ) == [
        OrderTerm(Field(M, "loss"), descending=False),
        OrderTerm(Field(A, "start_time"), descending=True),
        OrderTerm(Field(P, "a b"), descending=False),
        OrderTerm(Field(T, "t"), descending=True),
        OrderTerm(Field(A, "name"), descending=False),
    ]
    assert parse_order_by([]) == []


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        ("", "expected a field to order by"),
        ("metrics.loss up", "expected ASC, DESC or the end of the order_by entry, found 'up'"),
        ("loss", "unknown attribute 'loss'"),
        ("metrics.loss ASC DESC", "expected ASC, DESC or the end"),
    ],
)
def test_order_by_errors(entry, fragment):
    with pytest.raises(InvalidFilter) as info:
        parse_order_by(["start_time", entry])
    assert fragment in info.value.message
    assert info.value.field == "order_by"
    assert info.value.message.startswith("invalid order_by entry at position")
