"""Offline token counts with ``bpe-openai``, which ships its encodings (tiktoken downloads them).

OpenAI models use their own encoding (o200k for current ones, cl100k for gpt-4 and 3.5);
anything else, Anthropic models included, is counted with o200k as an estimate: their
tokenizers are not public. Special-token text such as ``<|endoftext|>`` counts as plain text.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

DEFAULT_ENCODING = "o200k_base"


@lru_cache(maxsize=4)
def _encoding(name: str) -> Any:
    import bpe_openai

    return bpe_openai.get_encoding(name)


@lru_cache(maxsize=256)
def encoding_for(model: str | None) -> str:
    if not model:
        return DEFAULT_ENCODING
    import bpe_openai

    try:
        return str(bpe_openai.encoding_name_for_model(model))
    except (KeyError, ValueError, bpe_openai.UnsupportedModelError):
        return DEFAULT_ENCODING


@lru_cache(maxsize=8192)
def count_tokens(text: str, model: str | None = None) -> int:
    if not text:
        return 0
    return len(_encoding(encoding_for(model)).encode_ordinary(text))
