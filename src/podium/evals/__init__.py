"""Evaluation: scorers, eval suites, experiments, comparisons, probes and CI gates.

Suites run client-side (``podium eval run``, or ``run_suite`` here) and upload per-item results
through the REST API; the server stores experiments as tracking runs and compares them::

    from podium.client import Client
    from podium.evals import DatasetRef, ScorerSpec, Suite, TargetSpec, run_suite

    suite = Suite("qa", DatasetRef("qa"), [TargetSpec("mine", function=answer)],
                  [ScorerSpec("f1")])
    with Client() as client:
        (outcome,) = run_suite(suite, client)
"""

from podium.evals.runner import RunOutcome, run_suite
from podium.evals.scorers import Score, Scorer, get_scorer, register_scorer, scorer_names
from podium.evals.suite import DatasetRef, PromptRef, ScorerSpec, Suite, TargetSpec, load_suite

__all__ = [
    "DatasetRef",
    "PromptRef",
    "RunOutcome",
    "Score",
    "Scorer",
    "ScorerSpec",
    "Suite",
    "TargetSpec",
    "get_scorer",
    "load_suite",
    "register_scorer",
    "run_suite",
    "scorer_names",
]
