"""Cost from a maintained, offline price table: pydantic's ``genai-prices``.

An unknown model has no price (``None``), never a zero one. The table's name and version go
with every cost so a figure can be traced to the prices it was computed with.
"""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def source() -> str:
    from importlib.metadata import version

    return f"genai-prices {version('genai-prices')}"


@lru_cache(maxsize=4096)
def _unit_prices(provider: str, model: str) -> tuple[float, float, float] | None:
    """USD for one input, one output and one cached-input token, or None if unknown."""
    from genai_prices import Usage, calc_price

    try:
        full = calc_price(Usage(input_tokens=1_000_000, output_tokens=0), model_ref=model,
                          provider_id=provider)
        out = calc_price(Usage(input_tokens=0, output_tokens=1_000_000), model_ref=model,
                         provider_id=provider)
        cached = calc_price(Usage(input_tokens=1_000_000, cache_read_tokens=1_000_000),
                            model_ref=model, provider_id=provider)
    except LookupError:
        return None
    except Exception:  # noqa: BLE001 - the library raises its own types for unknown models
        return None
    per_in = float(full.total_price) / 1e6
    return per_in, float(out.total_price) / 1e6, float(cached.total_price) / 1e6


def price(provider: str, model: str, input_tokens: int, output_tokens: int,
          cached_tokens: int = 0) -> tuple[float | None, str]:
    unit = _unit_prices(provider, model)
    if unit is None:
        return None, source()
    per_in, per_out, per_cached = unit
    fresh = max(0, input_tokens - cached_tokens)
    cost = fresh * per_in + cached_tokens * per_cached + output_tokens * per_out
    return cost, source()
