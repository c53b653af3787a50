"""A real ``podium server`` evaluates alert rules in the background and posts the webhook."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import LiveServer
from tests.tracing.test_alerts import webhook_receiver

pytestmark = pytest.mark.slow


def test_server_runs_the_evaluator(tmp_path: Path) -> None:
    env = {
        "PODIUM_HOME": str(tmp_path),
        "PODIUM_DATABASE_URL": f"sqlite:///{tmp_path / 'podium.db'}",
        "PODIUM_ALERT_INTERVAL_S": "0.2",
    }
    server = LiveServer(env, tmp_path)
    server.start()
    try:
        with webhook_receiver(500) as receiver:
            created = httpx.post(
                server.url + "/api/v1/alerts/rules",
                json={
                    "project": "ops",
                    "name": "idle",
                    "metric": "request_count",
                    "comparator": "<",
                    "threshold": 1,
                    "window_s": 60,
                    "webhook_url": receiver.url,
                },
                timeout=30,
            )
            assert created.status_code == 201, created.text
            deadline = time.monotonic() + 60
            while len(receiver.answered) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert receiver.answered == [500, 200]  # retried once after the failure
            assert receiver.bodies[-1]["rule"] == "idle"
            assert receiver.bodies[-1]["value"] == 0.0
        rules = httpx.get(
            server.url + "/api/v1/alerts/rules", params={"project": "ops"}, timeout=30
        ).json()
        assert rules["items"][0]["state"] == "firing"
    finally:
        server.stop()
