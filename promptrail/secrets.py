"""Keep secrets out of everything promptrail writes: the store, reports, logs.

``redact`` replaces anything shaped like an API key or a private key with ``[REDACTED]``, in
strings and, recursively, in dicts and lists. The patterns are shared with the lint gate.
"""

from __future__ import annotations

import re
from typing import Any

PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("Anthropic API key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}")),
    ("OpenAI API key", re.compile(r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,}")),
    ("AWS access key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}")),
    ("Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("private key", re.compile(
        r"-----BEGIN (?:[A-Z ]+ )?PRIVATE KEY-----(?:[\s\S]*?-----END (?:[A-Z ]+ )?PRIVATE "
        r"KEY-----)?")),
]
_ANY = re.compile("|".join(f"(?:{p.pattern})" for _, p in PATTERNS))
REDACTED = "[REDACTED]"


def find(text: str) -> list[tuple[str, re.Match[str]]]:
    return [(label, m) for label, p in PATTERNS for m in [p.search(text)] if m]


def redact(value: Any) -> Any:
    if isinstance(value, str):
        return _ANY.sub(REDACTED, value) if ("-" in value or "_" in value or "AKIA" in value
                                             or "ASIA" in value or "AIza" in value) else value
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    return value
