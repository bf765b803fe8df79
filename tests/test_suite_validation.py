"""A suite's assertions are typed and checked when the suite loads: a typo or a wrong option
type is exit 2 naming the suite file and line, from lint and from gate, before any model call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SUITE = "suites/faq-answer.yaml"


def edit(root: Path, old: str, new: str) -> int:
    """Replace ``old`` in the suite; the 1-based line the edit is on."""
    path = root / SUITE
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return text[: text.index(old)].count("\n") + 1


BAD = [
    # (old text, new text, what the message says); the line reported is the edited one
    (
        "{type: icontains, value: password}",
        "{type: icontains, valeu: password}",
        "did you mean 'value'",
    ),
    (
        "{type: icontains, value: password}",
        "{type: icontains, value: {a: 1}}",
        "icontains: option 'value'",
    ),
    (
        "{type: is-json}",
        "{type: max-length, value: long}",
        "max-length: option 'value': Input should be a valid integer",
    ),
    ("{type: is-json}", "{type: latency, threshold: -5}", "greater than or equal to 0"),
    ("{type: is-json}", "{type: regex}", "regex: option 'value': Field required"),
    ("{type: is-json}", "{type: is-jsn}", "did you mean 'is-json'"),
]


@pytest.mark.parametrize(("old", "new", "message"), BAD, ids=[b[2][:30] for b in BAD])
def test_lint_reports_a_bad_suite_with_file_and_line(
    workspace: Path, cli, old: str, new: str, message: str
) -> None:
    line = edit(workspace, old, new)
    code, out, err = cli("-C", str(workspace), "lint", "--json")
    assert code == 2, (out, err)
    [finding] = [f for f in json.loads(out)["findings"] if f["rule"] == "invalid-suite"]
    assert finding["file"] == SUITE and finding["line"] == line, finding
    assert message in finding["message"]
    code, out, err = cli("-C", str(workspace), "lint")
    assert code == 2 and f"{SUITE}:{line}: error[invalid-suite]" in out


@pytest.mark.parametrize(("old", "new", "message"), BAD[:3], ids=[b[2][:30] for b in BAD[:3]])
def test_gate_refuses_a_bad_suite_before_any_call(
    workspace: Path, cli, monkeypatch: pytest.MonkeyPatch, old: str, new: str, message: str
) -> None:
    monkeypatch.setenv("PROMPTRAIL_DB", str(workspace / "s.duckdb"))
    line = edit(workspace, old, new)
    code, out, err = cli("-C", str(workspace), "gate", "--env", "staging", "--json")
    assert code == 2, (out, err)
    error = json.loads(out)["error"]
    assert error["file"] == SUITE and error["line"] == line and message in error["message"]
    code, _, err = cli("-C", str(workspace), "gate", "--env", "staging")
    assert code == 2 and err.startswith(f"promptrail: error: {SUITE}:{line}: ")
    assert "Traceback" not in err


def test_a_bad_default_names_the_defaults_line(workspace: Path, cli) -> None:
    line = edit(workspace, "{type: json-schema}]", "{type: json-schema, value: [1]}]")
    code, out, _ = cli("-C", str(workspace), "lint", "--json")
    assert code == 2
    [finding] = [f for f in json.loads(out)["findings"] if f["rule"] == "invalid-suite"]
    assert (finding["file"], finding["line"]) == (SUITE, line)
    assert "json-schema: option 'value'" in finding["message"]


def test_a_good_suite_lints_clean(workspace: Path, cli) -> None:
    code, out, _ = cli("-C", str(workspace), "lint", "--json")
    assert code == 0 and not [
        f for f in json.loads(out)["findings"] if f["rule"] == "invalid-suite"
    ]


def test_every_builtin_assertion_kind_is_documented() -> None:
    from promptrail import plugins

    doc = (Path(__file__).parent.parent / "docs" / "formats.md").read_text()
    builtin = [p.name for p in plugins.available("assertion") if p.source.startswith("promptrail")]
    missing = [k for k in builtin if f"| `{k}" not in doc]
    assert builtin and missing == [], missing
