"""Core answers that were wrong: diff against itself, YAML-number versions, cycles through
declared components, unbumped components, lint lines and hints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import git


def test_diff_without_a_differing_lock_compares_with_git_head(workspace: Path, cli) -> None:
    prompt = workspace / "prompts/faq-answer.yaml"
    prompt.write_text(prompt.read_text().replace("You answer questions", "You answer all"))
    assert cli("-C", str(workspace), "lock")[0] == 0  # the dev lock now pins the edit
    code, out, err = cli("-C", str(workspace), "diff", "faq-answer", "--json")
    d = json.loads(out)
    assert code == 0 and d["bump"] == "patch", err
    assert d["against"] == "git HEAD (no lock pins other content)"
    code, out, _ = cli("-C", str(workspace), "diff", "faq-answer")
    assert "compared with git HEAD" in out and "+" in out


YAML_NUMBER = "version: 1.2"


@pytest.mark.parametrize(
    "verb",
    [
        ["lint"],
        ["lock", "--check"],
        ["lock"],
        ["render", "faq-answer", "--var", "question=x"],
        ["diff", "faq-answer"],
        ["bump", "faq-answer", "--patch"],
        ["gate", "--cache", "replay"],
    ],
)
@pytest.mark.parametrize("file", ["prompts/faq-answer.yaml", "components/tone.yaml"])
def test_a_file_that_does_not_load_is_exit_2_from_every_verb(
    workspace: Path, cli, verb: list[str], file: str, monkeypatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PROMPTRAIL_DB", str(tmp_path / "x.duckdb"))
    path = workspace / file
    text = path.read_text()
    path.write_text(
        text.replace(next(ln for ln in text.splitlines() if ln.startswith("version:")), YAML_NUMBER)
    )
    code, out, err = cli("-C", str(workspace), *verb)
    assert code == 2, (verb, out, err)
    assert f"{file}:3" in out + err and "not a semantic version" in out + err
    if verb == ["lint"]:  # lint still lists what it found, with the hint of its own rule
        assert "error[invalid-semver]" in out and 'quote them: version: "1.2.0"' in out
        assert "orphan-component" not in out


def test_a_cycle_through_declared_components_is_an_error(workspace: Path, cli) -> None:
    (workspace / "components/a.yaml").write_text(
        'name: a\nversion: 1.0.0\nuses: {b: "^1.0"}\ntemplate: \'{{ component("b") }}\'\n'
    )
    (workspace / "components/b.yaml").write_text(
        'name: b\nversion: 1.0.0\nuses: {a: "^1.0"}\ntemplate: \'{{ component("a") }}\'\n'
    )
    prompt = workspace / "prompts/faq-answer.yaml"
    prompt.write_text(
        prompt.read_text().replace('uses: {safety: "^1.0"', 'uses: {a: "^1.0", safety: "^1.0"')
    )
    code, out, err = cli("-C", str(workspace), "lint")
    assert code == 1 and "error[component-cycle]" in out and "a -> b -> a" in out, out + err
    code, out, err = cli("-C", str(workspace), "render", "faq-answer", "--var", "question=x")
    assert code == 2 and "component cycle: a -> b -> a" in err


def test_an_unbumped_component_is_flagged_and_bump_works_on_components(
    workspace: Path, cli
) -> None:
    tone = workspace / "components/tone.yaml"
    tone.write_text(tone.read_text().replace("concise", "brief"))
    code, out, err = cli("-C", str(workspace), "lock", "--check", "--json")
    problems = {(p["name"], p["kind"]) for p in json.loads(out)["problems"]}
    assert code == 1 and ("tone", "unbumped-component") in problems, out + err
    code, out, err = cli("-C", str(workspace), "bump", "tone", "--minor")
    assert code == 0 and "tone: 1.0.0 -> 1.1.0" in out, err
    assert "version: 1.1.0" in tone.read_text()
    code, out, _ = cli("-C", str(workspace), "lock", "--check", "--json")
    problems = {(p["name"], p["kind"]) for p in json.loads(out)["problems"]}
    assert ("tone", "unbumped-component") not in problems


def test_lint_lines_point_at_the_right_line(workspace: Path, cli) -> None:
    prompt = workspace / "prompts/faq-answer.yaml"
    text = prompt.read_text()
    # "customer" appears in the description (line 4) before the template uses it
    text = text.replace(
        'content: "{{ question }}"', 'content: "{{ question }} from {{ customer }}"'
    )
    prompt.write_text(text)
    code, out, _ = cli("-C", str(workspace), "lint", "--json")
    [finding] = [f for f in json.loads(out)["findings"] if f["rule"] == "undeclared-variable"]
    lines = prompt.read_text().splitlines()
    assert "{{ customer }}" in lines[finding["line"] - 1]
    # a syntax error in an inline (not block) content is on the content's own line
    prompt.write_text(text.replace("{{ customer }}", "{{ customer"))
    code, out, _ = cli("-C", str(workspace), "lint", "--json")
    [finding] = [f for f in json.loads(out)["findings"] if f["rule"] == "template-syntax"]
    assert "{{ customer" in prompt.read_text().splitlines()[finding["line"] - 1]
    git(workspace, "status")
