"""plan and apply: every reason a change is not ready, a plan file that records its starting
state and workspace, one audit row per prompt plus one for the release, partial failure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import git
from release_helpers import record_gate_run

from promptrail.lock import read_lock
from promptrail.promote import promote
from promptrail.scaffold import init
from promptrail.workspace import Workspace

NAMES = ["faq-answer", "other"]


@pytest.fixture
def two_in_staging(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """Two prompts gated and live in staging; nothing in production yet."""
    monkeypatch.setenv("PROMPTRAIL_DB", str(workspace / ".promptrail" / "p.duckdb"))
    src = (workspace / "prompts/faq-answer.yaml").read_text()
    (workspace / "prompts/other.yaml").write_text(src.replace("name: faq-answer", "name: other"))
    git(workspace, "add", "-A")
    git(workspace, "commit", "-qm", "other")
    ws = Workspace(workspace)
    for name in NAMES:
        record_gate_run(ws.store(), "staging", ws.resolve(name))
        assert promote(ws, name, "0.1.0", "staging", "alice")["status"] == "promoted"
    return ws


def plan(cli, ws: Workspace, *args: str) -> tuple[int, dict]:
    code, out, err = cli("-C", str(ws.root), "plan", "--to", "production", "--json", *args)
    assert out, err
    return code, json.loads(out)


def apply(cli, ws: Workspace, path: Path, *args: str) -> tuple[int, dict, str]:
    code, out, err = cli("-C", str(ws.root), "apply", str(path), "--json", *args)
    return code, json.loads(out), err


def test_plan_apply_deploy_story(two_in_staging: Workspace, cli, tmp_path: Path) -> None:
    ws = two_in_staging
    code, p = plan(cli, ws)
    assert code == 0 and p["env"] == "production"
    assert [(c["name"], c["from"], c["to"], c["ready"]) for c in p["changes"]] == [
        ("faq-answer", None, "0.1.0", False),
        ("other", None, "0.1.0", False),
    ]
    for c in p["changes"]:
        assert len(c["reasons"]) == 1 and "no gate run for production" in c["reasons"][0]
        assert c["evidence"]["status"] == "missing" and c["approvals_needed"] == 1

    for name in NAMES:
        record_gate_run(ws.store(), "production", ws.resolve(name))
    plan_file = tmp_path / "release.json"
    code, p = plan(cli, ws, "--out", str(plan_file))
    assert [c["ready"] for c in p["changes"]] == [True, True]
    assert all(c["reasons"] == [] and c["evidence"]["status"] == "present" for c in p["changes"])

    code, r, err = apply(cli, ws, plan_file)  # production needs an approval
    assert code == 1 and [c["status"] for c in r["changes"]] == ["refused", "refused"]
    assert "needs 1 approval" in r["changes"][0]["reason"]
    assert read_lock(ws.lock_path("production")) == {}

    code, r, err = apply(cli, ws, plan_file, "--approved-by", "bob")
    assert code == 0 and r["status"] == "applied", r
    assert [c["status"] for c in r["changes"]] == ["promoted", "promoted"]
    assert sorted(read_lock(ws.lock_path("production"))) == NAMES
    store = ws.store()
    events = [
        (e, s)
        for e, s in store.query(
            "SELECT event, subject FROM audit_log WHERE event IN ('promote', 'apply') "
            "AND (subject LIKE 'production%') ORDER BY seq"
        )[1]
    ]
    assert events == [
        ("apply", "production"),  # the first try, refused for want of an approval
        ("promote", "production/faq-answer"),
        ("promote", "production/other"),
        ("apply", "production"),
    ]

    code, r, err = apply(cli, ws, plan_file, "--approved-by", "bob")
    assert code == 1 and r["status"] == "refused"
    assert "starting state no longer holds" in r["reason"]
    assert store.query("SELECT count(*) FROM promotions WHERE env = 'production'")[1] == [(2,)]

    dist = ws.root / "dist/production"
    for f in dist.iterdir():
        f.unlink()
    dist.rmdir()
    code, out, err = cli("-C", str(ws.root), "deploy", "--env", "production")
    assert code == 0, err
    code, out, err = cli("-C", str(ws.root), "drift", "--env", "production", "--json")
    assert code == 0 and json.loads(out)["status"] == "clean"
    code, p = plan(cli, ws)
    assert p["changes"] == []


def test_plan_lists_every_reason(two_in_staging: Workspace, cli) -> None:
    ws = two_in_staging
    # staging's faq-answer 0.1.0 no longer matches the tree, which is still at 0.1.0
    f = ws.root / "prompts/faq-answer.yaml"
    f.write_text(f.read_text().replace("You answer questions", "You answer most questions"))
    code, p = plan(cli, ws, "faq-answer")
    (change,) = p["changes"]
    assert not change["ready"] and len(change["reasons"]) == 2
    assert "no gate run for production" in change["reasons"][0]
    assert "no longer hashes to what was gated" in change["reasons"][1]
    code, out, err = cli("-C", str(ws.root), "plan", "--to", "production", "nosuch")
    assert code == 2 and "nosuch" in err


def test_edited_or_foreign_plans_are_exit_2(two_in_staging: Workspace, cli, tmp_path: Path) -> None:
    ws = two_in_staging
    plan_file = tmp_path / "p.json"
    plan(cli, ws, "--out", str(plan_file))
    doc = json.loads(plan_file.read_text())
    doc["changes"][0]["ready"] = True
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(doc))
    code, out, err = cli("-C", str(ws.root), "apply", str(edited))
    assert code == 2 and "edited" in err and str(edited) in err and "Traceback" not in err

    other = tmp_path / "elsewhere"
    init(other)
    git(other, "init", "-q", "-b", "main")
    git(other, "add", "-A")
    git(other, "commit", "-qm", "another repository")
    code, out, err = cli("-C", str(other), "apply", str(plan_file))
    assert code == 2 and "another workspace" in err

    (tmp_path / "garbage.json").write_text("{not json\n")
    code, out, err = cli("-C", str(ws.root), "apply", str(tmp_path / "garbage.json"))
    assert code == 2 and "garbage.json:1" in err


def test_partial_failure_says_which(two_in_staging: Workspace, cli, tmp_path: Path) -> None:
    ws = two_in_staging
    for name in NAMES:
        record_gate_run(ws.store(), "production", ws.resolve(name))
    plan_file = tmp_path / "release.json"
    plan(cli, ws, "--out", str(plan_file))
    (ws.root / "dist/production/other.json").mkdir(parents=True)  # the write will fail
    code, r, err = apply(cli, ws, plan_file, "--approved-by", "bob")
    assert code == 3 and r["status"] == "failed"
    by = {c["name"]: c for c in r["changes"]}
    assert by["faq-answer"]["status"] == "promoted"
    assert by["other"]["status"] == "failed" and "other.json" in by["other"]["reason"]
    assert sorted(read_lock(ws.lock_path("production"))) == ["faq-answer"]
    store = ws.store()
    assert store.query("SELECT name FROM promotions WHERE env = 'production'")[1] == [
        ("faq-answer",)
    ]
    payload = json.loads(
        store.query("SELECT payload FROM audit_log WHERE event = 'apply'")[1][0][0]
    )
    assert payload["promoted"] == ["faq-answer"] and payload["failed"] == ["other"]
