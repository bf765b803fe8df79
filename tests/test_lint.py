"""Every lint rule, on a scaffolded workspace edited to trip it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

PROMPT = "prompts/faq-answer.yaml"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def lint(cli, ws: Path) -> tuple[int, list[dict]]:
    code, out, err = cli("-C", str(ws), "lint", "--json")
    assert code in (0, 1, 2), (out, err)  # 2: a file that does not load (still listed)
    return code, json.loads(out)["findings"]


CASES = [
    ("template-syntax", [(PROMPT, 'content: "{{ question }}"', 'content: "{{ question "')]),
    (
        "undeclared-variable",
        [(PROMPT, 'content: "{{ question }}"', 'content: "{{ question }} {{ product }}"')],
    ),
    (
        "unused-variable",
        [
            (
                PROMPT,
                "    question: {type: string}",
                "    question: {type: string}\n    locale: {type: string}",
            )
        ],
    ),
    (
        "undeclared-component",
        [(PROMPT, 'uses: {safety: "^1.0", tone: "~1.0"}', 'uses: {safety: "^1.0"}')],
    ),
    ("unused-component", [(PROMPT, '      {{ component("tone") }}\n', "")]),
    (
        "missing-component",
        [
            (
                PROMPT,
                'uses: {safety: "^1.0", tone: "~1.0"}',
                'uses: {safety: "^1.0", tone: "~1.0", brand: "^1"}',
            ),
            (PROMPT, '{{ component("tone") }}', '{{ component("tone") }} {{ component("brand") }}'),
        ],
    ),
    ("component-range", [(PROMPT, 'tone: "~1.0"', 'tone: "^2.0"')]),
    (
        "component-call-form",
        [(PROMPT, '{{ component("tone") }}', '{{ component("tone") }}{{ component(question) }}')],
    ),
    ("invalid-semver", [(PROMPT, "version: 0.1.0", "version: 0.1")]),
    (
        "invalid-json-schema",
        [(PROMPT, "    question: {type: string}", "    question: {type: strin}")],
    ),
    ("output-schema-without-json", [(PROMPT, "Respond in JSON with keys", "Respond with keys")]),
    (
        "secret",
        [
            (
                PROMPT,
                "You answer questions",
                "Use key sk-proj-abcdefghijklmnopqrstuvwxyz0123 to answer questions",
            )
        ],
    ),
    (
        "secret",
        [
            (
                PROMPT,
                "You answer questions",
                "-----BEGIN RSA PRIVATE KEY----- MIIE... You answer questions",
            )
        ],
    ),
    (
        "provider-roles",
        [
            (
                PROMPT,
                "provider: openai\n  name: gpt-4o-mini\n  temperature: 0.2",
                "provider: anthropic\n  name: claude-3-5-haiku-latest",
            ),
            (
                PROMPT,
                '  - role: user\n    content: "{{ question }}"',
                '  - role: system\n    content: "{{ question }}"',
            ),
        ],
    ),
    ("token-budget", [("promptrail.yaml", "lint: {max_tokens: 4000}", "lint: {max_tokens: 20}")]),
    (
        "orphan-component",
        [("components/extra.yaml", None, "name: extra\nversion: 1.0.0\ntemplate: hi\n")],
    ),
]


@pytest.mark.parametrize(("rule", "edits"), CASES, ids=[c[0] for c in CASES])
def test_rule(workspace: Path, cli, rule: str, edits: list) -> None:
    code, findings = lint(cli, workspace)
    assert code == 0 and not [f for f in findings if f["severity"] == "error"]
    for path, old, new in edits:
        if old is None:
            (workspace / path).write_text(new)
        else:
            edit(workspace / path, old, new)
    code, findings = lint(cli, workspace)
    hits = [f for f in findings if f["rule"] == rule]
    assert hits, findings
    f = hits[0]
    assert f["file"] and f["hint"] and f["message"]
    if rule not in ("token-budget", "orphan-component"):
        assert f["line"] is not None, f
    if f["severity"] == "error":
        assert code == (2 if rule == "invalid-semver" else 1)


def test_finding_line_points_at_the_secret(workspace: Path, cli) -> None:
    edit(
        workspace / PROMPT,
        "You answer questions",
        "Token ghp_abcdefghijklmnopqrstuvwxyz0123456789AB here. You answer questions",
    )
    _, findings = lint(cli, workspace)
    f = next(f for f in findings if f["rule"] == "secret")
    line = (workspace / PROMPT).read_text().splitlines()[f["line"] - 1]
    assert "ghp_" in line
    assert "ghp_abcdef" not in f["message"]  # a finding never repeats the secret


def test_lint_names_filter_and_human_output(workspace: Path, cli) -> None:
    code, out, _ = cli("-C", str(workspace), "lint", "faq-answer")
    assert code == 0 and "lint passed" in out
    code, _, err = cli("-C", str(workspace), "lint", "nope")
    assert code == 2 and "no prompt named 'nope'" in err
