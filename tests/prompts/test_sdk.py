"""The SDK: ``podium.prompts.get`` / ``push``, the per-process cache, client-side rendering."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

import podium.prompts
from podium import errors
from podium.client import Client
from podium.client.prompts import push_json
from tests.conftest import LiveServer

VARS = [{"name": "who", "type": "string"}]


class CountingTransport(httpx.BaseTransport):
    """Counts the requests that reach the server."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.count = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        return self.inner.handle_request(request)


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    podium.prompts.clear_cache()
    yield
    podium.prompts.clear_cache()


@pytest.fixture
def counting(http: httpx.Client) -> CountingTransport:
    return CountingTransport(http._transport)


@pytest.fixture
def sdk(counting: CountingTransport) -> Client:
    return Client(http=httpx.Client(transport=counting, base_url="http://podium.test/api/v1"))


def test_push_get_render_and_lineage(sdk: Client) -> None:
    first = podium.prompts.push(
        "greet", template="Hi {{ who }}!", variables=VARS, labels=["production"], client=sdk
    )
    assert (first.version, first.created) == (1, True)
    again = podium.prompts.push("greet", template="Hi {{ who }}!", variables=VARS, client=sdk)
    assert (again.version, again.created) == (1, False)
    prompt = podium.prompts.get("greet", client=sdk)
    assert prompt.render(who="Ada") == "Hi Ada!"
    assert prompt.lineage() == {"prompt": "greet", "version": 1}
    with pytest.raises(errors.InvalidInput, match="'who' is required"):
        prompt.render()
    with pytest.raises(errors.NotFound):
        podium.prompts.get("greet", label="staging", client=sdk)


def test_chat_prompt_renders_client_side_like_the_server(sdk: Client, http: httpx.Client) -> None:
    messages = [
        {"role": "system", "content": "Be {{ who }}."},
        {"type": "placeholder", "name": "h"},
    ]
    variables = [*VARS, {"name": "h", "type": "messages", "required": False}]
    podium.prompts.push("chat", messages=messages, variables=variables, client=sdk)
    prompt = podium.prompts.get("chat", label="latest", client=sdk)
    history = [{"role": "user", "content": "hi"}]
    local = prompt.render(who="kind", h=history)
    server = http.post(
        "/api/v1/prompts/chat/render",
        json={"label": "latest", "variables": {"who": "kind", "h": history}},
    ).json()["messages"]
    assert local == server == [{"role": "system", "content": "Be kind."}, *history]


def test_fresh_entries_make_no_request(sdk: Client, counting: CountingTransport) -> None:
    podium.prompts.push("greet", template="Hi", labels=["production"], client=sdk)
    before = counting.count
    for _ in range(5):
        assert podium.prompts.get("greet", client=sdk, cache_ttl=60).version == 1
    assert counting.count == before + 1
    for _ in range(3):
        podium.prompts.get("greet", version=1, client=sdk, cache_ttl=0)
    assert counting.count == before + 2  # a pinned version never changes: fetched once


def test_stale_entries_are_served_while_revalidating(
    sdk: Client, counting: CountingTransport
) -> None:
    podium.prompts.push("greet", template="one", labels=["production"], client=sdk)
    assert podium.prompts.get("greet", client=sdk, cache_ttl=0.2).template == "one"
    # Another writer (not this process's SDK, so the cache is not invalidated) moves the label.
    other = Client(
        http=httpx.Client(transport=counting.inner, base_url="http://podium.test/api/v1")
    )
    push_json(other, "default", "greet", {"template": "two"}, labels=["production"])
    time.sleep(0.3)
    assert (
        podium.prompts.get("greet", client=sdk, cache_ttl=0.2).template == "one"
    )  # stale, at once
    deadline = time.monotonic() + 10
    while podium.prompts.get("greet", client=sdk, cache_ttl=60).template != "two":
        assert time.monotonic() < deadline, "the background refresh never landed"
        time.sleep(0.02)


def test_last_version_is_served_while_the_server_is_stopped(
    live_server: LiveServer, caplog: pytest.LogCaptureFixture
) -> None:
    with Client(live_server.url) as sdk:
        podium.prompts.push(
            "greet", template="Hi {{ who }}", variables=VARS, labels=["production"], client=sdk
        )
        assert podium.prompts.get("greet", client=sdk).version == 1
        live_server.stop()
        with caplog.at_level(logging.WARNING, logger="podium.client"):
            for _ in range(3):
                cached = podium.prompts.get("greet", client=sdk, cache_ttl=0)
                assert cached.render(who="Ada") == "Hi Ada"
        warnings = [r for r in caplog.records if "serving cached version 1" in r.getMessage()]
        assert len(warnings) == 1
        fallback = podium.prompts.get("other", client=sdk, fallback="Hello {{ name }}")
        assert fallback.is_fallback and fallback.render(name="Bo") == "Hello Bo"
        with pytest.raises(errors.ServiceUnavailable):
            podium.prompts.get("other", client=sdk)


def test_import_podium_prompts_stays_light() -> None:
    code = (
        "import sys, json, podium, podium.prompts; "
        "assert podium.prompts.get and podium.prompts.push and podium.prompts.Prompt; "
        "print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    heavy = {"fastapi", "sqlalchemy", "starlette", "jinja2", "yaml", "alembic"}
    assert not loaded & heavy, f"import podium.prompts loaded {sorted(loaded & heavy)}"
