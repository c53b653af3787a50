"""Drift: the statistics detect planted shifts, stay quiet without one, and are served by REST,
the CLI and the drift page on both databases."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np
import pytest
from numpy.typing import NDArray
from typer.testing import CliRunner

from podium.cli.main import app
from podium.errors import InvalidInput
from podium.server.app import Services
from podium.settings import Settings
from podium.tracing.drift import (
    DriftDetector,
    DriftSample,
    is_refusal,
    mmd_permutation_test,
    parse_window,
    two_proportion_test,
)
from tests.tracing.support import PROTOBUF, T0_NS, new_span_id, new_trace_id, request, span

T0_MS = T0_NS // 1_000_000

# -- generated traffic and a deterministic embedder ---------------------------------------
# The embedder hashes words into 384 dimensions (L2-normalised, like all-MiniLM-L6-v2): texts on
# different topics land far apart, so a planted topic shift shows in milliseconds, no model.

WEATHER = [
    "weather",
    "forecast",
    "rain",
    "sun",
    "cloud",
    "wind",
    "snow",
    "storm",
    "temperature",
    "humid",
]
BILLING = [
    "invoice",
    "payment",
    "refund",
    "account",
    "bank",
    "card",
    "charge",
    "balance",
    "order",
    "price",
]
FRENCH = (
    "Bonjour, pouvez-vous m'aider à comprendre la facture de ce mois ? Je ne trouve pas le "
    "détail des frais."
)
ENGLISH = "Hello, could you help me understand this month's invoice? I cannot find the fees."


def hash_embed(texts: Sequence[str]) -> NDArray[np.float32]:
    """Bag of hashed words, 384 dimensions, L2-normalised."""
    out = np.zeros((len(texts), 384), np.float32)
    for i, text in enumerate(texts):
        for word in text.lower().split():
            h = int(hashlib.blake2b(word.encode(), digest_size=8).hexdigest(), 16)
            out[i, h % 384] += 1.0
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)
    return out


def english_only(texts: Sequence[str]) -> list[str]:
    """A language detector that says English for everything (when language is not the point)."""
    return ["en"] * len(texts)


def sentences(rng: np.random.Generator, n: int, vocabulary: list[str]) -> list[str]:
    """``n`` texts of 4-11 words drawn from ``vocabulary``."""
    return [" ".join(rng.choice(vocabulary, size=int(rng.integers(4, 12)))) for _ in range(n)]


DAY_MS = 86_400_000


def by_name(report: Any) -> dict[str, Any]:
    return {s.name: s for s in report.statistics}


# -- the statistics --------------------------------------------------------------------------


def test_mmd_detects_a_planted_topic_shift() -> None:
    rng = np.random.default_rng(7)
    reference = hash_embed(sentences(rng, 80, WEATHER))
    shifted = hash_embed(sentences(rng, 80, WEATHER[:5] + BILLING[:5]))
    result = mmd_permutation_test(reference, shifted, permutations=400)
    assert result.p_value < 0.01
    assert result.p_value == pytest.approx(1 / 401)  # no permutation came close
    assert result.effect_size > 10
    assert result.mmd2 > 0


def test_no_shift_is_flagged_at_about_the_rate_alpha() -> None:
    """40 pairs of windows from one stream at alpha 0.05: about 2 flagged by chance, not 6+."""
    rng = np.random.default_rng(11)
    detector = DriftDetector(embed=hash_embed, detect_languages=english_only, permutations=200)
    mmd_flags = verdicts = 0
    for trial in range(40):
        detector.seed = trial

        def window() -> DriftSample:
            return DriftSample(
                sentences(rng, 60, WEATHER),
                sentences(rng, 60, BILLING),
                int(rng.binomial(60, 0.1)),
                60,
            )

        report = detector.compare(window(), window(), alpha=0.05)
        mmd_flags += by_name(report)["embedding_input"].flagged
        verdicts += report.drifted
    assert mmd_flags <= 6
    assert verdicts <= 6


def test_every_statistic_detects_its_own_shift() -> None:
    rng = np.random.default_rng(3)
    detector = DriftDetector(embed=hash_embed, permutations=300)
    reference = DriftSample(
        inputs=[ENGLISH] * 40,
        outputs=["Sure. " + s for s in sentences(rng, 40, BILLING)],
        errors=1,
        total=40,
    )
    current = DriftSample(
        inputs=[FRENCH] * 40,
        outputs=["I'm sorry, but I can't help with that."] * 25
        + [" ".join(["Sure."] + BILLING * 6)] * 15,
        errors=15,
        total=40,
    )
    report = detector.compare(reference, current, alpha=0.01)
    stats = by_name(report)
    assert report.drifted
    for name in (
        "embedding_input",
        "embedding_output",
        "length_output",
        "language",
        "refusal_rate",
        "error_rate",
    ):
        assert stats[name].flagged, name
        assert stats[name].p_value < 0.01, name
    # Inputs and outputs together: the French inputs are new, the English outputs are not.
    assert stats["language"].detail["current"] == {"fr": 40, "en": 40}
    assert stats["language"].detail["reference"]["en"] >= 75
    assert stats["refusal_rate"].reference == 0.0
    assert stats["refusal_rate"].current == 25 / 40
    assert stats["error_rate"].current == 15 / 40
    assert sum(stats["length_output"].detail["histogram"]["current"]) == 40


def test_the_same_traffic_is_not_drift() -> None:
    rng = np.random.default_rng(5)
    detector = DriftDetector(embed=hash_embed, detect_languages=english_only, permutations=300)

    def window() -> DriftSample:
        return DriftSample([ENGLISH] * 30, sentences(rng, 30, WEATHER), 0, 30)

    report = detector.compare(window(), window())
    assert not report.drifted
    stats = by_name(report)
    assert stats["language"].p_value == 1.0  # one language on both sides
    assert stats["error_rate"].p_value == 1.0  # no errors on either side


def test_too_few_spans_give_no_p_value() -> None:
    detector = DriftDetector(embed=hash_embed, detect_languages=english_only)
    report = detector.compare(DriftSample(["a"] * 3, [], 0, 3), DriftSample(["b"] * 30, [], 0, 30))
    assert not report.drifted
    for stat in report.statistics:
        assert stat.p_value is None
        assert stat.note == "needs at least 5 values on each side"


def test_embedding_sample_is_capped() -> None:
    seen: list[int] = []

    def counting(texts: Any) -> Any:
        seen.append(len(texts))
        return hash_embed(texts)

    rng = np.random.default_rng(1)
    detector = DriftDetector(
        embed=counting, detect_languages=english_only, permutations=50, max_embeddings=20
    )
    big = DriftSample(sentences(rng, 100, WEATHER), [], 0, 100)
    detector.compare(big, big, alpha=0.5)
    assert seen == [40]


def test_helpers() -> None:
    assert is_refusal("I\u2019m sorry, but I cannot help with that")  # typographic apostrophe
    assert not is_refusal("Here is the summary you asked for.")
    assert two_proportion_test(0, 50, 0, 50) == (0.0, 1.0)
    z, p = two_proportion_test(5, 100, 20, 100)
    assert z == pytest.approx(3.2071, abs=1e-3)  # 0.15 / sqrt(0.125 * 0.875 * 0.02)
    assert p == pytest.approx(0.001341, abs=1e-5)
    now = 10 * DAY_MS
    week = parse_window("7d..1d", now)
    assert (week.since_ms, week.until_ms) == (3 * DAY_MS, 9 * DAY_MS)
    assert parse_window("30m", now).since_ms == now - 1_800_000
    iso = parse_window("2023-11-14T00:00:00Z..2023-11-15T00:00:00", now)
    assert iso.until_ms - iso.since_ms == DAY_MS
    with pytest.raises(InvalidInput, match="write the older end first"):
        parse_window("1d..7d", now)
    with pytest.raises(InvalidInput, match="neither a duration"):
        parse_window("last week", now, "reference")


# -- through the REST API, CLI and page, on both databases ------------------------------------


def ingest(http: httpx.Client, spans: list[Any], project: str) -> None:
    for start in range(0, len(spans), 200):
        body = request(*spans[start : start + 200]).SerializeToString()
        reply = http.post(
            "/otlp/v1/traces", content=body, headers={**PROTOBUF, "X-Podium-Project": project}
        )
        assert reply.status_code == 200, reply.text


def llm_span(offset_ms: int, prompt: str, answer: str, *, error: bool = False) -> Any:
    return span(
        new_trace_id(),
        new_span_id(),
        start_ms=offset_ms,
        attrs={"gen_ai.request.model": "m", "gen_ai.prompt": prompt, "gen_ai.completion": answer},
        error=error,
    )


def iso(offset_ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp((T0_MS + offset_ms) / 1000, tz=UTC).isoformat()


REFERENCE = f"{iso(0)}..{iso(DAY_MS)}"
CURRENT = f"{iso(DAY_MS)}..{iso(2 * DAY_MS)}"


@pytest.fixture
def shifted(http: httpx.Client, services: Services) -> None:
    """Day 0: weather questions in English; day 1: billing questions in French, many refused."""
    services.monitoring.detector = DriftDetector(embed=hash_embed, permutations=300)
    rng = np.random.default_rng(2)
    day0 = [
        llm_span(i * 1000, q, "Sure: " + a)
        for i, (q, a) in enumerate(
            zip(sentences(rng, 60, WEATHER), sentences(rng, 60, WEATHER), strict=True)
        )
    ]
    day1 = [
        llm_span(DAY_MS + i * 1000, FRENCH + " " + q, "I'm sorry, but I can't help with that.")
        for i, q in enumerate(sentences(rng, 60, BILLING))
    ]
    ingest(http, day0 + day1, "shop")


@pytest.mark.usefixtures("shifted")
def test_rest_drift_check_finds_the_planted_shift(http: httpx.Client) -> None:
    response = http.post(
        "/api/v1/traces/drift",
        json={"project": "shop", "reference": REFERENCE, "current": CURRENT, "alpha": 0.01},
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["verdict"] == "drift"
    assert report["reference"]["spans"] == 60
    assert report["current"]["spans"] == 60
    stats = {s["name"]: s for s in report["statistics"]}
    assert stats["embedding_input"]["p_value"] < 0.01
    assert stats["embedding_output"]["p_value"] < 0.01
    assert stats["language"]["detail"]["current"] == {"fr": 60, "en": 60}
    assert stats["refusal_rate"]["current"] == 1.0
    assert stats["error_rate"]["p_value"] == 1.0

    same = http.post(
        "/api/v1/traces/drift",
        json={"project": "shop", "reference": REFERENCE, "current": REFERENCE},
    ).json()
    assert same["verdict"] == "no drift"


@pytest.mark.usefixtures("shifted")
def test_drift_page_shows_verdict_p_values_and_histograms(http: httpx.Client) -> None:
    page = http.get(
        "/traces/drift",
        params={"project": "shop", "reference": REFERENCE, "current": CURRENT, "check": "1"},
    )
    assert page.status_code == 200, page.text
    assert 'data-verdict="drift"' in page.text
    assert 'data-statistic="refusal_rate" data-flagged="true"' in page.text
    assert 'data-statistic="error_rate" data-flagged="false"' in page.text
    assert 'data-histogram="length_output"' in page.text
    assert "<td>fr</td>" in page.text
    form_only = http.get("/traces/drift", params={"project": "shop"})
    assert form_only.status_code == 200
    assert "data-verdict" not in form_only.text
    bad = http.get("/traces/drift", params={"check": "1", "reference": "soon"})
    assert bad.status_code == 422
    assert "neither a duration" in bad.text


def test_rest_drift_rejects_bad_windows(http: httpx.Client) -> None:
    bad = http.post("/api/v1/traces/drift", json={"reference": "1d..7d"})
    assert bad.status_code == 422
    assert bad.json()["field"] == "reference"
    assert "older end first" in bad.json()["detail"]
    assert http.post("/api/v1/traces/drift", json={"alpha": 2}).status_code == 422


def test_cli_drift_check_in_process(http: httpx.Client, settings: Settings) -> None:
    """Error rate 0 of 40 -> 20 of 40: the CLI prints the table and fails on drift."""
    model = {"gen_ai.request.model": "m"}  # drift reads model calls, not wrapper spans
    spans = [span(new_trace_id(), new_span_id(), start_ms=i * 1000, attrs=model) for i in range(40)]
    spans += [
        span(
            new_trace_id(),
            new_span_id(),
            start_ms=DAY_MS + i * 1000,
            attrs=model,
            error=i % 2 == 0,
        )
        for i in range(40)
    ]
    spans.append(span(new_trace_id(), new_span_id(), start_ms=DAY_MS))  # no model: not counted
    ingest(http, spans, "cli")
    env = {
        "PODIUM_URL": "",
        "PODIUM_HOME": str(settings.home),
        "PODIUM_DATABASE_URL": settings.resolved_database_url,
        "COLUMNS": "200",
    }
    args = ["drift", "check", "-p", "cli", "-r", REFERENCE, "-c", CURRENT]
    runner = CliRunner()
    table = runner.invoke(app, args, env=env)
    assert table.exit_code == 0, (table.output, table.exception)
    assert "drift in cli: drift" in table.output
    assert "SHIFTED" in table.output
    assert "40 current spans" in table.output
    as_json = runner.invoke(app, [*args, "--json"], env=env)
    report = json.loads(as_json.output)
    stats = {s["name"]: s for s in report["statistics"]}
    assert stats["error_rate"]["current"] == 0.5
    assert stats["error_rate"]["p_value"] < 1e-6
    assert runner.invoke(app, [*args, "--fail-on-drift"], env=env).exit_code == 1
