"""Canary rollouts in one server process: outcome windows per deployment, and the checks that
promote a healthy canary or roll back a regressing one.

Every provider call ends as a ``Sample`` in its deployment's sliding window. After each sample of
a route with a rolling canary, ``CanaryWatch`` compares the canary with the stable deployments
over the rollout's window: error rate and p95 latency from the windows (in memory, a few times a
second at most), and, with ``score_name`` set, the mean trace score (user feedback, online evals)
read from the database every ``SCORE_CHECK_S``. Changes (a database write) run off the event
loop, one at a time per route; each replica judges the traffic it served.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from podium.errors import PodiumError
from podium.gateway.models import CanarySpec, DeploymentSpec, Route
from podium.gateway.service import GatewayService
from podium.store.clock import now_ms
from podium.tracing.models import percentile

log = logging.getLogger("podium.gateway")

# (project, trace ids, score name) -> each scored trace's mean score of that name.
ScoreReader = Callable[[str, Sequence[str], str], dict[str, float]]
SCORE_CHECK_S = 2.0  # how often a route's canary scores are read from the database
WINDOW_MAX_SAMPLES = 5_000


@dataclass(frozen=True)
class Sample:
    """One provider call: when it ended, how long it took, whether it failed, its trace."""

    at: float
    latency_ms: float
    error: bool
    trace_id: str = ""


class CanaryWatch:
    """Per-deployment outcome windows and the automatic canary decisions they drive."""

    def __init__(
        self,
        service: GatewayService,
        scores: ScoreReader | None = None,
        on_change: Callable[[], None] = lambda: None,
    ) -> None:
        self.service = service
        self.scores = scores
        self._on_change = on_change  # e.g. reload the route before the next request
        self._windows: dict[tuple[str, str, str], collections.deque[Sample]] = {}
        self._checked: dict[tuple[str, str], float] = {}
        self._scores_checked: dict[tuple[str, str], float] = {}
        self._busy: set[tuple[str, str]] = set()

    def sample(
        self,
        route: Route,
        deployment: DeploymentSpec,
        latency_ms: float,
        *,
        error: bool,
        trace_id: str = "",
    ) -> None:
        """Record one call's outcome; check the route's canary if one is rolling."""
        key = (route.project, route.name, deployment.name)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = collections.deque(maxlen=WINDOW_MAX_SAMPLES)
        window.append(Sample(time.monotonic(), latency_ms, error, trace_id))
        if route.spec.canary is not None and route.spec.canary.state == "rolling":
            self._check(route)

    def window_stats(
        self, project: str, route: str, deployment: str, window_s: float
    ) -> tuple[int, float, float]:
        """(requests, error rate, p95 latency ms of successes) over the last ``window_s``."""
        since = time.monotonic() - window_s
        samples = [s for s in self._windows.get((project, route, deployment), ()) if s.at >= since]
        if not samples:
            return 0, 0.0, 0.0
        errors = sum(1 for s in samples if s.error)
        latencies = sorted(s.latency_ms for s in samples if not s.error)
        p95 = percentile(latencies, 0.95) if latencies else 0.0
        return len(samples), errors / len(samples), float(p95 or 0.0)

    def _check(self, route: Route) -> None:
        canary = route.spec.canary
        assert canary is not None
        key = (route.project, route.name)
        now = time.monotonic()
        # At most a few checks a second: each one scans the deployments' windows.
        if key in self._busy or now - self._checked.get(key, -1e18) < 0.05:
            return
        self._checked[key] = now
        canary_dep = next(d for d in route.spec.deployments if d.role == "canary")
        stable = [d for d in route.spec.deployments if d.role == "stable"]
        n_c, err_c, p95_c = self.window_stats(*key, canary_dep.name, canary.window_s)
        stable_stats = [self.window_stats(*key, d.name, canary.window_s) for d in stable]
        n_s = sum(s[0] for s in stable_stats)
        reason = ""
        if n_c >= canary.min_requests and n_s >= canary.min_requests:
            err_s = sum(s[0] * s[1] for s in stable_stats) / n_s
            p95_s = max((s[2] for s in stable_stats), default=0.0)
            if err_c - err_s > canary.max_error_rate_delta:
                reason = (
                    f"canary error rate {err_c:.1%} vs stable {err_s:.1%} over {n_c}/{n_s} requests"
                )
            elif p95_s > 0 and p95_c > p95_s * canary.max_latency_ratio:
                reason = f"canary p95 latency {p95_c:.0f} ms vs stable {p95_s:.0f} ms"
        due = (
            canary.promote_every_s is not None
            and not reason
            and now_ms() - canary.stepped_at_ms >= canary.promote_every_s * 1000
            and n_c >= canary.min_requests
        )
        if not reason and not due:
            self._check_scores(route)
            return
        action = self.service.rollback_canary if reason else self.service.promote_canary
        note = reason or "scheduled promotion: no regression in the window"
        self._change(route, lambda: action(route.project, route.name, actor="gateway", reason=note))

    def _check_scores(self, route: Route) -> None:
        """Compare the canary's and stable's trace scores now and then (a database read)."""
        canary = route.spec.canary
        key = (route.project, route.name)
        now = time.monotonic()
        if self.scores is None or canary is None or canary.score_name is None:
            return
        if now - self._scores_checked.get(key, -1e18) < SCORE_CHECK_S:
            return
        self._scores_checked[key] = now
        since = now - canary.window_s

        def traces(role: str) -> list[str]:
            return [
                sample.trace_id
                for d in route.spec.deployments
                if d.role == role
                for sample in self._windows.get((*key, d.name), ())
                if sample.at >= since and not sample.error and sample.trace_id
            ]

        canary_traces, stable_traces = traces("canary"), traces("stable")
        if min(len(canary_traces), len(stable_traces)) < canary.min_scores:
            return
        scores, name = self.scores, canary.score_name

        def compare() -> None:
            canary_scores = scores(route.project, canary_traces, name)
            stable_scores = scores(route.project, stable_traces, name)
            reason = score_regression(canary, canary_scores, stable_scores)
            if reason:
                self.service.rollback_canary(
                    route.project, route.name, actor="gateway", reason=reason
                )

        self._change(route, compare)

    def _change(self, route: Route, change: Callable[[], Any]) -> None:
        """Run a canary change (a database write) off the event loop, one at a time per route."""
        key = (route.project, route.name)
        self._busy.add(key)

        def run() -> None:
            try:
                change()
            except PodiumError as exc:
                log.info("canary change on %s skipped: %s", route.name, exc.message)
            except Exception:
                log.exception("canary change on %s failed", route.name)
            finally:
                self._busy.discard(key)
                self._on_change()

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            run()
            return
        loop.run_in_executor(None, run)


def score_regression(
    canary: CanarySpec, canary_scores: Mapping[str, float], stable_scores: Mapping[str, float]
) -> str:
    """Why the canary's scores regressed (mean lower by more than the margin), or ""."""
    if min(len(canary_scores), len(stable_scores)) < canary.min_scores:
        return ""
    canary_mean = statistics.fmean(canary_scores.values())
    stable_mean = statistics.fmean(stable_scores.values())
    if stable_mean - canary_mean <= canary.max_score_drop:
        return ""
    return (
        f"canary mean {canary.score_name} {canary_mean:.3g} vs stable {stable_mean:.3g} over "
        f"{len(canary_scores)}/{len(stable_scores)} scored requests"
    )


__all__ = ["SCORE_CHECK_S", "CanaryWatch", "Sample", "ScoreReader", "score_regression"]
