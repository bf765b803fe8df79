"""Cost from a maintained, offline price table: pydantic's ``genai-prices``.

An unknown model has no price (``None``), never a zero one. The table's name and version go
with every cost so a figure can be traced to the prices it was computed with.

Token counts follow genai-prices (and OpenAI): ``input_tokens`` counts all input, and
``cached_tokens`` (cache reads) is the part of it billed at the cache-read rate.

``calc_price`` costs about 0.1 ms, which adds up over thousands of cached responses, so a
model whose price is linear in tokens (checked once) is priced from per-token rates; a tiered
one (long-context surcharges) goes through ``calc_price`` every time.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

_PROBE = 1000  # tokens: below any tier threshold
_FAR = 1_000_000  # tokens: above every tier threshold


@lru_cache(maxsize=1)
def source() -> str:
    from importlib.metadata import version

    return f"genai-prices {version('genai-prices')}"


def _calc(provider: str, model: str, **usage: int) -> float:
    from genai_prices import Usage, calc_price

    return float(calc_price(Usage(**usage), model_ref=model, provider_id=provider).total_price)


@lru_cache(maxsize=1024)
def _rates(provider: str, model: str) -> tuple[float, float, float] | None | bool:
    """Per-token (input, output, cache read) USD; None if unknown; False if not linear."""
    try:
        inp = _calc(provider, model, input_tokens=_PROBE)
        out = _calc(provider, model, output_tokens=_PROBE)
        read = _calc(provider, model, input_tokens=_PROBE, cache_read_tokens=_PROBE)
        far = (
            _calc(provider, model, input_tokens=_FAR),
            _calc(provider, model, output_tokens=_FAR),
            _calc(provider, model, input_tokens=_FAR, cache_read_tokens=_FAR),
        )
    except LookupError:
        return None
    scale = _FAR / _PROBE
    if any(
        abs(f - p * scale) > 1e-9 * max(1.0, f) for f, p in zip(far, (inp, out, read), strict=True)
    ):
        return False
    return inp / _PROBE, out / _PROBE, read / _PROBE


def price(
    provider: str, model: str, input_tokens: int, output_tokens: int, cached_tokens: int = 0
) -> tuple[float | None, str]:
    """(USD or None when the table does not know the model, the table's name and version)."""
    rates: Any = _rates(provider, model)
    if rates is None:
        return None, source()
    cached = min(max(0, cached_tokens), max(0, input_tokens))
    if rates is False:
        usage = {"input_tokens": input_tokens, "output_tokens": output_tokens}
        if cached:
            usage["cache_read_tokens"] = cached
        return _calc(provider, model, **usage), source()
    per_in, per_out, per_read = rates
    cost = (input_tokens - cached) * per_in + cached * per_read + output_tokens * per_out
    return cost, source()


# kinds whose models the price table knows under another provider's id
PRICE_PROVIDER = {
    "openai": "openai",
    "azure-openai": "openai",
    "anthropic": "anthropic",
    "bedrock": "anthropic",
    "vertex": "anthropic",
}


def price_for(
    instance: str,
    settings: dict[str, Any],
    model: str,
    input_tokens: int,
    output_tokens: int,
    cached_tokens: int = 0,
) -> tuple[float | None, str]:
    """The price of a call to ``model`` through a provider instance: its own per-token prices
    (``prices``), else the table's price of the model it is priced as (``price_as``), else the
    table's price of the model under the instance's kind. None when none of these knows it."""
    prices = settings.get("prices") or {}
    own = prices.get(model) or prices.get("*")
    if own is not None:
        cached = min(max(0, cached_tokens), max(0, input_tokens))
        per_read = own.get("cached_input")
        per_read = own["input"] if per_read is None else per_read
        cost = (
            (input_tokens - cached) * own["input"]
            + cached * per_read
            + output_tokens * own["output"]
        ) / 1_000_000
        return cost, f"promptrail.yaml providers.{instance}.prices"
    alias = settings.get("price_as")
    if isinstance(alias, dict):
        alias = alias.get(model) or alias.get("*")
    kind = str(settings.get("kind") or instance)
    provider = PRICE_PROVIDER.get(kind, kind)
    if alias:
        cost, src = price(provider, str(alias), input_tokens, output_tokens, cached_tokens)
        if cost is None:  # the alias may name another provider's model
            for other in ("openai", "anthropic"):
                cost, src = price(other, str(alias), input_tokens, output_tokens, cached_tokens)
                if cost is not None:
                    break
        return cost, f"{src} (as {alias})"
    return price(provider, model, input_tokens, output_tokens, cached_tokens)
