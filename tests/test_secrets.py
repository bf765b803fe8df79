"""Secrets never reach the store, the reports or the logs (promptrail/secrets.py): every key
shape is redacted, each holds one of the redactor's hints, the report's prefilter never passes
what ``redact`` would change, and both of the store's scans (Python's re for a few rows,
pyarrow's RE2 for many) redact, on both engines."""

from __future__ import annotations

import json

import pytest

from promptrail import audit
from promptrail.secrets import REDACTED, find, might_change, redact
from promptrail.store import TABLES, Store
from promptrail.store.base import SMALL_BATCH

KEYS = {
    "openai": "sk-proj-Abcdefghijklmnopqrstuvwxyz0123456789",
    "openai-legacy": "sk-" + "a1B2" * 12,
    "anthropic": "sk-ant-api03-abcdefghijklmnopqrstuvwxyz-0123456789",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "github": "ghp_" + "x1" * 18,
    "slack": "xoxb-123456789012-abcdefghij",
    "private key": "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----",
}


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_redact_key_shapes(kind: str) -> None:
    key = KEYS[kind]
    assert redact(f"token: {key}, then text") == f"token: {REDACTED}, then text"
    assert find(f"x {key}")


def test_redact_leaves_ordinary_text_and_walks_structures(monkeypatch: pytest.MonkeyPatch) -> None:
    plain = [
        "task-force-alpha-bravo-charlie-delta",
        "ask-me",
        "sk-short",
        "support-reply",
        "gate-20260301T000000-abc123",
        "sha256:" + "f" * 64,
        "AKIA lower",
    ]
    assert redact(plain) == plain
    nested = {"a": [KEYS["openai"], {"b": (KEYS["aws"],)}], KEYS["github"]: 1, "n": 3}
    assert redact(nested) == {"a": [REDACTED, {"b": [REDACTED]}], REDACTED: 1, "n": 3}
    monkeypatch.setenv("ACME_API_KEY", "plain-looking-value-42")
    assert redact("sent plain-looking-value-42 upstream") == f"sent {REDACTED} upstream"


# one or more strings every pattern of promptrail.secrets matches, each variant of its prefix
SHAPES = {
    "Anthropic API key": ["sk-ant-api03-" + "a" * 24],
    "OpenAI API key": ["sk-" + "a" * 24, "sk-proj-" + "a" * 24, "sk-svcacct-" + "b" * 24],
    "Stripe secret key": [f"{r}k_{m}_" + "a" * 24 for r in "rs" for m in ("live", "test")],
    "AWS access key": [p + "A" * 16 for p in ("AKIA", "ASIA", "ABIA", "ACCA")],
    "AWS secret access key": [
        f"{k} = " + "a" * 40
        for k in ("aws_secret_access_key", "AWS_SECRET_KEY", "Aws_Secret_Key", "awssecretkey")
    ],
    "GitHub token": [f"gh{c}_" + "a" * 36 for c in "pousr"] + ["github_pat_" + "a" * 40],
    "GitLab token": [
        f"{p}-" + "a" * 20
        for p in (
            "glpat", "gldt", "glrt", "glptt", "glcbt", "glimt", "glft", "glsoat", "gloas",
            "glagent",
        )
    ],
    "Slack token": [f"xox{c}-" + "1" * 12 for c in "abeoprs"],
    "Slack webhook": ["hooks.slack.com/services/" + "T" * 24],
    "Google API key": ["AIza" + "a" * 35],
    "Hugging Face token": ["hf_" + "a" * 34],
    "JSON Web Token": ["eyJ" + "a" * 10 + ".eyJ" + "b" * 10 + ".c"],
    "private key": ["-----BEGIN PRIVATE KEY-----", "-----BEGIN EC PRIVATE KEY-----"],
    "password in a URL": ["postgresql://user:pw@host/db", "https://a:b@example.com"],
}  # fmt: skip


@pytest.mark.parametrize("label", sorted(SHAPES))
def test_every_secret_shape_passes_the_hint_gate(label: str) -> None:
    """The redactor looks at a string only when it holds one of its literal hints (one fast
    scan); a pattern match without one would never be redacted. Each shape is matched by its
    pattern, holds a hint, and is redacted."""
    from promptrail.secrets import _HINT, PATTERNS, candidate_pattern
    from promptrail.store.base import _found

    pattern = dict(PATTERNS)[label]
    for shape in SHAPES[label]:
        text = f"before {shape} after"
        assert pattern.search(text), shape
        assert _HINT.search(text), shape
        assert redact(text) != text, shape
        assert _found(["plain", text], candidate_pattern([]), []) == [1], shape  # the store


def test_the_grouped_hint_scan_finds_what_a_plain_one_would() -> None:
    """``_HINT`` groups its literals by first character for speed; it must find a hint in
    exactly the strings a flat alternation of them would."""
    import random
    import re
    import string

    from promptrail.secrets import _HINT, _HINTS

    flat = re.compile("|".join(map(re.escape, _HINTS)))
    rng = random.Random(7)
    noise = string.ascii_letters + string.digits + "_-:/. "

    def text(n: int) -> str:
        return "".join(rng.choice(noise) for _ in range(n))

    samples = [text(rng.randint(0, 30)) + h[:cut] + text(3) for h in _HINTS for cut in (-1, None)]
    samples += [text(80) for _ in range(3000)]
    assert [bool(_HINT.search(t)) for t in samples] == [bool(flat.search(t)) for t in samples]
    assert all(_HINT.search(f"x{h}y") for h in _HINTS)


def test_a_long_text_is_redacted_line_by_line_as_a_whole_scan_would() -> None:
    """A rendered report is scanned only on its lines that hold a hint (``_by_line``), unless
    it holds a shape that may span lines. Every shape, put anywhere in a long text of random
    lines (at a line's start or end, beside punctuation, two on one line), is redacted
    exactly as the whole-text scan redacts it."""
    import random
    import string

    from promptrail.secrets import _ANY, _SPANS_LINES, LINEWISE, _redact_str, _sub

    rng = random.Random(11)
    noise = string.ascii_letters + string.digits + " _-:/.@<>\"'=\t"
    spanning = ("private key", "AWS secret access key")  # their texts are scanned whole
    shapes = [s for label, group in SHAPES.items() for s in group if label not in spanning]
    shapes += ["https://x:y@h", "sk-" + "b" * 30 + "\nline", "ghp_" + "c" * 36 + "\tx"]

    def line() -> str:
        text = "".join(rng.choice(noise) for _ in range(rng.randint(0, 120)))
        return text.replace("://", ":/")  # a hint only where a shape is put

    for _ in range(60):
        lines = [line() for _ in range(200)]
        for _ in range(rng.randint(0, 6)):
            i, shape = rng.randrange(len(lines)), rng.choice(shapes)
            at = rng.choice((0, len(lines[i]), rng.randint(0, len(lines[i]))))
            lines[i] = lines[i][:at] + shape + lines[i][at:]
        text = "\n".join(lines)
        assert len(text) >= LINEWISE and not _SPANS_LINES.search(text)
        assert _redact_str(text, []) == _ANY.sub(_sub, text)
    # the two shapes that may span lines are found whole: the text is then scanned whole
    for shape in ("aws_secret_access_key =\n  " + "a" * 40, KEYS["private key"]):
        text = "x\n" * LINEWISE + shape + "\nhttps://example.com\n"
        assert _redact_str(text, []) == _ANY.sub(_sub, text) != text
        assert "a" * 40 not in _redact_str(text, []) and "MIIE" not in _redact_str(text, [])


def test_every_pattern_has_shapes() -> None:
    from promptrail.secrets import PATTERNS

    assert sorted(label for label, _ in PATTERNS) == sorted(SHAPES)


@pytest.mark.parametrize("kind", sorted(KEYS))
def test_the_reports_prefilter_never_passes_what_redact_would_change(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reports skip the string-by-string walk when one scan of their JSON text finds nothing
    (``might_change``): it must say "could change" whenever ``redact`` changes something,
    wherever the secret sits (a value, a key, deep in a list, beside characters JSON escapes)."""
    key = KEYS[kind]
    for shaped in (
        {"cases": [{"output": f'said "{key}"\n\tthen'}]},
        {"cases": [{f"k\n{key}": 1}]},
        [[[("x", f"\\{key}\\")]]],
    ):
        assert redact(shaped) != shaped
        assert might_change(shaped)
    monkeypatch.setenv("ACME_API_KEY", 'plain "quoted"\nvalue\\42')
    known = {"a": ['before plain "quoted"\nvalue\\42 after']}
    assert redact(known) != known and might_change(known)
    clean = {"cases": [{"output": '{"ok": true}', "vars": {"ticket": "my site 3 is down"}}] * 3}
    assert redact(clean) == clean and not might_change(clean)
    # English is full of "gh" and "gl" (though, single): the hints are the tokens' own prefixes
    prose = {"cases": [{"output": "I thought the single sign-on glitch was right, though."}]}
    assert redact(prose) == prose and not might_change(prose)


@pytest.mark.parametrize("padding", [0, SMALL_BATCH + 1], ids=["few-rows", "many-rows"])
def test_secrets_never_reach_the_store(
    store_url: str, monkeypatch: pytest.MonkeyPatch, padding: int
) -> None:
    """A few rows are scanned with Python's re, many with pyarrow's RE2: both redact."""
    monkeypatch.setenv("OPENAI_API_KEY", "local-test-key-123")
    store = Store(store_url)
    store.write(
        {
            "runs": [
                {
                    "run_id": "r",
                    "args": {"header": f"Bearer {KEYS['anthropic']}", KEYS["aws"]: "as a key"},
                }
            ],
            "case_results": [
                *({"run_id": "r", "case_id": f"p{i}", "output": "plain"} for i in range(padding)),
                {
                    "run_id": "r",
                    "case_id": "c",
                    "output": f"here: {KEYS['openai']}",
                    "vars": {"t": f"line\n{KEYS['slack']}"},  # JSON-escaped \n before it
                    "error": "401 for key local-test-key-123",
                },
            ],
            "prompt_versions": [
                {
                    "name": "p",
                    "content_hash": "sha256:1",
                    "resolved": {"messages": [{"content": KEYS["private key"]}]},
                }
            ],
        }
    )
    store.append_audit("x", KEYS["github"], "y", {"note": KEYS["openai-legacy"]})
    dump = json.dumps([store.query(f"SELECT * FROM {t}")[1] for t in TABLES], default=str)
    for key in (*KEYS.values(), "local-test-key-123", "MIIEpAIBAAKCAQEA"):
        assert key not in dump
    assert dump.count(REDACTED) >= 8
    assert json.loads(
        store.query("SELECT vars FROM case_results WHERE case_id = 'c'")[1][0][0]
    ) == {"t": f"line\n{REDACTED}"}
    assert audit.verify(store)["status"] == "ok"
