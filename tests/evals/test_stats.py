"""The paired bootstrap: identical experiments are not different, a planted improvement is
found, and the 95% interval covers the true difference at about the nominal rate."""

from __future__ import annotations

import numpy as np

from podium.evals.stats import paired_bootstrap


def test_identical_experiments_show_no_significant_difference() -> None:
    scores = np.random.default_rng(1).random(200).tolist()
    found = paired_bootstrap(scores, scores)
    assert (found.delta, found.low, found.high) == (0.0, 0.0, 0.0)
    assert found.verdict == "no significant difference"
    assert found.n == 200


def test_noise_alone_is_not_significant_and_a_planted_improvement_is() -> None:
    rng = np.random.default_rng(2)
    base = rng.random(300)
    noisy = base + rng.normal(0, 0.05, 300)
    assert paired_bootstrap(base, noisy).verdict == "no significant difference"
    better = base + 0.05 + rng.normal(0, 0.05, 300)
    found = paired_bootstrap(base, better)
    assert found.verdict == "better"
    assert 0.04 < found.low < found.delta < found.high < 0.07
    # For a "lower is better" metric (latency) the same shift is a regression.
    assert paired_bootstrap(base, better, higher_is_better=False).verdict == "worse"


def test_the_seed_makes_the_interval_reproducible() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.random(50), rng.random(50)
    assert paired_bootstrap(a, b, seed=7) == paired_bootstrap(a, b, seed=7)
    assert paired_bootstrap([], []).verdict == "no significant difference"
    # Three ties and three losses: the bootstrap alone would call it significant.
    assert paired_bootstrap([1.0] * 6, [1.0] * 3 + [0.0] * 3).verdict == "too few items"


def test_the_interval_covers_the_true_difference_at_the_nominal_rate() -> None:
    rng = np.random.default_rng(4)
    true_delta, trials, covered = 0.1, 300, 0
    for trial in range(trials):
        base = rng.normal(0.5, 0.2, 80)
        candidate = base + true_delta + rng.normal(0, 0.15, 80)
        found = paired_bootstrap(base, candidate, resamples=1000, seed=trial)
        covered += found.low <= true_delta <= found.high
    # Percentile intervals run slightly narrow for n = 80; the nominal 95% +- sampling error.
    assert 0.90 <= covered / trials <= 0.985
