"""The sandboxed renderer shared by server and SDK: checks at push time, validation at render."""

from __future__ import annotations

from typing import Any

import pytest

from podium.errors import InvalidInput
from podium.prompts.render import (
    MAX_OUTPUT_CHARS,
    check_prompt,
    parse_variables,
    render_chat,
    render_text,
)

VARS = parse_variables(
    [
        {"name": "who", "type": "string"},
        {"name": "n", "type": "integer", "default": 2},
        {"name": "tone", "type": "string", "required": False},
    ]
)


def _error(call: Any, *args: Any) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        call(*args)
    return caught.value


def test_text_renders_with_defaults_and_optional_variables() -> None:
    template = "Hi {{ who }}{% if tone is defined %} ({{ tone }}){% endif %} x{{ n }}"
    assert render_text(template, VARS, {"who": "Ada"}) == "Hi Ada x2"
    assert render_text(template, VARS, {"who": "Ada", "tone": "warm", "n": 3}) == "Hi Ada (warm) x3"


def test_missing_wrong_type_and_unknown_variables_are_named() -> None:
    missing = _error(render_text, "{{ who }}", VARS, {})
    assert missing.field == "who" and "'who' is required (string)" in missing.message
    wrong = _error(render_text, "{{ who }}", VARS, {"who": "a", "n": "3"})
    assert wrong.field == "n" and "must be integer, got str" in wrong.message
    unknown = _error(render_text, "{{ who }}", VARS, {"who": "a", "colour": "red"})
    assert unknown.message == "unknown variables colour; this prompt declares: n, tone, who"


def test_booleans_are_not_integers_and_messages_are_checked() -> None:
    variables = parse_variables(
        [{"name": "k", "type": "number"}, {"name": "h", "type": "messages"}]
    )
    assert (
        "must be number, got bool"
        in _error(render_text, "{{ k }}", variables, {"k": True, "h": []}).message
    )
    bad = _error(render_text, "{{ k }}", variables, {"k": 1, "h": [{"role": "user"}]})
    assert "must be a list of {role, content} messages" in bad.message


def test_undeclared_variables_are_refused_at_push_time() -> None:
    error = _error(check_prompt, "text", "{{ who }} {{ city }} {{ range(3) | list }}", None, VARS)
    assert error.field == "variables"
    assert "undeclared variables city" in error.message


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ who.__globals__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ self._TemplateReference__context }}",
        "{{ who['__class__'] }}",
    ],
)
def test_sandbox_escapes_are_refused_at_push_time(template: str) -> None:
    error = _error(check_prompt, "text", template, None, VARS)
    assert "names starting with '_' are not accessible" in error.message


def test_sandbox_refusals_at_render_time_become_invalid_input() -> None:
    # `attr` hides the name from the static check; the sandbox itself refuses it.
    error = _error(render_text, "{{ who | attr('__class__') }}", VARS, {"who": "x"})
    assert "sandbox refuses" in error.message or "could not render" in error.message
    unsafe = _error(render_text, "{{ who.mro() }}", VARS, {"who": "x"})
    assert "could not render" in unsafe.message


def test_syntax_errors_name_the_line() -> None:
    error = _error(check_prompt, "text", "line one\n{{ who ", None, VARS)
    assert error.message.startswith("template has a template syntax error on line 2")


def test_output_size_is_bounded() -> None:
    template = "{% for i in range(100000) %}{% for j in range(100) %}xx{% endfor %}{% endfor %}"
    error = _error(render_text, template, [], {})
    assert f"over {MAX_OUTPUT_CHARS} characters" in error.message


def test_chat_renders_messages_and_expands_placeholders() -> None:
    variables = parse_variables(
        [{"name": "who", "type": "string"}, {"name": "history", "type": "messages"}]
    )
    messages = [
        {"role": "system", "content": "Help {{ who }}."},
        {"type": "placeholder", "name": "history"},
        {"role": "user", "content": "and now?"},
    ]
    check_prompt("chat", None, messages, variables)
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert render_chat(messages, variables, {"who": "Ada", "history": history}) == [
        {"role": "system", "content": "Help Ada."},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "and now?"},
    ]


def test_chat_shape_errors() -> None:
    undeclared = _error(check_prompt, "chat", None, [{"type": "placeholder", "name": "h"}], [])
    assert 'needs a declared variable of type "messages"' in undeclared.message
    extra = _error(check_prompt, "chat", None, [{"role": "user", "content": "x", "name": "y"}], [])
    assert "must have exactly 'role' and 'content'" in extra.message
    mixed = _error(check_prompt, "text", None, [{"role": "user", "content": "x"}], [])
    assert mixed.field == "template"


def test_variable_declarations_are_validated() -> None:
    assert "type 'str'" in _error(parse_variables, [{"name": "a", "type": "str"}]).message
    assert "declared twice" in _error(parse_variables, [{"name": "a"}, {"name": "a"}]).message
    bad_default = _error(parse_variables, [{"name": "a", "type": "integer", "default": "x"}])
    assert "default of variable 'a' must be integer" in bad_default.message
