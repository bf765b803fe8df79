"""Keep secrets out of everything promptrail writes: the store, reports, logs.

``redact`` replaces anything shaped like an API key or a private key with ``[REDACTED]``, in
strings and, recursively, in dict keys and values and in lists. It also replaces, by value,
the keys actually configured in this process (``*_API_KEY``, ``*_TOKEN``, ``*_SECRET``
environment variables), so even a key of no known shape never reaches the store. The patterns
are shared with the lint gate.

``CANDIDATE`` is a looser form of the same patterns (no word boundaries), written for RE2 so
the store can find the few values that need ``redact`` with one vectorised pass over a column
instead of a Python call per value.
"""

from __future__ import annotations

import os
import re
from typing import Any

PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("Anthropic API key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}")),
    ("OpenAI API key", re.compile(r"\bsk-(?:proj-|svcacct-)?[A-Za-z0-9_-]{20,}")),
    ("Stripe secret key", re.compile(r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{20,}")),
    ("AWS access key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})")),
    ("Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}")),
    (
        "private key",
        re.compile(
            r"-----BEGIN (?:[A-Z ]+ )?PRIVATE KEY-----(?:[\s\S]*?-----END (?:[A-Z ]+ )?PRIVATE "
            r"KEY-----)?"
        ),
    ),
]
_ANY = re.compile("|".join(f"(?:{p.pattern})" for _, p in PATTERNS))
_HINTS = (
    "sk-",
    "k_live_",
    "k_test_",
    "AKIA",
    "ASIA",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "xox",
    "AIza",
    "hf_",
    "PRIVATE KEY",
)
REDACTED = "[REDACTED]"
SECRET_ENV_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET", "_SECRET_KEY", "_PASSWORD", "_AUDIT_KEY")
CANDIDATE = "|".join(f"(?:{p.pattern.replace(chr(92) + 'b', '')})" for _, p in PATTERNS)


def find(text: str) -> list[tuple[str, re.Match[str]]]:
    return [(label, m) for label, p in PATTERNS for m in [p.search(text)] if m]


_REGISTERED: set[str] = set()


def register(value: str | None) -> None:
    """Treat ``value`` as a secret from now on in this process (a password read from a store
    URL, say): ``redact`` replaces it wherever it appears."""
    if value and len(value) >= 4:
        _REGISTERED.add(value)


def secret_values() -> list[str]:
    """The values of this process's secret-looking environment variables (8+ characters)
    and of ``register``ed secrets, longest first so a key that contains another is replaced
    whole."""
    values = {
        v for k, v in os.environ.items() if k.upper().endswith(SECRET_ENV_SUFFIXES) and len(v) >= 8
    }
    return sorted(values | _REGISTERED, key=len, reverse=True)


def candidate_pattern(values: list[str] | None = None) -> str:
    """RE2 pattern matching (at least) every string ``redact`` would change."""
    values = secret_values() if values is None else values
    return "|".join([CANDIDATE, *(re.escape(v) for v in values)])


def redact(value: Any, values: list[str] | None = None) -> Any:
    """``value`` with every secret-shaped or known secret string replaced by ``[REDACTED]``.
    Dicts, lists and tuples are rebuilt (tuples as lists); other values are returned as is."""
    return _redact(value, secret_values() if values is None else values)


def _redact(value: Any, values: list[str]) -> Any:
    if isinstance(value, str):
        for secret in values:
            if secret in value:
                value = value.replace(secret, REDACTED)
        if any(h in value for h in _HINTS):
            value = _ANY.sub(REDACTED, value)
        return value
    if isinstance(value, dict):
        return {
            _redact(k, values) if isinstance(k, str) else k: _redact(v, values)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_redact(v, values) for v in value]
    return value
