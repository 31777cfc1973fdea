"""What training costs per token, for the validator's estimate: a built-in table, or one a team keeps in a file.

Prices are USD per million training tokens (tokens in the file times epochs), keyed by model name or by
a prefix of it; the longest key that matches wins, and a fine-tuned name is priced as its base model.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from finetune.tokens import base_model

# OpenAI's published supervised/DPO training prices (USD per 1M training tokens), read 2025: check them
# against the pricing page, or keep your own table in FINETUNE_PRICES_FILE.
DEFAULT_PRICES: dict[str, float] = {
    "gpt-4.1": 25.00,
    "gpt-4.1-mini": 5.00,
    "gpt-4.1-nano": 1.50,
    "gpt-4o": 25.00,
    "gpt-4o-mini": 3.00,
    "gpt-3.5-turbo": 8.00,
}


class PriceTableError(ValueError):
    """The price file cannot be used; the message names the file and what is wrong with it."""


def load_prices(path: str | Path) -> dict[str, float]:
    """The built-in table with the file's entries over it. The file: a JSON object, model -> USD per 1M tokens."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise PriceTableError(f"the price file {path} cannot be read: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise PriceTableError(f"the price file {path} is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise PriceTableError(f"the price file {path} must hold a JSON object of model -> USD per 1M training tokens")
    bad = [key for key, value in raw.items()
           if not isinstance(value, int | float) or isinstance(value, bool) or value < 0]
    if bad:
        raise PriceTableError(f"the price file {path} has prices that are not non-negative numbers: {', '.join(bad)}")
    return {**DEFAULT_PRICES, **{str(k): float(v) for k, v in raw.items()}}


def price_for(model: str, prices: Mapping[str, float]) -> float | None:
    """USD per 1M training tokens for `model`, or None when the table has no entry for it."""
    name = base_model(model)
    best: str | None = None
    for key in prices:
        if (name == key or name.startswith(key + "-")) and (best is None or len(key) > len(best)):
            best = key
    return prices[best] if best is not None else None
