"""What a deployment is bound to besides its provider: a prompt version (by label) and a model
registry version (by alias or number), resolved per request and cached for about a second, so
moving a label or an alias moves the traffic without a route change.

Failures are ``ProviderError`` so the serving path treats them like a provider's: a prompt that
cannot be loaded is a plain 500; a registry binding that cannot be resolved is a retryable 500,
so the route's other deployments and fallbacks still answer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool

from podium.errors import PodiumError
from podium.gateway.models import DeploymentSpec
from podium.gateway.providers.base import Provider, ProviderError
from podium.local_models.weights import LoadedModel, load_folder, unpack_model_archive
from podium.prompts.service import PromptService
from podium.registry.models import ModelVersion
from podium.registry.service import RegistryService
from podium.settings import Settings


class Bindings:
    """Resolves deployments' prompt and registry bindings, each cached for ``ttl_s``."""

    def __init__(
        self,
        prompts: PromptService,
        registry: RegistryService | None,
        model_cache: Path | None,
        *,
        ttl_s: float = 1.0,
    ) -> None:
        self.prompts = prompts
        self.registry = registry
        self._model_cache = model_cache
        self._ttl = ttl_s
        self._prompts: dict[tuple[str, str, str], tuple[float, Any]] = {}
        self._versions: dict[tuple[str, str, str], tuple[float, ModelVersion]] = {}

    async def prompt(self, project: str, name: str, label: str) -> Any:
        """The prompt version ``label`` points at now."""
        key = (project, name, label)
        cached = self._prompts.get(key)
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        try:
            version = await run_in_threadpool(self.prompts.get_by_label, project, name, label)
        except PodiumError as exc:
            raise ProviderError(
                f"the route's prompt cannot be loaded: {exc.message}", status=500, retryable=False
            ) from exc
        self._prompts[key] = (time.monotonic(), version)
        return version

    async def registry_version(self, project: str, deployment: DeploymentSpec) -> ModelVersion:
        """The registry version ``deployment`` is bound to now (its alias followed)."""
        name = deployment.registry_model
        assert name is not None
        key = (project, name, deployment.registry_alias or str(deployment.registry_version))
        cached = self._versions.get(key)
        if cached is not None and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        if self.registry is None:
            raise ProviderError("this gateway has no model registry", status=500, retryable=False)
        registry = self.registry
        try:
            if deployment.registry_alias is not None:
                version = await run_in_threadpool(
                    registry.get_version_by_alias, project, name, deployment.registry_alias
                )
            else:
                assert deployment.registry_version is not None
                version = await run_in_threadpool(
                    registry.get_version, project, name, deployment.registry_version
                )
        except PodiumError as exc:
            raise ProviderError(
                f"deployment {deployment.name!r}: {deployment.registry_ref} cannot be resolved: "
                f"{exc.message}",
                status=500,
                retryable=True,
            ) from exc
        self._versions[key] = (time.monotonic(), version)
        return version

    def served_model(
        self, project: str, deployment: DeploymentSpec, version: ModelVersion, provider: Provider
    ) -> str:
        """The model name to ask ``provider`` for, to serve ``version``.

        A version names it in ``metadata.served_model`` (what an upstream such as vLLM serves
        it as); without that, a ``local`` deployment serves the version's artifact (an archive
        of a ``save_pretrained`` folder), registered with the provider under
        ``registry:<model>/<version>``.
        """
        served = version.metadata.get("served_model")
        if isinstance(served, str) and served:
            return served
        add = getattr(provider, "add_artifact_model", None)
        if deployment.provider == "local" and version.artifact_sha256 is not None and add:
            name = f"registry:{version.model}/{version.version}"
            add(name, self._artifact_loader(project, version, name))
            return name
        raise ProviderError(
            f"deployment {deployment.name!r}: version {version.version} of registered model "
            f"{version.model!r} says nothing about how to serve it; set metadata.served_model "
            "(the upstream's model name) or, for a local deployment, register a model archive",
            status=500,
            retryable=False,
        )

    def _artifact_loader(
        self, project: str, version: ModelVersion, name: str
    ) -> Callable[[], LoadedModel]:
        registry, cache = self.registry, self._model_cache
        sha256 = version.artifact_sha256
        assert registry is not None and sha256 is not None

        def load() -> LoadedModel:
            chunks = registry.open_version_content(project, version.model, version.version)
            folder = unpack_model_archive(chunks, sha256, cache or Settings().model_cache)
            return load_folder(folder, name)

        return load


__all__ = ["Bindings"]
