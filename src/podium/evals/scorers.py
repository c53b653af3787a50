"""Scorers: pure functions that grade one output, and the registry that names them.

A scorer is anything callable as ``scorer(output, expected, item)`` returning a float or a dict
with a ``"score"`` key (other keys are kept as details). ``item`` is the item being graded as a
plain dict: ``input``, ``expected``, ``metadata``, ``latency_ms``, ``cost`` and ``usage``. So a
custom scorer is a plain Python function::

    def shouts(output: str, expected: str | None, item: dict) -> float:
        return float(output.isupper())

Built-ins are registered under a name with ``register_scorer`` (the same hook a plugin uses; the
``podium.scorers`` entry-point group is loaded too) and built from a suite's spec with
``get_scorer(name, **params)``. Each built scorer carries ``name``, ``higher_is_better`` (a
comparison needs the direction: lower latency is better) and, for classification, an
``aggregate`` that sees every item at once (precision/recall/F1 and the confusion matrix).
"""

from __future__ import annotations

import json
import math
import re
import string
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from podium.errors import InvalidInput, MissingExtra


@dataclass(frozen=True)
class Score:
    """One graded output: the value and what explains it."""

    value: float
    details: dict[str, Any] = field(default_factory=dict)


ScoreFunction = Callable[[str, "str | None", dict[str, Any]], "float | dict[str, Any] | Score"]


@runtime_checkable
class Scorer(Protocol):
    """What a suite runs: a named callable grading one output."""

    name: str
    higher_is_better: bool

    def __call__(self, output: str, expected: str | None, item: dict[str, Any]) -> Score: ...


class Aggregate(Protocol):
    """A scorer that also reports metrics over all items (classification)."""

    def aggregate(self, outputs: Sequence[str], expected: Sequence[str | None]) -> dict[str, Any]:
        """Metrics over every item, e.g. ``{"macro_f1": 0.8, "confusion": {...}}``."""
        ...


@dataclass
class FunctionScorer:
    """A plain function wrapped as a ``Scorer``: its result is turned into a ``Score``."""

    name: str
    function: ScoreFunction
    higher_is_better: bool = True

    def __call__(self, output: str, expected: str | None, item: dict[str, Any]) -> Score:
        return to_score(self.function(output, expected, item), self.name)


def to_score(value: object, name: str = "scorer") -> Score:
    """A scorer's result as a ``Score``; ``InvalidInput`` naming the scorer if it is neither a
    number nor a dict with a numeric ``score``."""
    if isinstance(value, Score):
        return value
    if isinstance(value, bool | int | float):
        return Score(float(value))
    if isinstance(value, Mapping) and isinstance(value.get("score"), bool | int | float):
        return Score(float(value["score"]), {k: v for k, v in value.items() if k != "score"})
    raise InvalidInput(
        f"scorer {name!r} returned {type(value).__name__}; return a float or a dict with a "
        "numeric 'score'",
        field="scorers",
    )


# name -> factory(**params) -> Scorer
_REGISTRY: dict[str, Callable[..., Scorer]] = {}
_plugins_loaded = False
# Built-in scorers defined outside this module register when these are imported.
_BUILTIN_MODULES = ("podium.evals.judge", "podium.evals.probes")


def register_scorer(name: str) -> Callable[[Callable[..., Scorer]], Callable[..., Scorer]]:
    """Decorator registering a scorer factory under ``name`` (built-ins and plugins alike)."""

    def decorate(factory: Callable[..., Scorer]) -> Callable[..., Scorer]:
        _REGISTRY[name] = factory
        return factory

    return decorate


def _load_plugins() -> None:
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    for module in _BUILTIN_MODULES:
        import_module(module)
    for entry in entry_points(group="podium.scorers"):
        register_scorer(entry.name)(entry.load())


def scorer_names() -> list[str]:
    """Every registered scorer name, sorted."""
    _load_plugins()
    return sorted(_REGISTRY)


def get_scorer(name: str, **params: Any) -> Scorer:
    """The scorer ``name`` built with ``params``; ``InvalidInput`` listing the known names."""
    _load_plugins()
    factory = _REGISTRY.get(name)
    if factory is None:
        raise InvalidInput(
            f"unknown scorer {name!r}; use one of {', '.join(scorer_names())}, or "
            "'module:function' for a custom scorer",
            field="scorers",
        )
    try:
        return factory(**params)
    except TypeError as exc:
        raise InvalidInput(f"scorer {name!r}: {exc}", field="scorers") from None


def _simple(name: str, higher_is_better: bool = True) -> Callable[[ScoreFunction], ScoreFunction]:
    """Register a parameterless function as the scorer ``name``."""

    def decorate(function: ScoreFunction) -> ScoreFunction:
        register_scorer(name)(lambda: FunctionScorer(name, function, higher_is_better))
        return function

    return decorate


# --- exact and SQuAD-style matching ---------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _answers(expected: str | None) -> list[str]:
    """The gold answers: a JSON list of strings counts as several acceptable answers."""
    if expected is None:
        return [""]
    if expected.startswith("["):
        try:
            parsed = json.loads(expected)
        except ValueError:
            return [expected]
        if isinstance(parsed, list) and parsed and all(isinstance(a, str) for a in parsed):
            return parsed
    return [expected]


def squad_f1(prediction: str, truth: str) -> float:
    """Token-overlap F1 between normalised answers, as in the SQuAD v1.1 evaluation script."""
    pred_tokens = normalize_answer(prediction).split()
    truth_tokens = normalize_answer(truth).split()
    if not pred_tokens or not truth_tokens:
        return float(pred_tokens == truth_tokens)
    common = Counter(pred_tokens) & Counter(truth_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(truth_tokens)
    return 2 * precision * recall / (precision + recall)


@_simple("exact_match")
def exact_match(output: str, expected: str | None, item: dict[str, Any]) -> float:
    """1.0 when the output equals the expected text after stripping surrounding whitespace."""
    return float(any(output.strip() == a.strip() for a in _answers(expected)))


@_simple("squad_em")
def squad_em(output: str, expected: str | None, item: dict[str, Any]) -> float:
    """SQuAD exact match: equal after ``normalize_answer`` (best over gold answers)."""
    return float(any(normalize_answer(output) == normalize_answer(a) for a in _answers(expected)))


@_simple("f1")
def f1(output: str, expected: str | None, item: dict[str, Any]) -> float:
    """SQuAD token F1 (best over gold answers)."""
    return max(squad_f1(output, a) for a in _answers(expected))


# --- pattern and structure ------------------------------------------------------------------


@register_scorer("regex")
def regex(pattern: str, flags: str = "") -> Scorer:
    """1.0 when ``pattern`` matches anywhere in the output (``flags``: ``i``, ``m``, ``s``)."""
    bits = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL}
    try:
        compiled = re.compile(pattern, sum(bits[f] for f in flags))
    except (re.error, KeyError) as exc:
        raise InvalidInput(f"regex scorer: bad pattern or flags: {exc}", field="scorers") from None
    return FunctionScorer("regex", lambda out, exp, item: float(bool(compiled.search(out))))


@_simple("json_valid")
def json_valid(output: str, expected: str | None, item: dict[str, Any]) -> float:
    """1.0 when the output parses as JSON."""
    try:
        json.loads(output)
    except ValueError:
        return 0.0
    return 1.0


@register_scorer("json_schema")
def json_schema(schema: dict[str, Any]) -> Scorer:
    """1.0 when the output is JSON conforming to ``schema`` (JSON Schema, any draft)."""
    try:
        jsonschema: Any = import_module("jsonschema")
    except ImportError:  # pragma: no cover - jsonschema is in the server extra
        raise MissingExtra.for_feature("the json_schema scorer", "server") from None
    try:
        validator_cls = jsonschema.validators.validator_for(schema)
        validator_cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise InvalidInput(
            f"json_schema scorer: invalid schema: {exc.message}", field="scorers"
        ) from None
    validator = validator_cls(schema)

    def conforms(output: str, expected: str | None, item: dict[str, Any]) -> dict[str, Any]:
        try:
            document = json.loads(output)
        except ValueError as exc:
            return {"score": 0.0, "error": f"not JSON: {exc}"}
        errors = [e.message for e in validator.iter_errors(document)]
        return {"score": float(not errors), "errors": errors[:5]} if errors else {"score": 1.0}

    return FunctionScorer("json_schema", conforms)


@register_scorer("contains")
def contains(value: str | None = None, case_sensitive: bool = False) -> Scorer:
    """1.0 when the output contains ``value`` (the expected text when no value is given)."""
    return FunctionScorer("contains", _containment(value, case_sensitive, want=True))


@register_scorer("not_contains")
def not_contains(value: str, case_sensitive: bool = False) -> Scorer:
    """1.0 when the output does not contain ``value``."""
    return FunctionScorer("not_contains", _containment(value, case_sensitive, want=False))


def _containment(value: str | None, case_sensitive: bool, *, want: bool) -> ScoreFunction:
    def check(output: str, expected: str | None, item: dict[str, Any]) -> float:
        needle = value if value is not None else (expected or "")
        hay = output if case_sensitive else output.lower()
        needle = needle if case_sensitive else needle.lower()
        return float((needle in hay) == want)

    return check


# --- overlap metrics ------------------------------------------------------------------------


def _sacrebleu() -> Any:
    try:
        import sacrebleu
    except ImportError:  # pragma: no cover - sacrebleu is in the server extra
        raise MissingExtra.for_feature("the bleu and chrf scorers", "server") from None
    return sacrebleu


@_simple("bleu")
def bleu(output: str, expected: str | None, item: dict[str, Any]) -> float:
    """Sentence BLEU from sacrebleu (0..1; sacrebleu reports 0..100), against each gold answer."""
    return float(_sacrebleu().sentence_bleu(output, _answers(expected)).score) / 100.0


@_simple("chrf")
def chrf(output: str, expected: str | None, item: dict[str, Any]) -> float:
    """Sentence chrF from sacrebleu (0..1)."""
    return float(_sacrebleu().sentence_chrf(output, _answers(expected)).score) / 100.0


_WORD = re.compile(r"\w+")


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists (O(len(a)·len(b)))."""
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for token in a:
        current = [0]
        for j, other in enumerate(b):
            current.append(previous[j] + 1 if token == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure over lower-cased word tokens."""
    pred = _WORD.findall(prediction.lower())
    ref = _WORD.findall(reference.lower())
    if not pred or not ref:
        return float(pred == ref)
    lcs = lcs_length(pred, ref)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(pred), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


@_simple("rouge_l")
def rouge_l_scorer(output: str, expected: str | None, item: dict[str, Any]) -> float:
    """ROUGE-L F-measure (best over gold answers)."""
    return max(rouge_l(output, a) for a in _answers(expected))


# --- embeddings -----------------------------------------------------------------------------

Embed = Callable[[list[str]], Any]


def _local_embed(texts: list[str]) -> Any:
    try:
        from podium.local_models.embeddings import embed_texts
    except ImportError:
        raise MissingExtra.for_feature("the embedding_similarity scorer", "local") from None
    return embed_texts(texts)


@register_scorer("embedding_similarity")
def embedding_similarity(embed: Embed | None = None) -> Scorer:
    """Cosine similarity of output and expected embeddings (the packaged MiniLM by default;
    ``embed`` maps texts to L2-normalised vectors). ``MissingExtra`` without ``podium[local]``."""
    function = embed or _local_embed

    def similarity(output: str, expected: str | None, item: dict[str, Any]) -> float:
        vectors = function([output, expected or ""])
        a, b = vectors[0], vectors[1]
        dot = float(sum(x * y for x, y in zip(a, b, strict=True)))
        norm = math.sqrt(float(sum(x * x for x in a))) * math.sqrt(float(sum(y * y for y in b)))
        return dot / norm if norm else 0.0

    return FunctionScorer("embedding_similarity", similarity)


# --- classification -------------------------------------------------------------------------


@dataclass
class ClassificationScorer:
    """Per item: 1.0 when the predicted label equals the expected one (accuracy). Over all
    items: per-class precision/recall/F1, their macro averages and the confusion matrix."""

    labels: list[str] | None = None
    name: str = "classification"
    higher_is_better: bool = True

    @staticmethod
    def _label(text: str | None) -> str:
        return (text or "").strip().lower()

    def __call__(self, output: str, expected: str | None, item: dict[str, Any]) -> Score:
        return Score(float(self._label(output) == self._label(expected)))

    def aggregate(self, outputs: Sequence[str], expected: Sequence[str | None]) -> dict[str, Any]:
        """Accuracy, macro precision/recall/F1, per-class metrics and ``confusion[truth][pred]``."""
        truth = [self._label(e) for e in expected]
        predicted = [self._label(o) for o in outputs]
        labels = [self._label(x) for x in self.labels] if self.labels else sorted(set(truth))
        confusion = {t: {p: 0 for p in [*labels, "(other)"]} for t in labels}
        for t, p in zip(truth, predicted, strict=True):
            if t in confusion:
                confusion[t][p if p in labels else "(other)"] += 1
        per_class: dict[str, dict[str, float]] = {}
        for label in labels:
            tp = sum(1 for t, p in zip(truth, predicted, strict=True) if t == p == label)
            fp = sum(1 for t, p in zip(truth, predicted, strict=True) if p == label != t)
            fn = sum(1 for t, p in zip(truth, predicted, strict=True) if t == label != p)
            precision = tp / (tp + fp) if tp + fp else 0.0
            recall = tp / (tp + fn) if tp + fn else 0.0
            f = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            per_class[label] = {"precision": precision, "recall": recall, "f1": f}
        count = len(labels) or 1
        return {
            "accuracy": sum(t == p for t, p in zip(truth, predicted, strict=True))
            / (len(truth) or 1),
            "macro_precision": sum(c["precision"] for c in per_class.values()) / count,
            "macro_recall": sum(c["recall"] for c in per_class.values()) / count,
            "macro_f1": sum(c["f1"] for c in per_class.values()) / count,
            "per_class": per_class,
            "confusion": confusion,
        }


@register_scorer("classification")
def classification(labels: list[str] | None = None) -> Scorer:
    """Classification accuracy per item, precision/recall/F1 and confusion matrix overall."""
    return ClassificationScorer(labels)


# --- operational ----------------------------------------------------------------------------


@_simple("latency", higher_is_better=False)
def latency(output: str, expected: str | None, item: dict[str, Any]) -> float:
    """The target's wall-clock time for this item, in milliseconds (lower is better)."""
    return float(item.get("latency_ms") or 0.0)


@_simple("cost", higher_is_better=False)
def cost(output: str, expected: str | None, item: dict[str, Any]) -> float:
    """What the target reported this item cost, in USD (lower is better)."""
    return float(item.get("cost") or 0.0)
