"""One call to an OpenAI-compatible ``/chat/completions`` endpoint, shared by targets and judges.

Any server speaking the OpenAI chat API works: the gateway's ``/v1``, vLLM, llama.cpp, OpenAI.
Failures are mapped once to Podium errors: unreachable or 5xx -> ``ServiceUnavailable`` (worth
a retry), other 4xx -> ``InvalidInput`` naming the URL and model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from podium.errors import InvalidInput, ServiceUnavailable


@dataclass(frozen=True)
class Completion:
    """The assistant's text and the token usage the server reported."""

    text: str
    usage: dict[str, int] = field(default_factory=dict)


def chat_completion(
    http: httpx.Client,
    base_url: str,
    model: str,
    messages: list[dict[str, Any]],
    *,
    params: dict[str, Any] | None = None,
    api_key: str | None = None,
    timeout: float | None = None,
    headers: dict[str, str] | None = None,
) -> Completion:
    """POST ``{base_url}/chat/completions`` and return the first choice's message text
    (``headers``: extra request headers, e.g. the gateway's ``x-podium-project``)."""
    url = base_url.rstrip("/") + "/chat/completions"
    body = {"model": model, "messages": messages, **(params or {})}
    headers = dict(headers or {})
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    try:
        response = http.post(url, json=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException as exc:
        raise ServiceUnavailable(f"{url} did not answer in time: {exc}") from None
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(f"cannot reach {url}: {exc}") from None
    if response.status_code >= 500 or response.status_code == 429:
        raise ServiceUnavailable(f"{url} answered {response.status_code}: {response.text[:200]}")
    if response.status_code >= 400:
        raise InvalidInput(
            f"{url} refused model {model!r} with {response.status_code}: {response.text[:200]}",
            field="targets",
        )
    try:
        data = response.json()
        text = data["choices"][0]["message"]["content"] or ""
    except (ValueError, KeyError, IndexError, TypeError):
        raise ServiceUnavailable(f"{url} answered without choices[0].message.content") from None
    usage = {k: int(v) for k, v in (data.get("usage") or {}).items() if isinstance(v, int)}
    return Completion(str(text), usage)
