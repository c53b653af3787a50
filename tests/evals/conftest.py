"""Fixtures of the evals tests: a tiny OpenAI-compatible server on 127.0.0.1 (deterministic
answers, a grading judge, a position-biased judge, a flaky and a slow model), a QA dataset,
environment for CLI runs in embedded mode over the test's database, and headless Chromium for
the UI tests."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from podium.server.app import Services
from podium.settings import Settings
from tests.support.browser import headless_chromium

# The QA dataset every test uses: input, expected answer.
QA = [
    ("What is the capital of France?", "Paris"),
    ("What colour is the sky on a clear day?", "blue"),
    ("How many legs does a spider have?", "8"),
    ("Who wrote Hamlet?", "William Shakespeare"),
    ("What is 2 + 2?", "4"),
    ("What is the largest planet?", "Jupiter"),
]
# What the "good" model answers; the "weak" model gets the last three wrong.
GOOD = {q: a for q, a in QA}
WEAK = {**GOOD, QA[3][0]: "Marlowe", QA[4][0]: "5", QA[5][0]: "Saturn"}


@dataclass
class FakeOpenAI:
    """State of the fake server: requests seen per model, failures still to serve."""

    url: str = ""
    calls: dict[str, int] = field(default_factory=dict)
    flaky_failures: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def count(self, model: str) -> None:
        with self.lock:
            self.calls[model] = self.calls.get(model, 0) + 1


def _answer(state: FakeOpenAI, model: str, messages: list[dict[str, Any]]) -> tuple[int, str]:
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    user = messages[-1]["content"]
    if model == "judge":
        # Grades 5 when the response contains the reference answer, else 1.
        ref = re.search(r"REFERENCE ANSWER:\n(.*?)\n\nRESPONSE:\n(.*?)\n\nRUBRIC", user, re.S)
        if ref is not None:
            good = ref.group(1).strip().lower() in ref.group(2).lower()
            return 200, json.dumps({"score": 5 if good else 1, "reason": "checked"})
        # Pairwise: prefers the response mentioning "Paris".
        first = user.split("RESPONSE 1:\n", 1)[1].split("\n\nRESPONSE 2:", 1)[0]
        return 200, json.dumps({"winner": 1 if "Paris" in first else 2})
    if model == "biased-judge":
        return 200, '{"winner": 1}'  # always prefers whatever is shown first
    if model == "flaky":
        with state.lock:
            if state.flaky_failures > 0:
                state.flaky_failures -= 1
                return 503, "overloaded"
        return 200, GOOD.get(user, "?")
    if model == "slow":
        time.sleep(0.5)
    if model == "echo-system":
        return 200, system
    table = WEAK if model == "weak" else GOOD
    for question, answer in table.items():
        if question in user:
            return 200, answer
    return 200, "I do not know"


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeOpenAI]:
    """The fake OpenAI-compatible server (its ``url`` ends in /v1)."""
    state = FakeOpenAI()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            model = body["model"]
            state.count(model)
            status, text = _answer(state, model, body["messages"])
            if status == 200:
                payload = json.dumps(
                    {
                        "id": "x",
                        "object": "chat.completion",
                        "model": model,
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": text}}
                        ],
                        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
                    }
                ).encode()
            else:
                payload = json.dumps({"error": {"message": text}}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def qa_jsonl() -> bytes:
    """The QA dataset as JSONL."""
    return "".join(json.dumps({"input": q, "expected": a}) + "\n" for q, a in QA).encode()


@pytest.fixture
def qa_dataset(services: Services) -> int:
    """Dataset ``qa`` (version 1) in project ``default``; returns the version."""
    import io

    version = services.data.import_rows("default", "qa", io.BytesIO(qa_jsonl()))
    return version.version


@pytest.fixture
def cli_env(settings: Settings) -> dict[str, str]:
    """Environment for ``podium`` in embedded mode over this test's database and home."""
    env = {"PODIUM_HOME": str(settings.home)}
    if settings.database_url:
        env["PODIUM_DATABASE_URL"] = settings.database_url
    return env


def answer(question: str) -> str:
    """A Python target: the good model's answers."""
    return GOOD.get(question, "?")


def weak_answer(question: str) -> str:
    """A Python target: the weak model's answers."""
    return WEAK.get(question, "?")


def shouts(output: str, expected: str | None, item: dict[str, Any]) -> dict[str, Any]:
    """A custom scorer: 1.0 for an all-capitals output, with a detail."""
    return {"score": float(output.isupper()), "length": len(output)}


@pytest.fixture
def chromium() -> Iterator[Any]:
    """Headless Debian Chromium, driven by Playwright (never ``playwright install``)."""
    with headless_chromium() as launched:
        yield launched
