"""The per-model price table and cost computation.

Prices are USD per one million input and output tokens, shipped in ``prices.json`` beside this
module (edit it, or point ``PriceTable.load`` at another file of the same shape). A model name
matches the longest key it starts with, so dated variants (``gpt-4o-2024-08-06``) and
provider-prefixed names (``openai/gpt-4o``) price like their family.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from podium.errors import InvalidInput

SHIPPED_PRICES = Path(__file__).with_name("prices.json")


@dataclass(frozen=True)
class Price:
    """USD per one million input and output tokens."""

    input_per_million: float
    output_per_million: float


class PriceTable:
    """Model name -> price, matched by longest prefix (case-insensitive)."""

    def __init__(self, prices: dict[str, Price]) -> None:
        self._prices = {name.lower(): price for name, price in prices.items()}
        # Longest keys first, so the first prefix that matches is the most specific one.
        self._keys = sorted(self._prices, key=len, reverse=True)

    @classmethod
    def load(cls, path: Path = SHIPPED_PRICES) -> PriceTable:
        """Read a price file: ``{"model": [input_usd_per_1M, output_usd_per_1M], …}``.

        Keys starting with ``_`` are comments. Raises ``InvalidInput`` for a malformed file.
        """
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"cannot read the price table {path}: {exc}") from exc
        if not isinstance(raw, dict):
            raise InvalidInput(
                f"the price table {path} must be a JSON object of model -> [in, out]"
            )
        prices: dict[str, Price] = {}
        for name, value in raw.items():
            if name.startswith("_"):
                continue
            if (
                not isinstance(value, list)
                or len(value) != 2
                or not all(isinstance(v, int | float) for v in value)
            ):
                raise InvalidInput(
                    f"price of {name!r} in {path} must be [input_usd_per_1M, output_usd_per_1M]"
                )
            prices[name] = Price(float(value[0]), float(value[1]))
        return cls(prices)

    def price_of(self, model: str) -> Price | None:
        """The price of ``model``, or None when no key matches."""
        name = model.lower()
        bare = name.rsplit("/", 1)[-1]  # "openai/gpt-4o" prices like "gpt-4o"
        for candidate in (name, bare):
            for key in self._keys:
                if candidate.startswith(key):
                    return self._prices[key]
        return None

    def cost(
        self, model: str | None, input_tokens: int | None, output_tokens: int | None
    ) -> float | None:
        """USD cost of one call, or None when the model is unknown or no tokens were counted."""
        if model is None or (input_tokens is None and output_tokens is None):
            return None
        price = self.price_of(model)
        if price is None:
            return None
        return (
            (input_tokens or 0) * price.input_per_million
            + (output_tokens or 0) * price.output_per_million
        ) / 1_000_000
