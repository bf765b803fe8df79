"""Offline token counts (``bpe-openai``, which ships its encodings; tiktoken downloads them).

Anthropic models are counted with o200k as an estimate: their tokenizer is not public.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=4)
def _encoding(name: str) -> Any:
    import bpe_openai

    return bpe_openai.get_encoding(name)


def encoding_for(model: str | None) -> str:
    if model and ("gpt-4-" in model or model in ("gpt-4", "gpt-3.5-turbo")):
        return "cl100k_base"
    return "o200k_base"


@lru_cache(maxsize=65536)
def count_tokens(text: str, model: str | None = None) -> int:
    return len(_encoding(encoding_for(model)).encode(text))
