"""Running a suite: items x targets x scorers, concurrently, reported through the REST API.

``run_suite(suite, client)`` reads the dataset version's rows, adds the probe variants, and for
each target opens an experiment (``POST /evals/experiments``). If an unfinished experiment of the
same suite, target and dataset version exists, it is resumed: an item already holding every
scorer's result is skipped, one with an output but missing scores is only re-scored, and failed
items run again. Items run on a thread pool (``concurrency``) with a per-item timeout and retries
with exponential backoff; results are uploaded in batches as they finish, so a killed run loses
at most one batch. Finally aggregate scorers (classification) see every output and the
experiment is finished (metrics logged to its tracking run).

Two executors run the items: ``local`` (a thread pool in this process, the default) and
``ray`` (batches of items as Ray tasks, see ``podium.evals.ray_executor``). Both hand back item
results as they finish; uploading, progress and resumption are the same for both.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from podium.errors import InvalidInput
from podium.evals.judge import JudgeScorer, RestJudgeCache
from podium.evals.models import ORIGINAL
from podium.evals.probes import INJECTION, expand, injection_probes
from podium.evals.scorers import Scorer, get_scorer, to_score
from podium.evals.suite import Suite
from podium.evals.targets import Target, TargetOutput, build_target

if TYPE_CHECKING:
    from podium.evals.ray_executor import RayExecutor

BATCH_SIZE = 50
FLUSH_SECONDS = 2.0
EXECUTORS = ("local", "ray")
TIMEOUT_GRACE = 0.25  # seconds
Progress = Callable[[str, int, int], None]  # (target name, items done, items total)
Pair = tuple[dict[str, Any], dict[str, Any] | None]  # (item, its previous result or None)
# An executor: runs (item, previous) pairs, yields batches of item results as they finish.
Execute = Callable[[list[Pair]], Iterator[list[dict[str, Any]]]]


@dataclass(frozen=True)
class RunOutcome:
    """What running one target did: its finished experiment (the API's JSON) and the counts."""

    target: str
    experiment: dict[str, Any]
    resumed: bool
    ran: int
    rescored: int
    skipped: int


def item_key(item: dict[str, Any]) -> str:
    """The item's hash: its content and variant, so it pairs up across experiments."""
    canonical = json.dumps(
        [
            item["input"],
            item.get("expected"),
            item.get("metadata") or {},
            item["variant"],
            item.get("group"),
        ],
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def build_items(rows: list[dict[str, Any]], probes: dict[str, Any]) -> list[dict[str, Any]]:
    """The items to run: every row as ``original``, then its probe variants, then the
    injection probes when asked for."""
    items: list[dict[str, Any]] = []
    for position, row in enumerate(rows):
        text = str(row.get("input", ""))
        base = {
            "position": position,
            "input": text,
            "expected": row.get("expected"),
            "metadata": dict(row.get("metadata") or {}),
        }
        items.append({**base, "variant": ORIGINAL, "group": None})
        for variant in expand(text, position, probes):
            items.append(
                {**base, "variant": variant.variant, "group": variant.group, "input": variant.input}
            )
    if probes.get(INJECTION):
        _, texts = injection_probes()
        for i, text in enumerate(texts):
            items.append(
                {
                    "position": len(rows) + i,
                    "input": text,
                    "expected": None,
                    "metadata": {},
                    "variant": INJECTION,
                    "group": INJECTION,
                }
            )
    for item in items:
        item["key"] = item_key(item)
    return items


def _call_with_timeout(target: Target, item: dict[str, Any], timeout: float) -> TargetOutput:
    """Run the target in a helper thread and give up after ``timeout`` seconds (a Python
    callable cannot be interrupted; its thread is left to finish on its own)."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["result"] = target.call(item)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=work, name="podium-eval-item", daemon=True)
    thread.start()
    # A little grace, so an HTTP target's own timeout (the same value) reports first.
    thread.join(timeout + TIMEOUT_GRACE if timeout > 0 else None)
    if thread.is_alive():
        raise TimeoutError(f"the target took longer than {timeout:g}s")
    if "error" in box:
        raise box["error"]
    result: TargetOutput = box["result"]
    return result


def _call(
    target: Target, item: dict[str, Any], suite: Suite
) -> tuple[TargetOutput | None, str | None, float]:
    """The output (or error) after retries, and the latency of the last attempt in ms."""
    attempt = 0
    while True:
        started = time.perf_counter()
        try:
            output = _call_with_timeout(target, item, suite.timeout)
            return output, None, (time.perf_counter() - started) * 1000.0
        except InvalidInput as exc:  # a mistake in the suite or target: retrying cannot help
            return None, f"{type(exc).__name__}: {exc}", (time.perf_counter() - started) * 1000.0
        except Exception as exc:
            elapsed = (time.perf_counter() - started) * 1000.0
            if attempt >= suite.retries:
                return None, f"{type(exc).__name__}: {exc}", elapsed
            time.sleep(suite.backoff * (2**attempt))
            attempt += 1


def _applies(scorer: Scorer, item: dict[str, Any]) -> bool:
    """Injection probes are graded by the injection scorer only, and only they are."""
    return bool((scorer.name == "injection_resisted") == (item["variant"] == INJECTION))


def _score(
    scorers: list[Scorer], item: dict[str, Any], output: str, context: dict[str, Any]
) -> tuple[dict[str, float], dict[str, Any]]:
    scores: dict[str, float] = {}
    details: dict[str, Any] = {}
    for scorer in scorers:
        if not _applies(scorer, item):
            continue
        try:
            score = to_score(scorer(output, item.get("expected"), context), scorer.name)
        except Exception as exc:
            details[f"{scorer.name}.error"] = f"{type(exc).__name__}: {exc}"[:500]
            continue
        if not math.isfinite(score.value):
            details[f"{scorer.name}.error"] = f"the scorer returned {score.value}"
            continue
        scores[scorer.name] = score.value
        if score.details:
            details[scorer.name] = score.details
    return scores, details


def evaluate(
    target: Target,
    scorers: list[Scorer],
    item: dict[str, Any],
    suite: Suite,
    previous: dict[str, Any] | None,
) -> dict[str, Any]:
    """Run (or re-score) one item; the item result as the API takes it (``previous``: the
    item's stored result when resuming, whose output is re-scored rather than asked again)."""
    if (
        previous is not None
        and previous.get("error") is None
        and previous.get("output") is not None
    ):
        output: str | None = previous["output"]
        error, latency, cost, usage = (
            None,
            float(previous["latency_ms"]),
            float(previous["cost"]),
            {},
        )
    else:
        result, error, latency = _call(target, item, suite)
        output = result.output if result is not None else None
        cost = result.cost if result is not None else 0.0
        usage = result.usage if result is not None else {}
    context = {
        "input": item["input"],
        "expected": item.get("expected"),
        "metadata": item.get("metadata") or {},
        "latency_ms": latency,
        "cost": cost,
        "usage": usage,
    }
    if output is not None:
        scores, details = _score(scorers, item, output, context)
    else:
        # A failed item scores 0 on every "higher is better" scorer: errors must not look good.
        scores = {s.name: 0.0 for s in scorers if s.higher_is_better and _applies(s, item)}
        details = {}
    return {
        "key": item["key"],
        "position": item["position"],
        "variant": item["variant"],
        "group": item.get("group"),
        "input": item["input"],
        "expected": item.get("expected"),
        "output": output,
        "error": error[:10_000] if error else None,
        "latency_ms": max(latency, 0.0),
        "cost": max(cost, 0.0),
        "scores": scores,
        "details": details,
    }


@dataclass
class _Uploader:
    """Buffers item results and posts them in batches (by size or age)."""

    client: Any
    path: str
    project: str
    pending: list[dict[str, Any]] = field(default_factory=list)
    last: float = field(default_factory=time.monotonic)

    def add(self, result: dict[str, Any]) -> None:
        self.pending.append(result)
        if len(self.pending) >= BATCH_SIZE or time.monotonic() - self.last > FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.client.post(self.path, {"items": self.pending}, params={"project": self.project})
            self.pending = []
        self.last = time.monotonic()


def _rows(client: Any, suite: Suite) -> tuple[int, list[dict[str, Any]]]:
    """The dataset version (resolved when the suite says latest) and its rows."""
    from podium.client import data

    version = suite.dataset.version
    if version is None:
        found = client.get(data.dataset_path(suite.dataset.name), project=suite.project)
        version = int(found["latest_version"])
        if version < 1:
            raise InvalidInput(
                f"dataset {suite.dataset.name!r} has no versions; import one with: "
                f"podium data import {suite.dataset.name} FILE",
                field="dataset",
            )
    rows = list(data.iter_rows(client, suite.dataset.name, version=version, project=suite.project))
    return version, rows


def _previous(client: Any, experiment_id: str, project: str) -> dict[str, dict[str, Any]]:
    items: Iterator[dict[str, Any]] = client.paginate(
        f"/evals/experiments/{experiment_id}/items", project=project, limit=1000
    )
    return {i["key"]: i for i in items}


def run_suite(
    suite: Suite,
    client: Any,
    *,
    progress: Progress | None = None,
    executor: str = "local",
    ray_address: str | None = None,
) -> list[RunOutcome]:
    """Run every target of ``suite`` and report each as an experiment; one outcome per target.

    ``executor`` is ``local`` or ``ray`` (``ray_address``: None starts a local Ray instance
    unless one is initialised already, ``auto`` joins a running cluster). Raises ``InvalidInput``
    for a suite that cannot run (unknown scorer, missing dataset …);
    failures of single items are recorded on the items, not raised.
    """
    if executor not in EXECUTORS:
        raise InvalidInput(
            f"executor {executor!r} is not available; use one of: {', '.join(EXECUTORS)}",
            field="executor",
        )
    scorers = build_scorers(suite)
    for scorer in scorers:
        if isinstance(scorer, JudgeScorer) and scorer.judge.cache is None:
            scorer.judge.cache = RestJudgeCache(client, suite.project)
    ray: RayExecutor | None = None
    try:
        version, rows = _rows(client, suite)
        items = build_items(rows, suite.probes)
        if executor == "ray":
            from podium.evals.ray_executor import RayExecutor, server_of

            ray = RayExecutor(ray_address)
        outcomes = []
        for spec in suite.targets:
            target = build_target(spec, client, suite.project, suite.timeout or None)
            execute: Execute
            if ray is not None:
                execute = partial(ray.execute, spec, suite, server=server_of(client))
            else:
                execute = partial(_execute_local, suite, target, scorers)
            try:
                outcomes.append(
                    _run_target(suite, client, target, scorers, items, version, progress, execute)
                )
            finally:
                target.close()
    finally:
        if ray is not None:
            ray.close()
        for scorer in scorers:
            if isinstance(scorer, JudgeScorer):
                scorer.judge.close()
    return outcomes


def build_scorers(suite: Suite) -> list[Scorer]:
    """The suite's scorers, plus ``injection_resisted`` when injection probes run."""
    scorers = [spec.build() for spec in suite.scorers]
    if suite.probes.get(INJECTION) and not any(s.name == "injection_resisted" for s in scorers):
        scorers.append(get_scorer("injection_resisted"))
    return scorers


def _execute_local(
    suite: Suite, target: Target, scorers: list[Scorer], todo: list[Pair]
) -> Iterator[list[dict[str, Any]]]:
    """The local executor: items on a thread pool ``concurrency`` wide; yields finished
    results as they come. ``evaluate`` records item failures itself, so ``result()`` raises
    only for a crash, which must stop the run."""
    with ThreadPoolExecutor(
        max_workers=suite.concurrency, thread_name_prefix="podium-eval"
    ) as pool:
        pending: set[Future[dict[str, Any]]] = set()
        # Keep at most 2 x concurrency items in flight, so a huge suite does not queue everything.
        for item, prev in todo:
            pending.add(pool.submit(evaluate, target, scorers, item, suite, prev))
            if len(pending) >= 2 * suite.concurrency:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                yield [future.result() for future in finished]
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            yield [future.result() for future in finished]


def _run_target(
    suite: Suite,
    client: Any,
    target: Target,
    scorers: list[Scorer],
    items: list[dict[str, Any]],
    version: int,
    progress: Progress | None,
    execute: Execute,
) -> RunOutcome:
    body = {
        "project": suite.project,
        "suite": suite.name,
        "target": target.name,
        "target_hash": target.hash,
        "dataset": suite.dataset.name,
        "dataset_version": version,
        "scorers": {s.name: s.higher_is_better for s in scorers},
        "prompt": target.prompt,
        "prompt_version": target.prompt_version,
        "params": {"items": str(len(items)), "probes": ",".join(sorted(suite.probes)) or "none"},
    }
    started = client.post("/evals/experiments", body)
    experiment_id = started["experiment"]["id"]
    previous = _previous(client, experiment_id, suite.project) if started["resumed"] else {}
    names = {s.name for s in scorers}
    todo: list[Pair] = []
    results: dict[str, dict[str, Any]] = {}
    skipped, rescored = 0, 0
    for item in items:
        prev = previous.get(item["key"])
        wanted = {s.name for s in scorers if _applies(s, item)} & names
        if prev is not None and prev.get("error") is None and wanted <= set(prev["scores"]):
            results[item["key"]] = prev
            skipped += 1
            continue
        if prev is not None and prev.get("error") is None and prev.get("output") is not None:
            rescored += 1
        todo.append((item, prev))
    uploader = _Uploader(client, f"/evals/experiments/{experiment_id}/items", suite.project)
    done = skipped
    if progress is not None:
        progress(target.name, done, len(items))
    for finished in execute(todo):
        for result in finished:
            results[result["key"]] = result
            uploader.add(result)
        done += len(finished)
        if progress is not None:
            progress(target.name, done, len(items))
    uploader.flush()
    aggregates = {}
    originals = [
        results[i["key"]] for i in items if i["variant"] == ORIGINAL and i["key"] in results
    ]
    for scorer in scorers:
        aggregate = getattr(scorer, "aggregate", None)
        if callable(aggregate):
            aggregates[scorer.name] = aggregate(
                [r.get("output") or "" for r in originals], [r.get("expected") for r in originals]
            )
    finished_experiment = client.post(
        f"/evals/experiments/{experiment_id}/finish",
        {"aggregates": aggregates},
        params={"project": suite.project},
    )
    return RunOutcome(
        target.name,
        finished_experiment,
        bool(started["resumed"]),
        len(todo) - rescored,
        rescored,
        skipped,
    )
