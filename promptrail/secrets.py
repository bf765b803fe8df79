"""Keep secrets out of everything promptrail writes: the store, reports, logs, the response
cache, bundles and webhook bodies. This is the one redactor; every sink calls it.

``redact`` replaces anything shaped like a credential with ``[REDACTED]``, in strings and,
recursively, in dict keys and values and in lists: API keys of known formats (OpenAI,
Anthropic, GitHub, GitLab, AWS, Slack, Google, Hugging Face, Stripe), JWTs, private key blocks,
and the password of a URL (``https://user:[REDACTED]@host``). It also replaces, by value, the
secrets actually configured in this process (environment variables whose name says key,
token, secret, password or credentials), so even a key of no known shape never leaves.
``redact_text`` is the same for one string, e.g. a rendered report. The patterns are shared
with the lint gate.

``CANDIDATE`` is a looser form of the same patterns (no word boundaries), written for RE2 so
the store can find the few values that need ``redact`` with one vectorised pass over a column
instead of a Python call per value.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from typing import Any

PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("Anthropic API key", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}")),
    ("OpenAI API key", re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}")),
    ("Stripe secret key", re.compile(r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{20,}")),
    ("AWS access key", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b")),
    (
        "AWS secret access key",
        re.compile(r"\b(?i:aws_?secret_?(?:access_?)?key)[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+=]{40}"),
    ),
    (
        "GitHub token",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,})"),
    ),
    (
        "GitLab token",
        re.compile(
            r"\b(?:glpat|gldt|glrt|glptt|glcbt|glimt|glft|glsoat|gloas|glagent)-[A-Za-z0-9_-]{20,}"
        ),
    ),
    ("Slack token", re.compile(r"\bxox[abeoprs]-[A-Za-z0-9-]{10,}")),
    (
        "Slack webhook",
        re.compile(r"\bhooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/-]{20,}"),
    ),
    ("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    ("Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}")),
    (
        "JSON Web Token",
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
    ),
    (
        "private key",
        re.compile(
            r"-----BEGIN (?:[A-Z ]+ )?PRIVATE KEY(?: BLOCK)?-----(?:[\s\S]*?-----END "
            r"(?:[A-Z ]+ )?PRIVATE KEY(?: BLOCK)?-----)?"
        ),
    ),
    (
        "password in a URL",
        re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s/?#@:\"'<>]*:[^\s/?#@\"'<>]+@"),
    ),
]
# the password of a URL is replaced, the scheme, user and host stay readable
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s/?#@:\"'<>]*:)[^@]+@")
_ANY = re.compile("|".join(f"(?:{p.pattern})" for _, p in PATTERNS))
# Literals every match of a pattern holds: a string without one is not looked at further.
# Precise ones ("ghp_", not "gh"), or English text ("though", "single") would always match.
_HINTS = (
    "sk-",
    "k_live_",
    "k_test_",
    "AKIA",
    "ASIA",
    "ABIA",
    "ACCA",
    "ecret",  # the AWS secret key's name: "secret", "Secret", "SECRET"
    "ECRET",
    *(f"gh{c}_" for c in "pousr"),
    "github_pat_",
    *(
        f"{p}-"
        for p in (
            "glpat", "gldt", "glrt", "glptt", "glcbt", "glimt", "glft", "glsoat", "gloas",
            "glagent",
        )
    ),
    "xox",
    "hooks.slack.com",
    "AIza",
    "hf_",
    "eyJ",
    "PRIVATE KEY",
    "://",
)  # fmt: skip


def _one_scan(literals: tuple[str, ...]) -> re.Pattern[str]:
    """A regex finding any of ``literals``, its branches grouped by first character: Python's
    engine then tests a position against one set of characters before any branch (2.5x
    faster on text holding none of them than a flat alternation)."""
    rest: dict[str, list[str]] = {}
    for text in literals:
        rest.setdefault(text[0], []).append(re.escape(text[1:]))
    return re.compile(
        "|".join(
            f"{re.escape(c)}(?:{'|'.join(sorted(tails, key=len, reverse=True))})"
            for c, tails in rest.items()
        )
    )


_HINT = _one_scan(_HINTS)  # one C-level scan, not one per hint
REDACTED = "[REDACTED]"
# environment variables whose values are secrets: the name ends with one of these...
SECRET_ENV_SUFFIXES = (
    "_API_KEY",
    "_APIKEY",
    "_ACCESS_KEY",
    "_ACCESS_KEY_ID",
    "_SECRET_KEY",
    "_PRIVATE_KEY",
    "_TOKEN",
    "_SECRET",
    "_PASSWORD",
    "_PASSWD",
    "_PAT",
    "_CREDENTIALS",
    "_AUTH",
    "_AUDIT_KEY",  # the key of the audit chain's HMAC
)
# ...or contains one of these
SECRET_ENV_WORDS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "API_KEY", "APIKEY")
MIN_SECRET_LENGTH = 8
CANDIDATE = "|".join(f"(?:{p.pattern.replace(chr(92) + 'b', '')})" for _, p in PATTERNS)


def find(text: str) -> list[tuple[str, re.Match[str]]]:
    return [(label, m) for label, p in PATTERNS for m in [p.search(text)] if m]


def is_secret_name(name: str) -> bool:
    """Whether an environment variable of this name holds a secret."""
    upper = name.upper()
    return upper.endswith(SECRET_ENV_SUFFIXES) or any(w in upper for w in SECRET_ENV_WORDS)


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
        v
        for k, v in os.environ.items()
        if is_secret_name(k) and len(v) >= MIN_SECRET_LENGTH and v.strip() == v
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


def redact_text(text: str, values: list[str] | None = None) -> str:
    """One string, redacted (a rendered report, a log line, an error message)."""
    return _redact_str(text, secret_values() if values is None else values)


def might_change(value: Any, values: list[str] | None = None) -> bool:
    """Whether ``redact`` could change anything in ``value``, from one scan of its JSON text
    (a big report is then not walked string by string when nothing could be a secret).

    Safe: a string changes only if it holds a known value or a hint, and JSON text (not
    ASCII-escaped) keeps every string whole but for ``"``, ``\\`` and control characters,
    which no hint holds and whose escaped forms of known values are looked for too."""
    import json

    values = secret_values() if values is None else values
    needles = [n for v in values for n in (v, json.dumps(v, ensure_ascii=False)[1:-1])]
    try:
        return any(suspect(text, needles) for text in _json_pieces(value))
    except (TypeError, ValueError):  # keys JSON cannot take, a cycle: walk it
        return True


def suspect(text: str, values: list[str]) -> bool:
    """Whether ``redact`` could change ``text`` at all: it holds one of the secret shapes'
    hints or one of the known ``values`` (one cheap scan; the patterns only run after it)."""
    return _HINT.search(text) is not None or any(v in text for v in values)


def _json_pieces(value: Any, depth: int = 0) -> Iterator[str]:
    """``value``'s JSON text in pieces (every key and string whole in one of them): a
    report's top three levels (the run, its prompts, each prompt's fields) are taken apart,
    and a long list (a hundred items or more) is dumped a hundred items at a time, so a
    100,000-case report is never one 30 MB string. A prompt's field, its shown cases say, is
    one piece: pieces of a few items each made the scan cost 2.5x the dump itself."""
    import json

    if depth < 3 and isinstance(value, dict):
        yield json.dumps(list(value), ensure_ascii=False, default=str)  # the keys
        for v in value.values():
            yield from _json_pieces(v, depth + 1)
    elif isinstance(value, (list, tuple)) and len(value) >= 100:
        for i in range(0, len(value), 100):
            yield json.dumps(value[i : i + 100], ensure_ascii=False, default=str)
    elif depth < 3 and isinstance(value, (list, tuple)):
        for v in value:
            yield from _json_pieces(v, depth + 1)
    else:
        yield json.dumps(value, ensure_ascii=False, default=str)


def contains_secret(value: Any, values: list[str] | None = None) -> bool:
    """Whether ``redact`` would change anything in ``value``."""
    return bool(redact(value, values) != value)


def _sub(m: re.Match[str]) -> str:
    text = m.group(0)
    if text.endswith("@") and "://" in text:
        return _URL_PASSWORD.sub(lambda u: f"{u.group('head')}{REDACTED}@", text)
    return REDACTED


def _redact_str(value: str, values: list[str]) -> str:
    for secret in values:
        if secret in value:
            value = value.replace(secret, REDACTED)
    hint = _HINT.search(value)
    if hint is None:
        return value
    if len(value) < LINEWISE or _SPANS_LINES.search(value):
        return _ANY.sub(_sub, value)
    return _by_line(value, hint)


# A text this long is scanned only on the lines that hold a hint: a rendered report's one
# "://" (an SVG namespace) made the whole-text scan, 13 patterns tried at every position, take
# 0.11 s of a 460 KB page. Only two shapes can span lines; a text holding their hints is
# scanned whole.
LINEWISE = 4096
_SPANS_LINES = re.compile("PRIVATE KEY|ecret|ECRET")  # a key block; "aws_secret_key =\n…"


def _by_line(text: str, hint: re.Match[str]) -> str:
    """``_ANY.sub`` of ``text``, run on the lines holding a hint. Exact for every shape whose
    match lies in one line and holds a hint (all but the two of ``_SPANS_LINES``): a line
    starts and ends where ``\\b`` and ``[^\\s…]`` would stop a match anyway."""
    out: list[str] = []
    done = 0
    found: re.Match[str] | None = hint
    while found is not None:
        start = text.rfind("\n", 0, found.start()) + 1
        end = text.find("\n", found.end())
        end = len(text) if end < 0 else end
        out += (text[done:start], _ANY.sub(_sub, text[start:end]))
        done = end
        found = _HINT.search(text, end)
    out.append(text[done:])
    return "".join(out)


def _redact(value: Any, values: list[str]) -> Any:
    if isinstance(value, str):
        return _redact_str(value, values)
    if isinstance(value, dict):
        return {
            _redact(k, values) if isinstance(k, str) else k: _redact(v, values)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [_redact(v, values) for v in value]
    return value


_installed = False


def install_log_redaction() -> None:
    """Redact every log record this process creates, whichever logger or handler (Prefect's
    included) it goes to: the message, with its arguments filled in, and any traceback."""
    global _installed
    if _installed:
        return
    _installed = True
    make = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: the handler reports it
            return record
        clean = redact_text(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact_text(text)
        return record

    logging.setLogRecordFactory(factory)
