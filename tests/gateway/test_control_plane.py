"""Routes through REST, the YAML file and the CLI, with history and audit (both databases)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from podium.cli.main import app as cli
from podium.errors import NotFound
from podium.server.app import Services, build
from podium.settings import Settings
from tests.gateway.conftest import GatewayServer

UPSTREAM = "http://127.0.0.1:9/v1"
# The gateway serves from a thread of this (possibly busy) process: httpx's 5 s default is
# too short on a loaded machine.
TIMEOUT_S = 30.0
SPEC = {
    "deployments": [
        {"name": "a", "model": "gpt-4o-mini", "base_url": UPSTREAM, "weight": 3},
        {"name": "b", "model": "gpt-4o", "base_url": UPSTREAM, "weight": 1},
    ],
    "retries": 1,
}
YAML = f"""\
routes:
  - name: chat
    deployments:
      - {{name: main, model: llama3, base_url: "{UPSTREAM}", api_key_env: UPSTREAM_KEY}}
  - name: summarise
    project: team
    fallbacks: [chat]
    cache_ttl_s: 60
    guardrails: [pii_redaction]
    deployments:
      - {{name: stable, model: m1, base_url: "{UPSTREAM}"}}
      - {{name: next, model: m2, base_url: "{UPSTREAM}", role: canary}}
    canary: {{steps: [10, 50, 100], min_requests: 5}}
"""


def test_put_get_list_delete_with_history_and_audit(http: httpx.Client) -> None:
    created = http.put("/api/v1/gateway/routes/chat", json=SPEC)
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["revision"] == 1
    assert body["traffic"] == {"a": 75.0, "b": 25.0}
    assert body["spec"]["retries"] == 1 and body["spec"]["breaker_failures"] == 5

    same = http.put("/api/v1/gateway/routes/chat", json=SPEC).json()
    assert same["revision"] == 1  # unchanged spec: nothing recorded
    changed = http.put("/api/v1/gateway/routes/chat", json={**SPEC, "retries": 0}).json()
    assert changed["revision"] == 2

    listed = http.get("/api/v1/gateway/routes").json()
    assert [r["name"] for r in listed["items"]] == ["chat"]
    assert http.get("/api/v1/gateway/routes/chat").json()["spec"]["retries"] == 0

    assert http.delete("/api/v1/gateway/routes/chat").status_code == 204
    assert http.get("/api/v1/gateway/routes/chat").status_code == 404
    history = http.get("/api/v1/gateway/routes/chat/history").json()
    assert [e["action"] for e in history] == ["deleted", "updated", "created"]
    assert history[1]["details"]["previous_revision"] == 1

    audit = http.get("/api/v1/audit", params={"project": "default"}).json()["items"]
    actions = [e["action"] for e in audit if e["object_type"].startswith("gateway")]
    assert actions == ["gateway.manage"] * 4  # three puts (one unchanged) and the delete


@pytest.mark.parametrize(
    ("spec", "field", "message"),
    [
        ({"deployments": []}, "deployments", "at least 1"),
        ({"deployments": [{"name": "a", "model": "m"}]}, "deployments", "needs base_url"),
        ({**SPEC, "retries": 99}, "retries", "less than or equal to 10"),
        ({**SPEC, "surprise": 1}, "surprise", "Extra inputs"),
        (
            {"deployments": [SPEC["deployments"][0], SPEC["deployments"][0]]},  # type: ignore[index]
            "body",
            "unique",
        ),
        ({**SPEC, "canary": {}}, "body", "exactly one canary"),
    ],
)
def test_invalid_specs_are_422_naming_the_field(
    shared_gateway: GatewayServer, spec: dict[str, object], field: str, message: str
) -> None:
    reply = httpx.put(
        shared_gateway.url + "/api/v1/gateway/routes/chat", json=spec, timeout=TIMEOUT_S
    )
    assert reply.status_code == 422
    problem = reply.json()
    assert problem["field"].startswith(field), problem
    assert message in problem["detail"]


def test_bad_route_names_and_self_fallback(shared_gateway: GatewayServer) -> None:
    base = shared_gateway.url + "/api/v1/gateway/routes/"
    assert httpx.put(base + "-bad", json=SPEC, timeout=TIMEOUT_S).status_code == 422
    reply = httpx.put(base + "chat", json={**SPEC, "fallbacks": ["chat"]}, timeout=TIMEOUT_S)
    assert reply.status_code == 422
    assert reply.json()["field"] == "fallbacks"


def test_canary_promote_and_rollback_by_rest(http: httpx.Client) -> None:
    spec = {
        "deployments": [
            {"name": "s", "model": "m", "base_url": UPSTREAM},
            {"name": "c", "model": "m", "base_url": UPSTREAM, "role": "canary"},
        ],
        "canary": {"steps": [5, 25, 100]},
    }
    assert http.put("/api/v1/gateway/routes/chat", json=spec).json()["traffic"]["c"] == 5.0
    promoted = http.post("/api/v1/gateway/routes/chat/canary/promote", json={"reason": "looks ok"})
    assert promoted.json()["traffic"] == {"s": 75.0, "c": 25.0}
    rolled = http.post("/api/v1/gateway/routes/chat/canary/rollback").json()
    assert rolled["traffic"] == {"s": 100.0, "c": 0.0}
    assert rolled["spec"]["canary"]["state"] == "rolled_back"
    again = http.post("/api/v1/gateway/routes/chat/canary/promote")
    assert again.status_code == 409
    history = http.get("/api/v1/gateway/routes/chat/history").json()
    assert [e["action"] for e in history] == ["canary_rolled_back", "canary_promoted", "created"]
    assert history[1]["details"] == {"percent": 25.0, "state": "rolling", "reason": "looks ok"}


def test_limits_rest(http: httpx.Client) -> None:
    body = {"requests_per_minute": 10, "cost_per_day": 2.5}
    saved = http.put("/api/v1/gateway/limits/project", json=body)
    assert saved.status_code == 200, saved.text
    assert http.put("/api/v1/gateway/limits/key:0123456789ab", json={}).status_code == 200
    assert http.put("/api/v1/gateway/limits/everyone", json={}).status_code == 422
    listed = http.get("/api/v1/gateway/limits").json()
    assert [(x["scope"], x["requests_per_minute"]) for x in listed] == [
        ("key:0123456789ab", None),
        ("project", 10),
    ]
    assert http.delete("/api/v1/gateway/limits/project").status_code == 204
    assert http.delete("/api/v1/gateway/limits/project").status_code == 404


def test_yaml_config_applied_on_start(settings: Settings, tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(YAML)
    services: Services = build(settings.model_copy(update={"gateway_config": config}))
    try:
        chat = services.gateway.service.get_route("default", "chat")
        assert chat.spec.deployments[0].api_key_env == "UPSTREAM_KEY"
        team = services.gateway.service.get_route("team", "summarise")
        assert team.spec.canary is not None and team.spec.canary.percent == 10.0
        assert team.spec.guardrails == ("pii_redaction",)
    finally:
        services.close()
    # Applying the same file again on the next start records nothing new.
    services = build(settings.model_copy(update={"gateway_config": config}))
    try:
        assert services.gateway.service.get_route("default", "chat").revision == 1
    finally:
        services.close()


def test_bad_yaml_names_the_route_and_field(settings: Settings, tmp_path: Path) -> None:
    from podium.errors import InvalidInput

    config = tmp_path / "gateway.yaml"
    config.write_text("routes:\n  - name: chat\n    deployments: [{name: a}]\n")
    with pytest.raises(
        InvalidInput,
        match=r"route 'chat': deployments.0: deployment 'a': needs model \(the provider's",
    ):
        build(settings.model_copy(update={"gateway_config": config}))


def test_cli_apply_list_show_history_delete(gateway: GatewayServer, tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(YAML)
    env = {"PODIUM_URL": gateway.url}
    runner = CliRunner()

    def run(*args: str) -> str:
        result = runner.invoke(cli, ["gateway", *args], env=env)
        assert result.exit_code == 0, (result.output, result.exception)
        return result.stdout

    assert "applied default/chat (revision 1)" in run("routes", "apply", str(config))
    listed = json.loads(run("routes", "list", "--project", "team", "--json"))
    assert [r["name"] for r in listed] == ["summarise"]
    assert listed[0]["traffic"] == {"stable": 90.0, "next": 10.0}
    assert "next" in run("routes", "show", "summarise", "-p", "team")
    promoted = json.loads(run("canary", "promote", "summarise", "-p", "team", "--json"))
    assert promoted["traffic"]["next"] == 50.0
    events = json.loads(run("routes", "history", "summarise", "-p", "team", "--json"))
    assert [e["action"] for e in events] == ["canary_promoted", "created"]
    run("limits", "set", "--rpm", "5")
    assert json.loads(run("limits", "list", "--json"))[0]["requests_per_minute"] == 5
    assert "removed" in run("limits", "delete", "project")
    assert json.loads(run("limits", "list", "--json")) == []
    live = json.loads(run("routes", "status", "summarise", "-p", "team", "--json"))
    assert [(d["name"], d["breaker"], d["requests"]) for d in live["deployments"]] == [
        ("stable", "closed", 0),
        ("next", "closed", 0),
    ]
    assert "breaker" in run("routes", "status", "summarise", "-p", "team")
    assert "deleted route chat" in run("routes", "delete", "chat")
    missing = runner.invoke(cli, ["gateway", "routes", "show", "chat"], env=env)
    # run_cli (the real entry point) turns this into one line and exit code 2.
    assert isinstance(missing.exception, NotFound)
    assert "podium gateway routes list" in str(missing.exception)
