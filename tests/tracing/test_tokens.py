"""``podium.tracing.tokens``: cl100k counts from the offline copy of the encoding."""

from __future__ import annotations

from podium.tracing import tokens


def test_counts_match_cl100k() -> None:
    assert tokens.available()
    assert tokens.count_tokens("hello world, how are you?") == 7
    assert tokens.count_tokens("") == 0
    assert tokens.count_tokens("<|endoftext|>") == 7  # special tokens are counted as text


def test_very_long_text_is_scaled_from_its_head() -> None:
    text = "word " * 100_000  # 500,000 characters
    count = tokens.count_tokens(text)
    assert count is not None
    assert 95_000 <= count <= 105_000
