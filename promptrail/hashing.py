"""Canonical JSON and content hashes.

A hash carries its algorithm as a prefix (``sha256:``) so a later change of algorithm is
detectable. The canonical form sorts keys, uses no insignificant white space, keeps non-ASCII
text as UTF-8 and normalises line endings, so the same content hashes the same on every machine
and Python version.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

HASH_PREFIX = "sha256:"
# What a prompt's content hash covers: what reaches the model and what its output must be.
# ResolvedPrompt.content() and a deployed bundle's verification both hash exactly these.
CONTENT_KEYS = ("messages", "model", "input_schema", "output_schema")
OPTIONAL_CONTENT_KEYS = ("tools", "tool_choice")  # hashed only when set


def _normalise(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\r\n", "\n").replace("\r", "\n")
    if isinstance(value, dict):
        return {str(k): _normalise(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalise(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        # 1 and 1.0 must hash alike whichever way the YAML spelled them.
        return int(value)
    return value


def canonical_json(value: Any) -> str:
    return json.dumps(
        _normalise(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )


def content_hash(value: Any) -> str:
    digest = hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()
    return HASH_PREFIX + digest
