"""Authentication and project scoping on ``/v1``, answered in OpenAI's error format."""

from __future__ import annotations

import httpx
import openai
import pytest

from podium.access.models import Role
from tests.gateway.conftest import GatewayServer, backend_name, deployment
from tests.gateway.upstream import FaultyUpstream


def test_auth_errors_in_openai_format(gateway: GatewayServer, upstream: FaultyUpstream) -> None:
    services = gateway.services
    gateway.put_route("chat", deployments=[deployment(upstream, backend_name())])
    services.access.create_user("ann", "a-long-password-1")
    services.access.set_member("default", "ann", Role.VIEWER)
    _, viewer_key = services.access.create_key(username="ann", project="default", role=Role.VIEWER)
    services.projects.ensure("other")
    services.access.create_user("bob", "a-long-password-2")
    services.access.set_member("other", "bob", Role.OWNER)
    _, other_key = services.access.create_key(username="bob", project="other", role=Role.OWNER)
    messages = [{"role": "user", "content": "hi"}]

    with pytest.raises(openai.AuthenticationError) as caught:
        gateway.client("pdm_000000000000_wrong").chat.completions.create(
            model="chat", messages=messages
        )
    assert caught.value.status_code == 401
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["code"] == "invalid_api_key"

    # Users exist now, so a request without a key is refused too.
    reply = httpx.post(
        gateway.url + "/v1/chat/completions", json={"model": "chat", "messages": messages}
    )
    assert reply.status_code == 401
    assert reply.json()["error"]["type"] == "authentication_error"

    # A viewer's key of the project may call it; its project is the key's.
    ok = gateway.client(viewer_key).chat.completions.create(model="chat", messages=messages)
    assert ok.choices[0].message.content is not None

    # Naming a project the key does not belong to: 404, nothing revealed.
    with pytest.raises(openai.NotFoundError):
        gateway.client(other_key, default_headers={"x-podium-project": "default"}).models.list()
    # The other project's key sees its own (empty) project.
    assert gateway.client(other_key).models.list().data == []


def test_a_revoked_key_is_refused_at_once_despite_the_auth_cache(
    gateway: GatewayServer, upstream: FaultyUpstream
) -> None:
    services = gateway.services
    gateway.put_route("chat", deployments=[deployment(upstream, backend_name())])
    services.access.create_user("ann", "a-long-password-1")
    services.access.set_member("default", "ann", Role.VIEWER)
    key, secret = services.access.create_key(username="ann", project="default", role=Role.VIEWER)
    client = gateway.client(secret)
    messages = [{"role": "user", "content": "hi"}]
    for _ in range(3):  # the key's principal is cached after the first request
        assert client.chat.completions.create(model="chat", messages=messages).choices
    assert services.access.cached_key_principal(secret) is not None

    services.access.revoke_key(key.id)

    with pytest.raises(openai.AuthenticationError) as caught:
        client.chat.completions.create(model="chat", messages=messages)
    assert caught.value.status_code == 401
    assert isinstance(caught.value.body, dict)
    assert "was revoked" in str(caught.value.body["message"])
