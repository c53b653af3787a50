"""The price table: prefix matching, cost arithmetic, and malformed price files."""

from __future__ import annotations

from pathlib import Path

import pytest

from podium.errors import InvalidInput
from podium.server.app import build
from podium.settings import Settings
from podium.tracing.models import TraceFilter, percentile
from podium.tracing.pricing import Price, PriceTable
from tests.tracing.support import genai_attrs, new_span_id, new_trace_id, request, span


def test_shipped_table_prices_common_models() -> None:
    table = PriceTable.load()
    assert table.price_of("gpt-4o") == Price(2.5, 10.0)
    assert table.price_of("gpt-4o-mini-2024-07-18") == Price(0.15, 0.6)  # longest prefix wins
    assert table.price_of("openai/GPT-4o-2024-08-06") == Price(2.5, 10.0)
    assert table.price_of("claude-3-5-haiku-latest") == Price(0.8, 4.0)
    assert table.price_of("gemini-2.0-flash") == Price(0.1, 0.4)
    assert table.price_of("mistral-large-latest") == Price(2.0, 6.0)
    assert table.price_of("no-such-model") is None


def test_cost() -> None:
    table = PriceTable({"m": Price(2.0, 8.0)})
    assert table.cost("m", 1_000_000, 500_000) == 6.0
    assert table.cost("m", 10, None) == pytest.approx(20e-6)
    assert table.cost("m", None, None) is None
    assert table.cost(None, 5, 5) is None
    assert table.cost("other", 5, 5) is None


def test_a_custom_file_and_malformed_ones(tmp_path: Path) -> None:
    good = tmp_path / "prices.json"
    good.write_text('{"_note": "x", "local-llm": [0, 0.5]}')
    assert PriceTable.load(good).cost("local-llm-7b", 100, 1_000_000) == 0.5
    for text in ("[1]", '{"m": [1]}', '{"m": ["a", "b"]}', "{nope"):
        good.write_text(text)
        with pytest.raises(InvalidInput):
            PriceTable.load(good)


def test_percentile_interpolates() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([0.0, 100.0], 0.95) == 95.0


def test_the_prices_file_setting_replaces_the_shipped_table(
    settings: Settings, tmp_path: Path
) -> None:
    prices = tmp_path / "my-prices.json"
    prices.write_text('{"gpt-4o": [100, 1000]}')
    services = build(settings.model_copy(update={"prices_file": prices}))
    try:
        trace = new_trace_id()
        attrs = genai_attrs("gpt-4o", input_tokens=1000, output_tokens=100)
        services.tracing.ingest("default", request(span(trace, new_span_id(), attrs=attrs)))
        [listed] = services.tracing.list_traces("default", TraceFilter(), 0, 10)
        assert listed.cost_usd == pytest.approx(1000 * 100e-6 + 100 * 1000e-6)
    finally:
        services.close()
