"""The Ray executor: a suite's items run as Ray tasks, on a local Ray instance or a cluster.

``podium eval run --executor ray [--ray-address auto|ray://host:10001]`` splits the items still to
run into batches (several items per task, so Ray's per-task overhead is paid once per batch), and
each task builds the target and scorers from the suite's specs, calls the target and scores the
items (on a small thread pool, ``concurrency`` wide), then returns the item results. The runner
collects tasks as they finish (``ray.wait``), uploads their results through the REST API and
advances the progress bar, exactly as the local executor does, so resumption works the same.

Workers talk to Podium only when the driver does over HTTP (``PODIUM_URL``): then prompt targets
fetch their version, route targets call its gateway, and the judge uses the server's cache from
the workers too. In embedded mode (no server) workers have no Podium to reach: prompt and route
targets are refused with a message naming ``PODIUM_URL``, and judge answers are cached per task
only.

Ray is an optional extra (``pip install 'podium[ray]'``); without it ``RayExecutor`` raises
``MissingExtra``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from podium.errors import InvalidInput, MissingExtra
from podium.evals.judge import JudgeScorer, MemoryJudgeCache, RestJudgeCache
from podium.evals.suite import Suite, TargetSpec
from podium.evals.targets import build_target

MAX_BATCH = 64  # items per task at most: results come back (and are stored) at least this often
TASKS_PER_CPU = 4  # enough tasks per CPU that a slow batch does not hold the others back

# A Podium server the workers may call: (base URL, API key or None); None in embedded mode.
Server = tuple[str, str | None] | None
Pair = tuple[dict[str, Any], dict[str, Any] | None]  # (item, its previous result or None)


def batch_size(items: int, cpus: float) -> int:
    """Items per task: about ``TASKS_PER_CPU`` tasks per CPU, between 1 and ``MAX_BATCH``."""
    wanted = math.ceil(items / (max(1.0, cpus) * TASKS_PER_CPU))
    return max(1, min(MAX_BATCH, wanted))


def server_of(client: Any) -> Server:
    """The server the driver's ``client`` talks to, for the workers; None when embedded."""
    url = getattr(client, "url", None)
    if not url:
        return None
    authorization = str(client.http.headers.get("authorization") or "")
    api_key = authorization.removeprefix("Bearer ").strip() or None
    return (str(url), api_key)


def evaluate_batch(
    spec: TargetSpec, suite: Suite, batch: list[Pair], server: Server
) -> dict[str, Any]:
    """Run one batch inside a Ray worker: ``{"results": [...]}`` or, for a mistake in the
    suite, ``{"invalid": message, "field": field}`` (re-raised by the driver as
    ``InvalidInput``, since Ray would wrap it in its own exception)."""
    # Imported here: the runner imports this module, and workers import it fresh.
    from podium.client import Client
    from podium.evals import runner

    client = Client(server[0], api_key=server[1]) if server is not None else None
    try:
        target = build_target(spec, client, suite.project, suite.timeout or None)
        scorers = runner.build_scorers(suite)
        for scorer in scorers:
            if isinstance(scorer, JudgeScorer) and scorer.judge.cache is None:
                scorer.judge.cache = (
                    RestJudgeCache(client, suite.project)
                    if client is not None
                    else MemoryJudgeCache()
                )
        try:
            width = max(1, min(suite.concurrency, len(batch)))
            with ThreadPoolExecutor(max_workers=width, thread_name_prefix="podium-ray") as pool:
                results = list(
                    pool.map(
                        lambda pair: runner.evaluate(target, scorers, pair[0], suite, pair[1]),
                        batch,
                    )
                )
        finally:
            target.close()
            for scorer in scorers:
                if isinstance(scorer, JudgeScorer):
                    scorer.judge.close()
        return {"results": results}
    except InvalidInput as exc:
        return {"invalid": str(exc), "field": exc.field}
    finally:
        if client is not None:
            client.close()


class RayExecutor:
    """Connects to Ray (``address``: None starts a local instance, ``auto`` joins the running
    cluster, ``ray://…`` a remote one) and runs batches of items as tasks. Leaves Ray running
    when it was already initialised by the caller; shuts down what it started."""

    def __init__(self, address: str | None = None) -> None:
        try:
            import ray
        except ImportError as exc:
            raise MissingExtra.for_feature("the Ray executor (--executor ray)", "ray") from exc
        self._ray: Any = ray
        self._started = False
        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
            self._started = True
        self._remote = ray.remote(evaluate_batch)

    def cpus(self) -> float:
        """The cluster's CPUs (what sizes the batches)."""
        return float(self._ray.cluster_resources().get("CPU", 1.0))

    def execute(
        self, spec: TargetSpec, suite: Suite, todo: list[Pair], server: Server
    ) -> Iterator[list[dict[str, Any]]]:
        """Submit every batch, then yield each task's results as it finishes."""
        if (spec.prompt is not None or spec.route is not None) and server is None:
            needs = "renders a prompt" if spec.prompt is not None else "calls a gateway route"
            raise InvalidInput(
                f"target {spec.name!r} {needs}, which Ray workers reach through a Podium "
                "server: set PODIUM_URL (or use --executor local)",
                field="executor",
            )
        ray = self._ray
        size = batch_size(len(todo), self.cpus())
        # Large values go into the object store once, not once per task.
        spec_ref, suite_ref = ray.put(spec), ray.put(suite)
        pending = [
            self._remote.remote(spec_ref, suite_ref, todo[i : i + size], server)
            for i in range(0, len(todo), size)
        ]
        try:
            while pending:
                finished, pending = ray.wait(pending, num_returns=1)
                for reply in ray.get(finished):
                    if "invalid" in reply:
                        raise InvalidInput(reply["invalid"], field=reply.get("field"))
                    yield reply["results"]
        finally:
            for ref in pending:  # a stopped run (an error, Ctrl-C) leaves no tasks behind
                ray.cancel(ref)

    def close(self) -> None:
        """Shut Ray down if this executor started it."""
        if self._started:
            self._ray.shutdown()
            self._started = False
