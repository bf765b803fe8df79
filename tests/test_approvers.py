"""Who may approve: an environment's `approvers` list decides whose approvals count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from release_helpers import record_gate_run

from promptrail.workspace import Workspace


@pytest.fixture
def ws(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("PROMPTRAIL_DB", str(workspace / ".promptrail" / "t.duckdb"))
    ws = Workspace(workspace)
    store = ws.store()
    for env in ("staging", "production"):
        record_gate_run(store, env, ws.resolve("faq-answer"))
    return ws


def configure(ws: Workspace, line: str) -> None:
    cfg = ws.root / "promptrail.yaml"
    cfg.write_text(cfg.read_text().replace("    approvals: 1", line))


def promote(cli, ws: Workspace, env: str, *extra: str) -> tuple[int, dict]:
    code, out, _ = cli(
        "-C", str(ws.root), "promote", "faq-answer@0.1.0", "--to", env, "--json", *extra
    )
    return code, json.loads(out)


def test_only_listed_approvers_count_and_the_refusal_says_whose_were_ignored(
    ws: Workspace, cli
) -> None:
    configure(ws, "    approvers: [lead@acme.test]")
    assert promote(cli, ws, "staging")[0] == 0
    code, r = promote(cli, ws, "production", "--approved-by", "carol@acme.test")
    assert code == 1 and r["status"] == "refused"
    assert "needs 1 approval(s) from its approvers (lead@acme.test)" in r["reason"]
    assert "ignored: carol@acme.test (not one of production's approvers)" in r["reason"]
    refused = ws.store().query_dicts(
        "SELECT payload FROM audit_log WHERE event = 'promotion-refused'"
    )
    assert json.loads(refused[-1]["payload"])["approvals_ignored"] == [
        {"who": "carol@acme.test", "why": "not one of production's approvers"}
    ]
    code, out, _ = cli(
        "-C",
        str(ws.root),
        "promote",
        "faq-answer@0.1.0",
        "--to",
        "production",
        "--approved-by",
        "carol@acme.test",
    )
    assert code == 1 and "carol@acme.test (not one of production's approvers)" in out

    code, r = promote(
        cli, ws, "production", "--approved-by", "Lead@acme.test", "--approved-by", "carol@acme.test"
    )
    assert code == 0 and r["approvals"] == ["Lead@acme.test"], r
    assert r["approvals_ignored"] == [
        {"who": "carol@acme.test", "why": "not one of production's approvers"}
    ]


def test_an_approver_cannot_approve_their_own_promotion(ws: Workspace, cli) -> None:
    configure(ws, "    approvers: [lead@acme.test, tester@example.com]")
    assert promote(cli, ws, "staging")[0] == 0
    code, r = promote(cli, ws, "production", "--approved-by", "tester@example.com")
    assert code == 1 and "tester@example.com (the person promoting does not count)" in r["reason"]


def test_a_github_approver_typed_on_the_command_line_does_not_count(ws: Workspace, cli) -> None:
    configure(ws, "    approvers: [github:lead]")
    assert promote(cli, ws, "staging")[0] == 0
    code, r = promote(cli, ws, "production", "--approved-by", "github:lead")
    assert code == 1 and "typed with --approved-by" in r["reason"]


@pytest.mark.parametrize("bad", ["bob", "github:", "gitlab:bob", "github-team:acme", "a b@c.d"])
def test_an_unknown_approver_form_is_exit_2_with_file_and_line(
    ws: Workspace, cli, bad: str
) -> None:
    configure(ws, f"    approvals: 1\n    approvers: [lead@acme.test, {json.dumps(bad)}]")
    code, out, _ = cli("-C", str(ws.root), "lint", "--json")
    err = json.loads(out)["error"]
    lines = (ws.root / "promptrail.yaml").read_text().splitlines()
    assert code == 2 and err["file"] == "promptrail.yaml"
    assert "approvers" in lines[err["line"] - 1] and "unknown approver form" in err["message"]
