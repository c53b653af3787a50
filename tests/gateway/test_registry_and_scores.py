"""Deployments bound to registry versions/aliases, and canary rollback driven by trace scores
(user feedback or online evals), both databases where the database is involved."""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from pydantic import ValidationError

from podium.gateway.canary import score_regression
from podium.gateway.models import CanarySpec, DeploymentSpec
from podium.server.app import build
from podium.settings import Settings
from podium.tracing import sql as tracing_sql
from podium.tracing.models import TraceFilter
from tests.gateway.conftest import GatewayServer, backend_name, serving
from tests.gateway.upstream import FaultyUpstream
from tests.local_models.conftest import require_local, shared_model_cache

HI = [{"role": "user", "content": "hi"}]


def _register(gateway: GatewayServer, name: str, served: list[str]) -> None:
    registry = gateway.services.registry
    registry.create_model("default", name)
    for model in served:
        registry.create_version("default", name, metadata={"served_model": model})


def test_spec_names_what_a_registry_binding_needs() -> None:
    with pytest.raises(ValidationError, match="needs model"):
        DeploymentSpec(name="a", provider="local")
    with pytest.raises(ValidationError, match="exactly one of registry_alias"):
        DeploymentSpec(name="a", provider="local", registry_model="bot")
    with pytest.raises(ValidationError, match="exactly one of registry_alias"):
        DeploymentSpec(
            name="a", provider="local", registry_model="bot", registry_alias="p", registry_version=2
        )
    with pytest.raises(ValidationError, match="need registry_model"):
        DeploymentSpec(name="a", provider="local", model="m", registry_version=2)
    bound = DeploymentSpec(name="a", provider="local", registry_model="bot", registry_version=2)
    assert bound.registry_ref == "bot/2" and bound.model is None


def test_deployment_follows_a_registry_alias(
    gateway: GatewayServer, upstream: FaultyUpstream
) -> None:
    backend = backend_name()
    _register(gateway, "support-bot", ["sb-v1", "sb-v2"])
    registry = gateway.services.registry
    registry.set_alias("default", "support-bot", "production", 1, actor="test")
    gateway.put_route(
        "support",
        deployments=[
            {
                "name": "prod",
                "registry_model": "support-bot",
                "registry_alias": "production",
                "base_url": upstream.base(backend),
            }
        ],
    )
    client = gateway.client()
    reply = client.chat.completions.with_raw_response.create(model="support", messages=HI)
    assert upstream.backends[backend].last_body["model"] == "sb-v1"
    assert reply.parse().model == "support"  # the client sees the route's public name
    trace_id = reply.headers["x-podium-trace-id"]
    # Moving the alias moves the traffic (within the gateway's one-second cache).
    registry.set_alias("default", "support-bot", "production", 2, actor="test", reason="v2 wins")
    deadline = time.monotonic() + 10
    while upstream.backends[backend].last_body["model"] != "sb-v2":
        assert time.monotonic() < deadline, "the alias move never reached the gateway"
        time.sleep(0.2)
        client.chat.completions.create(model="support", messages=HI)
    gateway.services.gateway.recorder.flush()
    project = gateway.services.projects.by_name("default")
    with gateway.services.db.read() as conn:
        (span,) = tracing_sql.spans_of(conn, trace_id)
        traces = tracing_sql.list_traces(conn, project.id, TraceFilter(), 0, 100)
    assert span.model == "sb-v1"
    assert span.attributes["gateway.registry_model"] == "support-bot"
    assert span.attributes["gateway.registry_version"] == 1
    assert len(traces) >= 2


def test_unresolvable_registry_binding_falls_back_or_fails_clearly(
    gateway: GatewayServer, upstream: FaultyUpstream
) -> None:
    backend = backend_name()
    _register(gateway, "half-done", [])
    gateway.services.registry.create_version("default", "half-done")  # no served_model
    base = upstream.base(backend)
    gateway.put_route(
        "ghost",
        retries=0,
        deployments=[
            {"name": "g", "registry_model": "nobody", "registry_version": 1, "base_url": base}
        ],
    )
    gateway.put_route(
        "vague",
        deployments=[
            {"name": "v", "registry_model": "half-done", "registry_version": 1, "base_url": base}
        ],
    )
    gateway.put_route(
        "rescued",
        retries=1,
        backoff_ms=1,
        deployments=[
            {
                "name": "ghost",
                "registry_model": "nobody",
                "registry_alias": "prod",
                "base_url": base,
            },
            {"name": "plain", "model": "plain-model", "base_url": base, "weight": 0.000001},
        ],
    )
    client = gateway.client()
    with pytest.raises(openai.InternalServerError) as error:
        client.chat.completions.create(model="ghost", messages=HI)
    assert "nobody/1 cannot be resolved" in str(error.value)
    with pytest.raises(openai.InternalServerError) as error:
        client.chat.completions.create(model="vague", messages=HI)
    assert "says nothing about how to serve it" in str(error.value)
    # A resolution failure is retryable: the route's other deployment answers.
    reply = client.chat.completions.with_raw_response.create(model="rescued", messages=HI)
    assert reply.headers["x-podium-deployment"] == "plain"
    assert upstream.backends[backend].last_body["model"] == "plain-model"


def _model_archive(folder: Path) -> bytes:
    from podium.local_models.weights import tiny_llama

    loaded = tiny_llama(shared_model_cache(), seed=3)
    loaded.model.save_pretrained(str(folder / "bot"))
    loaded.tokenizer.save_pretrained(str(folder / "bot"))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        archive.add(str(folder / "bot"), arcname="bot")
    return out.getvalue()


def test_local_deployment_serves_the_registry_versions_artifact(tmp_path: Path) -> None:
    require_local()
    cache = shared_model_cache()
    settings = Settings(
        home=tmp_path / "home", password_hash_cost=10, model_cache=cache, local_threads=1
    )
    services = build(settings)
    try:
        blob = services.blobs.put(io.BytesIO(_model_archive(tmp_path)))
        services.registry.create_model("default", "tuned")
        services.registry.create_version("default", "tuned", artifact_sha256=blob.sha256)
        services.registry.set_alias("default", "tuned", "champion", 1, actor="test")
        with serving(services) as gateway:
            gateway.put_route(
                "tuned-chat",
                deployments=[
                    {
                        "name": "t",
                        "provider": "local",
                        "registry_model": "tuned",
                        "registry_alias": "champion",
                    }
                ],
            )
            client = gateway.client()
            answer = client.chat.completions.create(
                model="tuned-chat", messages=HI, max_tokens=6, temperature=0
            )
            assert answer.model == "tuned-chat"
            assert answer.usage is not None and answer.usage.completion_tokens > 0
            assert answer.choices[0].message.content
            chunks = list(
                client.chat.completions.create(
                    model="tuned-chat", messages=HI, max_tokens=6, temperature=0, stream=True
                )
            )
            streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            assert streamed == answer.choices[0].message.content  # same weights, greedy
        assert (cache / "registry" / blob.sha256 / "bot" / "config.json").is_file()
    finally:
        services.close()


def test_score_regression_needs_enough_scores_and_a_real_drop() -> None:
    canary = CanarySpec(score_name="thumbs", min_scores=3, max_score_drop=0.2)
    good = {f"s{i}": 1.0 for i in range(5)}
    assert score_regression(canary, {"a": 0.0, "b": 0.0}, good) == ""  # too few scored
    assert score_regression(canary, {f"c{i}": 0.9 for i in range(3)}, good) == ""  # within margin
    reason = score_regression(canary, {f"c{i}": 0.0 for i in range(3)}, good)
    assert reason == "canary mean thumbs 0 vs stable 1 over 3/5 scored requests"


def test_canary_with_worse_feedback_is_rolled_back(
    gateway: GatewayServer, upstream: FaultyUpstream
) -> None:
    services = gateway.services
    stable, canary = backend_name(), backend_name()
    gateway.put_route(
        "chat",
        deployments=[
            {"name": "stable", "model": "s", "base_url": upstream.base(stable)},
            {"name": "canary", "model": "c", "base_url": upstream.base(canary), "role": "canary"},
        ],
        # Errors and latency cannot trigger here (min_requests is out of reach): only scores.
        canary={
            "steps": [50, 100],
            "min_requests": 100_000,
            "window_s": 120,
            "score_name": "thumbs",
            "min_scores": 5,
            "max_score_drop": 0.3,
        },
    )
    served: dict[str, list[str]] = {"stable": [], "canary": []}
    with httpx.Client(base_url=gateway.url, timeout=30) as http:

        def ask(i: int) -> None:
            body: dict[str, Any] = {"model": "chat", "messages": HI, "user": f"u{i}"}
            reply = http.post("/v1/chat/completions", json=body)
            assert reply.status_code == 200
            served[reply.headers["x-podium-deployment"]].append(reply.headers["x-podium-trace-id"])

        for i in range(30):
            ask(i)
        assert min(len(v) for v in served.values()) >= 5
        services.gateway.recorder.flush()
        # Users like the stable answers and dislike the canary's (feedback via the REST API).
        for deployment_name, value in (("stable", 1.0), ("canary", 0.0)):
            for trace_id in served[deployment_name]:
                scored = http.post(
                    f"/api/v1/traces/{trace_id}/scores",
                    json={"name": "thumbs", "value": value, "source": "feedback"},
                )
                assert scored.status_code in (200, 201), scored.text
        # The next requests trigger the periodic score comparison.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            spec = services.gateway.service.get_route("default", "chat").spec.canary
            assert spec is not None
            if spec.state == "rolled_back":
                break
            ask(0)
            time.sleep(0.3)
    assert spec.state == "rolled_back"
    (event,) = [
        e
        for e in services.gateway.service.history("default", "chat")
        if e.action == "canary_rolled_back"
    ]
    assert event.actor == "gateway"
    assert event.details["reason"].startswith("canary mean thumbs 0 vs stable 1 over")
