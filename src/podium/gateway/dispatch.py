"""The serving path: from an OpenAI-shaped request to a provider's answer, reliably.

``Gateway.call`` (non-streaming) and ``Gateway.stream`` resolve the public model name to a route
of the caller's project, check the project's and key's limits, answer from the response cache
when they can, then pick a deployment (weighted, sticky per ``user`` / ``x-podium-session``,
skipping deployments whose circuit breaker is open), call its provider with retries (full-jitter
backoff) and fall back to the route's fallback routes on retryable failures. Every request ends
as one tracing span (queued, written off the hot path) and one sample in the per-deployment
window that drives canary promotion and automatic rollback (``podium.gateway.canary``).
Prompt and registry bindings are resolved by ``podium.gateway.bindings``.

Routes and limits are read from the database into an in-process snapshot, refreshed at once
after a local change and in the background every ``snapshot_ttl_s`` otherwise (so other
replicas' changes arrive within about a second).
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool

from podium.errors import PodiumError
from podium.gateway.bindings import Bindings
from podium.gateway.canary import CanaryWatch, ScoreReader
from podium.gateway.guardrails import GUARDRAILS, GuardrailBlocked
from podium.gateway.models import (
    DeploymentSpec,
    Limits,
    Route,
    effective_weights,
    pick_weighted,
    sticky_point,
)
from podium.gateway.openai_wire import OpenAIError
from podium.gateway.providers import make_provider, provider_key
from podium.gateway.providers.base import JSONObject, Provider, ProviderError
from podium.gateway.recorder import SpanRecorder
from podium.gateway.reliability import Breakers, backoff_s
from podium.gateway.service import GatewayService
from podium.prompts.service import PromptService, render_version
from podium.registry.service import RegistryService
from podium.store.clock import now_ms
from podium.tracing.models import SpanRecord
from podium.tracing.pricing import PriceTable

log = logging.getLogger("podium.gateway")

CHAT, COMPLETIONS, EMBEDDINGS = "chat", "text_completion", "embeddings"
CACHE_MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class Caller:
    """Who sent the request: its project, API key prefix and stickiness key."""

    project: str
    key: str | None = None
    sticky: str | None = None  # the ``user`` field or the x-podium-session header


@dataclass
class Attempt:
    """What happened to one request on its way through the gateway (for the span)."""

    route: str
    deployment: DeploymentSpec | None = None
    attempts: int = 0
    prompt: tuple[str, int] | None = None
    model: str | None = None  # what the provider was asked for (a registry binding resolved)
    registry: tuple[str, int] | None = None  # (registered model, version) served
    trace_id: str = ""
    cache: str = "off"
    input_tokens: int | None = None
    output_tokens: int | None = None
    error: OpenAIError | None = None
    fallback_from: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Answer:
    """A non-streamed answer with the headers the client should see."""

    body: JSONObject
    headers: dict[str, str]


class Gateway:
    """Routes, providers, breakers, cache and canary windows of one server process."""

    def __init__(
        self,
        service: GatewayService,
        prompts: PromptService,
        prices: PriceTable,
        recorder: SpanRecorder,
        *,
        environ: Mapping[str, str],
        provider_factory: Callable[[DeploymentSpec], Provider] | None = None,
        settings: Any = None,
        snapshot_ttl_s: float = 1.0,
        registry: RegistryService | None = None,
        scores: ScoreReader | None = None,
    ) -> None:
        self.service = service
        self.prices = prices
        self.recorder = recorder
        self.breakers = Breakers()
        self._environ = environ
        self._factory = provider_factory or (lambda spec: make_provider(spec, environ, settings))
        self._providers: dict[tuple[Any, ...], Provider] = {}
        self._ttl = snapshot_ttl_s
        self._routes: dict[tuple[str, str], Route] = {}
        self._limits: dict[str, list[Limits]] = {}
        self._loaded_at = -1e18
        self._loaded_generation = -1
        self._refreshing = False
        self._background: set[asyncio.Task[None]] = set()
        self._cache: collections.OrderedDict[str, tuple[float, JSONObject]] = (
            collections.OrderedDict()
        )
        self.bindings = Bindings(
            prompts, registry, getattr(settings, "model_cache", None), ttl_s=snapshot_ttl_s
        )
        self.canary = CanaryWatch(service, scores, on_change=self._reload_soon)
        self.in_flight = 0  # streams being relayed now (what a graceful shutdown waits for)

    # -- snapshots ----------------------------------------------------------------------------

    async def _refresh(self) -> None:
        generation = self.service.generation
        if self._loaded_generation == generation:
            if time.monotonic() - self._loaded_at < self._ttl:
                return
            if not self._refreshing:
                # Only the TTL ran out (other replicas' changes): serve the snapshot we hold and
                # reload in the background, so no request waits on the database. Changes made
                # in this process bump the generation and are loaded before the next request.
                self._refreshing = True
                task = asyncio.get_running_loop().create_task(self._reload_quietly(generation))
                self._background.add(task)
                task.add_done_callback(self._background.discard)
            return
        await self._reload(generation)

    async def _reload(self, generation: int) -> None:
        self._refreshing = True
        try:
            routes, limits = await run_in_threadpool(self._load)
        finally:
            self._refreshing = False
        if generation >= self._loaded_generation:  # never replace a newer snapshot
            self._routes, self._limits = routes, limits
            self._loaded_at, self._loaded_generation = time.monotonic(), generation

    def _reload_soon(self) -> None:
        """Load the routes again before the next request (after a canary change)."""
        self._loaded_generation = -1

    async def _reload_quietly(self, generation: int) -> None:
        try:
            await self._reload(generation)
        except Exception:
            # The next request retries; until then the current snapshot keeps serving.
            log.exception("could not reload the gateway's routes")

    def _load(self) -> tuple[dict[tuple[str, str], Route], dict[str, list[Limits]]]:
        return self.service.routes_snapshot(), self.service.limits_snapshot()

    async def routes_of(self, project: str) -> list[Route]:
        """The project's routes (what ``/v1/models`` lists)."""
        await self._refresh()
        return sorted(
            (r for (p, _), r in self._routes.items() if p == project), key=lambda r: r.name
        )

    def _provider(self, spec: DeploymentSpec) -> Provider:
        key = provider_key(spec)
        provider = self._providers.get(key)
        if provider is None:
            try:
                provider = self._providers[key] = self._factory(spec)
            except PodiumError as exc:
                raise ProviderError(exc.message, status=500, retryable=False) from exc
        return provider

    def warm_up(self) -> None:
        """Load the local models the routes use (blocking; call from a background thread).

        Failures are logged, not raised: the first request that needs the model retries the
        load and reports the error to its client.
        """
        try:
            routes, _ = self._load()
            wanted: dict[tuple[Any, ...], tuple[DeploymentSpec, set[str]]] = {}
            for route in routes.values():
                for spec in route.spec.deployments:
                    if spec.provider == "local" and spec.model is not None:
                        key = provider_key(spec)
                        wanted.setdefault(key, (spec, set()))[1].add(spec.model)
            for spec, models in wanted.values():
                warm = getattr(self._provider(spec), "warm_up", None)
                if warm is not None:
                    started = time.monotonic()
                    warm(models)
                    log.info(
                        "local models %s ready in %.1f s",
                        sorted(models),
                        time.monotonic() - started,
                    )
        except Exception:
            log.exception("could not warm up the local models")

    async def aclose(self) -> None:
        """Close every provider's connections."""
        for provider in list(self._providers.values()):
            await provider.aclose()
        self._providers.clear()

    def close(self) -> None:
        """Close providers from outside any event loop, then write the queued spans."""
        for provider in list(self._providers.values()):
            closer = getattr(provider, "close_sync", None)
            if closer is not None:
                closer()
        self._providers.clear()
        self.recorder.close()

    # -- entry points ------------------------------------------------------------------------

    async def call(self, operation: str, body: JSONObject, caller: Caller) -> Answer:
        """A non-streamed answer; ``OpenAIError`` with the status the client should see."""
        started = time.perf_counter()
        start_ms = now_ms()
        route, attempt, limits = await self._admit(body, caller)
        headers = {"x-podium-trace-id": attempt.trace_id}
        try:
            cache_key = self._cache_key(operation, body, caller) if route.spec.cache_ttl_s else None
            if cache_key is not None:
                hit = self._cache_get(cache_key)
                attempt.cache = "hit" if hit is not None else "miss"
                headers["x-podium-cache"] = attempt.cache
                if hit is not None:
                    return Answer(hit, headers)
            answer = await self._call_chain(operation, route, body, caller, attempt)
            _count_usage(answer, attempt)
            if cache_key is not None:
                self._cache_put(cache_key, answer, route.spec.cache_ttl_s)
            headers["x-podium-route"] = attempt.route
            if attempt.deployment is not None:
                headers["x-podium-deployment"] = attempt.deployment.name
            return Answer(answer, headers)
        except OpenAIError as exc:
            attempt.error = exc
            raise
        finally:
            self._finish(operation, body, caller, attempt, limits, started, start_ms)

    async def stream(
        self, operation: str, body: JSONObject, caller: Caller
    ) -> tuple[dict[str, str], AsyncIterator[JSONObject]]:
        """Headers and the chunks of a streamed answer.

        Failures before the first chunk are retried and fall back like non-streamed calls (and
        raise ``OpenAIError``); a failure after it ends the stream with an error event.
        """
        started = time.perf_counter()
        start_ms = now_ms()
        route, attempt, limits = await self._admit(body, caller)
        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        upstream_body = dict(body)
        # Ask for usage even when the client did not, to count tokens; that chunk is dropped.
        upstream_body["stream_options"] = {
            **(body.get("stream_options") or {}),
            "include_usage": True,
        }
        try:
            first, rest = await self._open_chain(operation, route, upstream_body, caller, attempt)
        except OpenAIError as exc:
            attempt.error = exc
            self._finish(operation, body, caller, attempt, limits, started, start_ms)
            raise
        headers = {"x-podium-route": attempt.route, "x-podium-trace-id": attempt.trace_id}
        if attempt.deployment is not None:
            headers["x-podium-deployment"] = attempt.deployment.name
        guards = [GUARDRAILS[g] for g in route.spec.guardrails]

        async def relay() -> AsyncIterator[JSONObject]:
            self.in_flight += 1
            try:
                chunk: JSONObject | None = first
                while chunk is not None:
                    usage = chunk.get("usage")
                    if isinstance(usage, dict):
                        attempt.input_tokens = usage.get("prompt_tokens")
                        attempt.output_tokens = usage.get("completion_tokens")
                    if chunk.get("choices") or wants_usage:
                        for guard in guards:
                            chunk = guard.after(operation, chunk)
                        yield chunk
                    try:
                        chunk = await anext(rest)
                    except StopAsyncIteration:
                        chunk = None
            except ProviderError as exc:
                attempt.error = _client_error(exc)
                yield attempt.error.body()
            finally:
                self.in_flight -= 1
                self._finish(operation, body, caller, attempt, limits, started, start_ms)

        return headers, relay()

    # -- admission, routing, retries ---------------------------------------------------------

    async def _admit(self, body: JSONObject, caller: Caller) -> tuple[Route, Attempt, list[Limits]]:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise OpenAIError("'model' is required: the name of a gateway route", param="model")
        await self._refresh()
        route = self._routes.get((caller.project, model))
        if route is None:
            raise OpenAIError(
                f"the model {model!r} does not exist in project {caller.project!r}; list models "
                "with GET /v1/models or add a route with `podium gateway routes apply FILE`",
                status=404,
                param="model",
                code="model_not_found",
            )
        limits = self._limits.get(caller.project, [])
        if limits:
            refused = await run_in_threadpool(self.service.admit, limits, caller.key, now_ms())
            if refused is not None:
                reason, retry_after = refused
                raise OpenAIError(
                    f"rate limit reached for {reason}; retry after {retry_after} s",
                    status=429,
                    code="rate_limit_exceeded",
                    headers={"Retry-After": str(retry_after)},
                )
        # Ids need uniqueness, not secrecy: random bits are cheaper than os.urandom.
        return route, Attempt(route.name, trace_id=f"{random.getrandbits(128):032x}"), limits

    def _chain(self, route: Route) -> list[Route]:
        chain = [route]
        for name in route.spec.fallbacks:
            found = self._routes.get((route.project, name))
            if found is not None and found not in chain:
                chain.append(found)
        return chain

    def _choose(self, route: Route, point: float, failed: set[str]) -> DeploymentSpec | None:
        """The sticky pick among deployments whose breaker lets a call through.

        Deployments that already failed this request are avoided while another one is left,
        so a retry goes elsewhere when it can.
        """
        weights = effective_weights(route.spec)
        if any(w > 0 and d.name not in failed for d, w in weights):
            weights = [(d, w) for d, w in weights if d.name not in failed]
        allowed = []
        for deployment, weight in weights:
            if weight <= 0:
                continue
            breaker = self.breakers.get(
                (route.project, route.name, deployment.name),
                route.spec.breaker_failures,
                route.spec.breaker_cooldown_s,
            )
            if breaker.state == "closed" or breaker.allow():
                allowed.append((deployment, weight))
        if not allowed:
            return None
        return pick_weighted(allowed, point)

    async def _attempts(
        self,
        operation: str,
        body: JSONObject,
        caller: Caller,
        attempt: Attempt,
        run: Callable[[Provider, JSONObject], Any],
    ) -> Any:
        """Try the route chain with retries; ``run`` performs one provider call."""
        route = self._routes[(caller.project, attempt.route)]
        last: ProviderError | None = None
        for current in self._chain(route):
            if current is not route:
                attempt.fallback_from.append(attempt.route)
                attempt.route = current.name
            point = sticky_point(caller.sticky) if caller.sticky else random.random()  # noqa: S311
            guards = [GUARDRAILS[g] for g in current.spec.guardrails]
            failed: set[str] = set()
            for retry in range(current.spec.retries + 1):
                deployment = self._choose(current, point, failed)
                if deployment is None:
                    last = ProviderError(
                        f"every deployment of route {current.name!r} has an open circuit "
                        "breaker; retry shortly",
                        status=503,
                        kind="service_unavailable",
                    )
                    break
                attempt.deployment = deployment
                attempt.attempts += 1
                breaker = self.breakers.get(
                    (current.project, current.name, deployment.name),
                    current.spec.breaker_failures,
                    current.spec.breaker_cooldown_s,
                )
                began = time.perf_counter()
                try:
                    request = await self._prepare(operation, body, deployment, current, attempt)
                    for guard in guards:
                        request = guard.before(operation, request)
                    result = await run(self._provider(deployment), request)
                except GuardrailBlocked as exc:
                    raise OpenAIError(str(exc), status=400, code="guardrail_blocked") from exc
                except ProviderError as exc:
                    if not exc.retryable and exc.status < 500:
                        # The caller's mistake (a 400 from upstream): the deployment is fine.
                        raise _client_error(exc) from exc
                    breaker.record_failure()
                    failed.add(deployment.name)
                    self._sample(current, deployment, began, error=True, trace_id=attempt.trace_id)
                    if not exc.retryable:
                        raise _client_error(exc) from exc
                    last = exc
                    if retry < current.spec.retries:
                        await asyncio.sleep(backoff_s(retry, current.spec.backoff_ms))
                    continue
                breaker.record_success()
                self._sample(current, deployment, began, error=False, trace_id=attempt.trace_id)
                return result
        assert last is not None
        raise _client_error(last)

    async def _call_chain(
        self, operation: str, route: Route, body: JSONObject, caller: Caller, attempt: Attempt
    ) -> JSONObject:
        guards = [GUARDRAILS[g] for g in route.spec.guardrails]

        async def run(provider: Provider, request: JSONObject) -> JSONObject:
            if operation == CHAT:
                return await provider.chat(request)
            if operation == COMPLETIONS:
                return await provider.complete(request)
            return await provider.embed(request)

        answer: JSONObject = await self._attempts(operation, body, caller, attempt, run)
        answer = dict(answer)
        answer["model"] = body["model"]  # the client asked for the route's public name
        for guard in guards:
            answer = guard.after(operation, answer)
        return answer

    async def _open_chain(
        self, operation: str, route: Route, body: JSONObject, caller: Caller, attempt: Attempt
    ) -> tuple[JSONObject | None, AsyncIterator[JSONObject]]:
        public = body["model"]

        async def run(
            provider: Provider, request: JSONObject
        ) -> tuple[JSONObject | None, AsyncIterator[JSONObject]]:
            source = (
                provider.stream_chat(request)
                if operation == CHAT
                else provider.stream_complete(request)
            )
            renamed = _renamed(source, public)
            try:
                first = await anext(renamed)
            except StopAsyncIteration:
                return None, renamed
            return first, renamed

        result: tuple[JSONObject | None, AsyncIterator[JSONObject]] = await self._attempts(
            operation, body, caller, attempt, run
        )
        return result

    async def _prepare(
        self,
        operation: str,
        body: JSONObject,
        deployment: DeploymentSpec,
        route: Route,
        attempt: Attempt,
    ) -> JSONObject:
        request = dict(body)
        request["model"] = deployment.model
        if deployment.registry_model is not None:
            version = await self.bindings.registry_version(route.project, deployment)
            attempt.registry = (version.model, version.version)
            request["model"] = self.bindings.served_model(
                route.project, deployment, version, self._provider(deployment)
            )
        attempt.model = request["model"]
        variables = request.pop("prompt_variables", None)
        if deployment.prompt and operation != EMBEDDINGS:
            version = await self.bindings.prompt(
                route.project, deployment.prompt, deployment.prompt_label
            )
            attempt.prompt = (version.prompt, version.version)
            try:
                rendered = render_version(version, variables if isinstance(variables, dict) else {})
            except PodiumError as exc:
                raise OpenAIError(
                    f"prompt {deployment.prompt!r}: {exc.message}", param="prompt_variables"
                ) from exc
            if operation == CHAT:
                prefix = (
                    rendered
                    if isinstance(rendered, list)
                    else [{"role": "system", "content": rendered}]
                )
                request["messages"] = [*prefix, *(request.get("messages") or [])]
            else:
                text = rendered if isinstance(rendered, str) else json.dumps(rendered)
                request["prompt"] = text + str(request.get("prompt") or "")
        return request

    # -- cache --------------------------------------------------------------------------------

    def _cache_key(self, operation: str, body: JSONObject, caller: Caller) -> str:
        canonical = json.dumps([caller.project, operation, body], sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def _cache_get(self, key: str) -> JSONObject | None:
        found = self._cache.get(key)
        if found is None:
            return None
        expires, answer = found
        if time.monotonic() >= expires:
            del self._cache[key]
            return None
        self._cache.move_to_end(key)
        return answer

    def _cache_put(self, key: str, answer: JSONObject, ttl_s: float) -> None:
        self._cache[key] = (time.monotonic() + ttl_s, answer)
        self._cache.move_to_end(key)
        while len(self._cache) > CACHE_MAX_ENTRIES:
            self._cache.popitem(last=False)

    # -- bookkeeping: spans, limits, canary ---------------------------------------------------

    def _sample(
        self,
        route: Route,
        deployment: DeploymentSpec,
        began: float,
        *,
        error: bool,
        trace_id: str = "",
    ) -> None:
        latency_ms = (time.perf_counter() - began) * 1000
        self.canary.sample(route, deployment, latency_ms, error=error, trace_id=trace_id)

    def window_stats(
        self, project: str, route: str, deployment: str, window_s: float
    ) -> tuple[int, float, float]:
        """(requests, error rate, p95 latency ms of successes) over the last ``window_s``."""
        return self.canary.window_stats(project, route, deployment, window_s)

    def _finish(
        self,
        operation: str,
        body: JSONObject,
        caller: Caller,
        attempt: Attempt,
        limits: list[Limits],
        started: float,
        start_ms: int,
    ) -> None:
        duration_ms = (time.perf_counter() - started) * 1000
        deployment = attempt.deployment
        model = attempt.model or (deployment.model if deployment is not None else None)
        cost = self.prices.cost(model, attempt.input_tokens, attempt.output_tokens)
        if attempt.cache == "hit":
            cost = 0.0
        error = attempt.error
        attributes: dict[str, Any] = {
            "gateway.route": attempt.route,
            "gateway.public_model": body.get("model"),
            "gateway.attempts": attempt.attempts,
            "gateway.cache": attempt.cache,
            "gen_ai.request.model": body.get("model"),
        }
        if deployment is not None:
            attributes["gateway.deployment"] = deployment.name
            attributes["gateway.role"] = deployment.role
        if attempt.registry is not None:
            attributes["gateway.registry_model"] = attempt.registry[0]
            attributes["gateway.registry_version"] = attempt.registry[1]
        if attempt.fallback_from:
            attributes["gateway.fallback_from"] = list(attempt.fallback_from)
        if error is not None:
            attributes["http.status_code"] = error.status
        span = SpanRecord(
            trace_id=attempt.trace_id,
            span_id=f"{random.getrandbits(64) or 1:016x}",
            parent_span_id=None,
            name=f"gateway {operation}",
            kind="server",
            start_time=start_ms,
            duration_ms=duration_ms,
            status="error" if error is not None else "ok",
            status_message=error.message if error is not None else "",
            service_name="podium-gateway",
            model=model,
            provider=deployment.provider if deployment is not None else None,
            operation=operation,
            input_tokens=attempt.input_tokens,
            output_tokens=attempt.output_tokens,
            cost_usd=cost,
            session_id=caller.sticky,
            user_id=body.get("user") if isinstance(body.get("user"), str) else None,
            prompt_name=attempt.prompt[0] if attempt.prompt else None,
            prompt_version=attempt.prompt[1] if attempt.prompt else None,
            attributes=attributes,
        )
        self.recorder.record(caller.project, span)
        tokens = (attempt.input_tokens or 0) + (attempt.output_tokens or 0)
        if limits and (tokens or cost):
            args = (limits, caller.key, tokens, cost or 0.0, now_ms())
            try:
                asyncio.get_running_loop().run_in_executor(None, self._charge, *args)
            except RuntimeError:
                self._charge(*args)

    def _charge(self, *args: Any) -> None:
        try:
            self.service.charge(*args)
        except Exception:
            # Usage counting must never fail a request that already succeeded.
            log.exception("could not count gateway usage")


async def _renamed(source: AsyncIterator[JSONObject], public: str) -> AsyncIterator[JSONObject]:
    async for chunk in source:
        if "model" in chunk:
            chunk = {**chunk, "model": public}
        yield chunk


def _count_usage(answer: JSONObject, attempt: Attempt) -> None:
    usage = answer.get("usage")
    if isinstance(usage, dict):
        attempt.input_tokens = usage.get("prompt_tokens")
        attempt.output_tokens = usage.get("completion_tokens")


def _client_error(exc: ProviderError) -> OpenAIError:
    code = {429: "rate_limit_exceeded", 504: "timeout"}.get(exc.status)
    kind = exc.kind if exc.kind != "server_error" or exc.status < 500 else "api_error"
    headers = {"Retry-After": "1"} if exc.status in (429, 503) else None
    return OpenAIError(exc.message, status=exc.status, kind=kind, code=code, headers=headers)


__all__ = [
    "CHAT",
    "COMPLETIONS",
    "EMBEDDINGS",
    "Answer",
    "Caller",
    "Gateway",
    "ScoreReader",
]
