"""Model providers behind the gateway, and the one factory that builds them from a deployment.

``make_provider`` is the seam: ``openai`` builds an ``UpstreamProvider`` for an OpenAI-compatible
base URL (its key read from the environment variable the deployment names); ``local`` imports
``podium.gateway.providers.local`` only when asked, so the gateway runs without torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from podium.errors import InvalidInput, MissingExtra
from podium.gateway.models import DeploymentSpec
from podium.gateway.providers.base import Provider, ProviderError, ProviderModel
from podium.gateway.providers.upstream import UpstreamProvider


def provider_key(spec: DeploymentSpec) -> tuple[Any, ...]:
    """Deployments with equal keys share one provider (one connection pool, one local model)."""
    if spec.provider == "local":
        return ("local",)
    return (
        "openai",
        spec.base_url,
        spec.api_key_env,
        spec.connect_timeout_s,
        spec.read_timeout_s,
        spec.total_timeout_s,
    )


def make_provider(
    spec: DeploymentSpec, environ: Mapping[str, str], settings: Any = None
) -> Provider:
    """The provider serving ``spec``.

    Raises ``InvalidInput`` when the named key variable is unset and ``MissingExtra`` when the
    local provider's dependencies are not installed.
    """
    if spec.provider == "local":
        try:
            local = importlib.import_module("podium.gateway.providers.local")
        except ImportError as exc:
            raise MissingExtra.for_feature("the local model provider", "local") from exc
        provider: Provider = local.LocalProvider(settings)
        return provider
    api_key = None
    if spec.api_key_env:
        api_key = environ.get(spec.api_key_env)
        if not api_key:
            raise InvalidInput(
                f"deployment {spec.name!r} reads its API key from ${spec.api_key_env}, which is "
                f"not set; export {spec.api_key_env}=... before starting the server",
                field="api_key_env",
            )
    assert spec.base_url is not None  # DeploymentSpec requires it for this provider
    return UpstreamProvider(
        spec.base_url,
        api_key=api_key,
        connect_timeout_s=spec.connect_timeout_s,
        read_timeout_s=spec.read_timeout_s,
        total_timeout_s=spec.total_timeout_s,
    )


__all__ = ["Provider", "ProviderError", "ProviderModel", "UpstreamProvider", "make_provider"]
