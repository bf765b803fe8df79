"""Promotion, approvals, requires-ordering, rollback, concurrency, and the file target."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from conftest import git
from release_helpers import record_gate_run

from promptrail.lock import read_lock
from promptrail.promote import promote
from promptrail.store import Store
from promptrail.workspace import Workspace


@pytest.fixture
def ws(workspace: Path, store_url: str, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    monkeypatch.setenv("PROMPTRAIL_DB", store_url)
    return Workspace(workspace)


def store(ws: Workspace) -> Store:
    return ws.store()  # type: ignore[no-any-return]


def promote_cli(cli, ws: Workspace, *args: str) -> tuple[int, dict]:
    code, out, err = cli("-C", str(ws.root), "promote", *args, "--json")
    return code, json.loads(out)


def new_version(ws: Workspace, version: str, text: str) -> Workspace:
    p = ws.root / "prompts/faq-answer.yaml"
    content = p.read_text()
    import re

    content = re.sub(r"^version: .*$", f"version: {version}", content, count=1, flags=re.M)
    p.write_text(content.replace("You answer questions", text))
    git(ws.root, "commit", "-qam", f"faq-answer {version}")
    return Workspace(ws.root)


def test_refused_without_a_gate_pass(ws: Workspace, cli) -> None:
    code, r = promote_cli(cli, ws, "faq-answer@0.1.0", "--to", "staging")
    assert code == 1 and r["status"] == "refused"
    assert "no gate run for staging" in r["reason"]
    assert "promptrail gate faq-answer --env staging" in r["reason"]
    assert read_lock(ws.lock_path("staging")) == {}


def test_a_failed_gate_run_does_not_count(ws: Workspace, cli) -> None:
    record_gate_run(store(ws), "staging", ws.resolve("faq-answer"), status="failed")
    code, r = promote_cli(cli, ws, "faq-answer@0.1.0", "--to", "staging")
    assert code == 1 and "no gate run" in r["reason"]


def test_a_pass_for_another_environment_does_not_count(ws: Workspace, cli) -> None:
    record_gate_run(store(ws), "staging", ws.resolve("faq-answer"))
    code, r = promote_cli(cli, ws, "faq-answer@0.1.0", "--to", "staging")
    assert code == 0
    code, r = promote_cli(cli, ws, "faq-answer@0.1.0", "--to", "production", "--approved-by", "bob")
    assert code == 1 and "no gate run for production" in r["reason"]


def test_promote_writes_lock_bundle_store_and_audit(ws: Workspace, cli) -> None:
    resolved = ws.resolve("faq-answer")
    record_gate_run(store(ws), "staging", resolved)
    code, r = promote_cli(cli, ws, "faq-answer@0.1.0", "--to", "staging", "--reason", "go")
    assert code == 0 and r["status"] == "promoted"
    assert r["content_hash"] == resolved.content_hash
    assert read_lock(ws.lock_path("staging"))["faq-answer"].content_hash == resolved.content_hash
    rows = store(ws).query_dicts("SELECT * FROM promotions")
    assert len(rows) == 1 and rows[0]["actor"] == "tester@example.com"
    audit = store(ws).query_dicts(
        "SELECT event, subject, payload FROM audit_log WHERE event = 'promote'"
    )
    payload = json.loads(audit[0]["payload"])
    assert audit[0]["subject"] == "staging/faq-answer"
    assert payload["reason"] == "go" and payload["from_version"] is None


def test_requires_and_approvals(ws: Workspace, cli) -> None:
    resolved = ws.resolve("faq-answer")
    record_gate_run(store(ws), "production", resolved)
    code, r = promote_cli(cli, ws, "faq-answer@0.1.0", "--to", "production", "--approved-by", "bob")
    assert code == 1 and "requires staging first" in r["reason"]
    record_gate_run(store(ws), "staging", resolved)
    assert promote_cli(cli, ws, "faq-answer@0.1.0", "--to", "staging")[0] == 0
    # self-approval does not count; duplicates count once
    code, r = promote_cli(
        cli, ws, "faq-answer@0.1.0", "--to", "production", "--approved-by", "tester@example.com"
    )
    assert code == 1 and "needs 1 approval" in r["reason"] and "got 0" in r["reason"]
    cfg = ws.root / "promptrail.yaml"
    cfg.write_text(cfg.read_text().replace("approvals: 1", "approvals: 2"))
    code, r = promote_cli(
        cli,
        ws,
        "faq-answer@0.1.0",
        "--to",
        "production",
        "--approved-by",
        "bob",
        "--approved-by",
        "bob",
    )
    assert code == 1 and "got 1 (bob)" in r["reason"]
    code, r = promote_cli(
        cli,
        ws,
        "faq-answer@0.1.0",
        "--to",
        "production",
        "--approved-by",
        "bob",
        "--approved-by",
        "carol",
    )
    assert code == 0, r
    approvals = json.loads(
        store(ws).query("SELECT approvals FROM promotions WHERE env = 'production'")[1][0][0]
    )
    assert approvals == ["bob", "carol"]
    bundle = json.loads((ws.root / "dist/production/faq-answer.json").read_text())
    assert bundle["content_hash"] == resolved.content_hash
    assert bundle["providers"]["anthropic"]["system"].startswith("Safety rules")
    assert bundle["providers"]["openai"]["messages"][0]["role"] == "system"


def test_tree_changed_since_gated_is_refused(ws: Workspace, cli) -> None:
    record_gate_run(store(ws), "staging", ws.resolve("faq-answer"))
    p = ws.root / "prompts/faq-answer.yaml"
    p.write_text(p.read_text().replace("You answer questions", "You answer some questions"))
    code, r = promote_cli(cli, ws, "faq-answer@0.1.0", "--to", "staging")
    # the new hash was never gated, and 0.1.0 already names the gated content
    assert code == 1 and "content changed without a bump; bump to 0.1.1" in r["reason"]


def test_rollback(ws: Workspace, cli) -> None:
    v1 = ws.resolve("faq-answer")
    record_gate_run(store(ws), "staging", v1)
    assert promote_cli(cli, ws, "faq-answer@0.1.0", "--to", "staging")[0] == 0
    ws2 = new_version(ws, "0.2.0", "You answer all questions")
    v2 = ws2.resolve("faq-answer")
    record_gate_run(store(ws2), "staging", v2)
    assert promote_cli(cli, ws2, "faq-answer@0.2.0", "--to", "staging")[0] == 0
    code, out, _ = cli("-C", str(ws.root), "rollback", "faq-answer", "--env", "staging", "--json")
    r = json.loads(out)
    assert code == 0 and r["version"] == "0.1.0" and r["content_hash"] == v1.content_hash
    assert read_lock(ws.lock_path("staging"))["faq-answer"].version == "0.1.0"
    kinds = [k for (k,) in store(ws).query("SELECT kind FROM promotions ORDER BY promoted_at")[1]]
    assert kinds == ["promote", "promote", "rollback"]
    events = [e for (e,) in store(ws).query("SELECT event FROM audit_log ORDER BY seq")[1]]
    assert events[-1] == "rollback"


def test_rollback_needs_approvals_and_an_earlier_version(ws: Workspace, cli) -> None:
    code, out, _ = cli(
        "-C", str(ws.root), "rollback", "faq-answer", "--env", "production", "--json"
    )
    assert code == 1 and "no earlier version" in json.loads(out)["reason"]


def test_concurrent_promotions_are_serialised(ws: Workspace) -> None:
    # a second prompt, so two promotions to the same environment touch the same lockfile
    src = (ws.root / "prompts/faq-answer.yaml").read_text()
    (ws.root / "prompts/other.yaml").write_text(src.replace("name: faq-answer", "name: other"))
    ws = Workspace(ws.root)
    for name in ("faq-answer", "other"):
        record_gate_run(store(ws), "staging", ws.resolve(name))
    results: list[dict] = []

    def go(name: str) -> None:
        results.append(promote(Workspace(ws.root), name, "0.1.0", "staging", "ci"))

    threads = [threading.Thread(target=go, args=(n,)) for n in ("faq-answer", "other")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r["status"] for r in results] == ["promoted", "promoted"]
    assert sorted(read_lock(ws.lock_path("staging"))) == ["faq-answer", "other"]
    assert store(ws).query("SELECT count(*) FROM promotions")[1] == [(2,)]
