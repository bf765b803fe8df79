"""Verbs are library calls returning a Result (status, exit_code, to_json()); the CLI renders
the same Result, and statuses map to exit codes in one place."""

from __future__ import annotations

import json
from pathlib import Path

from promptrail import verbs
from promptrail.results import Result, exit_code_for
from promptrail.workspace import Workspace


def test_lint_and_lock_check_as_library_calls_match_the_cli(workspace: Path, cli) -> None:
    ws = Workspace(workspace)
    linted = verbs.lint(ws)
    assert (linted.status, linted.exit_code) == ("passed", 0)
    code, out, _ = cli("-C", str(workspace), "lint", "--json")
    assert code == linted.exit_code and json.loads(out) == linted.to_json()

    prompt = workspace / "prompts" / "faq-answer.yaml"
    prompt.write_text(prompt.read_text().replace("You answer", "You kindly answer"))
    checked = verbs.lock_check(Workspace(workspace))
    assert (checked.status, checked.exit_code) == ("stale", 1)
    code, out, _ = cli("-C", str(workspace), "lock", "--check", "--json")
    assert code == 1 and json.loads(out) == checked.to_json()


def test_a_suite_that_does_not_load_is_exit_2_but_lint_still_lists_it(workspace: Path) -> None:
    suite = workspace / "suites" / "faq-answer.yaml"
    suite.write_text(suite.read_text().replace("{type: is-json}", "{type: is-jsn}"))
    linted = verbs.lint(Workspace(workspace))
    assert linted.status == "failed" and linted.exit_code == 2
    assert [f.rule for f in linted.items] == ["invalid-suite"]


def test_statuses_map_to_exit_codes_in_one_place() -> None:
    assert [exit_code_for(s) for s in ("ok", "passed", "clean", "promoted")] == [0, 0, 0, 0]
    assert [exit_code_for(s) for s in ("failed", "stale", "refused", "broken", "drift")] == [1] * 5
    assert exit_code_for("invalid") == 2 and exit_code_for("error") == 3
    assert exit_code_for("something new") == 3  # never a pass by accident
    assert Result("clean", {}, "error").exit_code == 3
